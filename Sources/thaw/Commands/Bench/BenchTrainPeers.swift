import Foundation

/// Files of the repository that `thaw bench train` needs at run time (the PyTorch peer script, the
/// allocation-counting shim), found wherever the command is run from.
enum BenchRepositoryFiles {
    /// The first existing `relativePath` below a folder on the way up from the executable, from this source
    /// file (the build's checkout) or from the current directory.
    static func locate(_ relativePath: String, filePath: String = #filePath) -> URL? {
        var starts: [URL] = []
        if let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            starts.append(URL(fileURLWithPath: executable).deletingLastPathComponent())
        }
        starts.append(URL(fileURLWithPath: filePath).deletingLastPathComponent())
        starts.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        for start in starts {
            var folder = start.standardizedFileURL
            while true {
                let candidate = folder.appendingPathComponent(relativePath)
                if FileManager.default.fileExists(atPath: candidate.path) { return candidate }
                let parent = folder.deletingLastPathComponent()
                if parent.path == folder.path { break }
                folder = parent
            }
        }
        return nil
    }
}

/// What a child process did: exit status and both output streams.
struct ChildOutput {
    var status: Int32
    var stdout: String
    var stderr: String

    /// Runs `executable` with `arguments`; stderr goes to a temporary file so neither pipe can fill up.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws
        -> ChildOutput
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [executable] + arguments
        if let environment { process.environment = environment }
        let stdoutPipe = Pipe()
        let stderrURL = FileManager.default.temporaryDirectory
            .appendingPathComponent("thaw-bench-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).stderr")
        FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: stderrURL) }
        let stderrHandle = try FileHandle(forWritingTo: stderrURL)
        defer { try? stderrHandle.close() }
        process.standardOutput = stdoutPipe
        process.standardError = stderrHandle
        try process.run()
        let data = stdoutPipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let errors = (try? Data(contentsOf: stderrURL)) ?? Data()
        return ChildOutput(
            status: process.terminationStatus, stdout: String(decoding: data, as: UTF8.self),
            stderr: String(decoding: errors, as: UTF8.self))
    }

    /// The last `limit` characters of a stream, for error messages.
    static func tail(_ text: String, _ limit: Int = 1500) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.count <= limit ? trimmed : "…" + trimmed.suffix(limit)
    }
}

/// The PyTorch peer (`scripts/bench/torch_train.py`) run in a child Python process.
struct TorchPeer {
    let python: String
    let script: String?

    struct Outcome {
        var rates: [String: Double]?
        var json: [String: Any]
    }

    /// `--python` may name an interpreter or a virtual environment folder.
    var interpreter: String {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: python, isDirectory: &isFolder), isFolder.boolValue {
            return URL(fileURLWithPath: python).appendingPathComponent("bin/python3").path
        }
        return python
    }

    /// Samples per second for each case at `threads`, or the exact reason the peer could not run.
    func rates(threads: Int, runs: Int) -> Outcome {
        let fail = { (reason: String) -> Outcome in
            FileHandle.standardError.write(Data("PyTorch peer unavailable: \(reason)\n".utf8))
            return Outcome(rates: nil, json: ["unavailable": reason])
        }
        let scriptPath: String
        if let script {
            guard FileManager.default.fileExists(atPath: script) else { return fail("--torch-script \(script) does not exist") }
            scriptPath = script
        } else {
            guard let found = BenchRepositoryFiles.locate("scripts/bench/torch_train.py") else {
                return fail("scripts/bench/torch_train.py not found above the executable, the source or the current folder; pass --torch-script")
            }
            scriptPath = found.path
        }
        var environment = ProcessInfo.processInfo.environment
        environment["LD_PRELOAD"] = nil
        let child: ChildOutput
        do {
            child = try ChildOutput.run(
                interpreter, [scriptPath, "--threads", "\(threads)", "--runs", "\(runs)"], environment: environment)
        } catch {
            return fail("cannot start \(interpreter): \(error)")
        }
        guard child.status == 0 else {
            var reason = "\(interpreter) \(scriptPath) exited with code \(child.status)"
            if child.status == 127 { reason += " (interpreter not found)" }
            if child.status == 3 { reason += " (torch is not installed in this interpreter: pip install torch==2.13.0+cpu)" }
            reason += "; stderr: \(ChildOutput.tail(child.stderr))"
            if !child.stdout.isEmpty { reason += "; stdout: \(ChildOutput.tail(child.stdout))" }
            return fail(reason)
        }
        let lastLine = child.stdout.split(separator: "\n").last.map(String.init) ?? ""
        guard let object = try? JSONSerialization.jsonObject(with: Data(lastLine.utf8)) as? [String: Any] else {
            return fail("the peer printed no JSON object; stdout: \(ChildOutput.tail(child.stdout)); stderr: \(ChildOutput.tail(child.stderr))")
        }
        var rates: [String: Double] = [:]
        for (key, value) in object { if let number = value as? Double { rates[key] = number } }
        return Outcome(rates: rates, json: object)
    }
}

/// Heap allocations counted by `scripts/bench/malloc_count.c`, preloaded into a child run of this command.
enum AllocationCounter {
    /// The shim's counter, when this process was started with it preloaded.
    static var current: (() -> UInt64)? {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "thaw_malloc_count") else { return nil }
        let function = unsafeBitCast(symbol, to: (@convention(c) () -> UInt64).self)
        return { function() }
    }

    struct Probe {
        var result: [String: Any]
        var summary: String
    }

    /// Compiles the shim, runs `thaw bench train --allocation-probe` with it preloaded and returns its counts.
    static func probe() -> Probe {
        let fail = { (reason: String) -> Probe in
            FileHandle.standardError.write(Data("allocation count unavailable: \(reason)\n".utf8))
            return Probe(result: ["unavailable": reason], summary: "unavailable (\(reason))")
        }
        guard let source = BenchRepositoryFiles.locate("scripts/bench/malloc_count.c") else {
            return fail("scripts/bench/malloc_count.c not found")
        }
        guard let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else {
            return fail("cannot read /proc/self/exe")
        }
        let library = FileManager.default.temporaryDirectory.appendingPathComponent("thaw-malloc-count-\(getpid()).so")
        defer { try? FileManager.default.removeItem(at: library) }
        do {
            let compiled = try ChildOutput.run("cc", ["-O2", "-shared", "-fPIC", "-o", library.path, source.path])
            guard compiled.status == 0 else { return fail("cc exited \(compiled.status): \(ChildOutput.tail(compiled.stderr))") }
            var environment = ProcessInfo.processInfo.environment
            environment["LD_PRELOAD"] = library.path
            let child = try ChildOutput.run(executable, ["bench", "train", "--allocation-probe"], environment: environment)
            guard child.status == 0,
                let object = try? JSONSerialization.jsonObject(
                    with: Data((child.stdout.split(separator: "\n").last ?? "").utf8)) as? [String: Any]
            else {
                return fail("probe exited \(child.status): \(ChildOutput.tail(child.stderr)) \(ChildOutput.tail(child.stdout))")
            }
            let summary = object.keys.sorted().filter { $0 != "controlSink" }.map { key -> String in
                guard let counts = object[key] as? [String: Any] else { return "\(key) \(object[key] ?? "?")" }
                return "\(key) \(counts["perStep"] ?? "?") (\(counts["allocationsIn10Steps"] ?? "?") in 10 steps, "
                    + "\(counts["allocationsIn40Steps"] ?? "?") in 40)"
            }.joined(separator: "; ")
            return Probe(result: object, summary: summary)
        } catch {
            return fail("\(error)")
        }
    }
}
