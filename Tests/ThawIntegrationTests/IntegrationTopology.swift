import Foundation

/// The one topology shape the integration tests run: coordinator, registry, `workers` workers, one device
/// process with `phones` phones and, optionally, a monitor, all on ipc:// endpoints under `directory`.
/// Suites differ only in the knobs below, so they share this text instead of each keeping a copy.
struct IntegrationTopology {
    var name = "integration"
    var modelPath: String
    var workers: Int
    var phones: Int
    var freezePoint = 7
    /// The coordinator's `auto-freeze` value (YAML flow mapping); `off` when nil.
    var autoFreeze: String?
    var epochs = 5
    var annotationShare = 0.5
    /// Off here: these tests count the heads phones swap in; the gate is unit-tested and measured by `thaw personalize`.
    var headSwapGate = false
    var flushSamples = 8
    var flushInterval = "2s"
    var monitor = true
    /// The goal's `heads-per-device`.
    var headsPerDevice = 1
    /// The workers' `activation-encoding` (float32 | float16 | int8); the default when nil.
    var activationEncoding: String?
    /// The workers' `activation-noise` (`off` or `{ clip: C, sigma: s }`); off when nil.
    var activationNoise: String?
    /// The registry's `database:`; nil: `registry.sqlite` in the folder.
    var database: String? = nil
    /// Registry processes: more than one needs a shared `postgres://` ``database`` (the extra ones are
    /// named `registry-2`, `registry-3`, …).
    var registries = 1
    /// Every endpoint on tcp over loopback (free ports, CURVE on: `thaw up` makes a key pair per node)
    /// instead of ipc under the folder.
    var loopbackTCP = false

    private func extraRegistries(in directory: String) -> String {
        guard registries > 1 else { return "" }
        return (2...registries).map { index in
            """
              - name: registry-\(index)
                role: registry
                endpoints:
                  router: ipc://\(directory)/reg-\(index)
                  announce: ipc://\(directory)/heads-\(index)
                options:
                  database: \(database ?? "")

            """
        }.joined()
    }

    /// Writes the topology to `directory/topology.yaml` and returns that path.
    func write(in directory: String) throws -> String {
        var text = """
            name: \(name)
            seed: 42
            model:
              cache: \(modelPath)
            goal:
              heads-per-device: \(headsPerDevice)
              duration: 3m
            nodes:
              - name: coordinator
                role: coordinator
                endpoints:
                  publish: ipc://\(directory)/pub
                  control: ipc://\(directory)/ctl
                options:
                  freeze-point: \(freezePoint)
                  heartbeat-interval: 500ms
                  auto-freeze: \(autoFreeze ?? "off")
              - name: registry
                role: registry
                endpoints:
                  router: ipc://\(directory)/reg
                  announce: ipc://\(directory)/heads
                options:
                  database: \(database ?? "\(directory)/registry.sqlite")
            \(extraRegistries(in: directory))  - name: worker
                role: worker
                count: \(workers)
                endpoints:
                  pull: ipc://\(directory)/pull
                options:
                  epochs: \(epochs)
                  learning-rate: 0.05
                  activation-encoding: \(activationEncoding ?? "float32")
                  activation-noise: \(activationNoise ?? "off")
              - name: phones
                role: device
                count: \(phones)
                options:
                  annotation-share: \(annotationShare)
                  head-swap-gate: \(headSwapGate ? "on" : "off")
                  flush:
                    samples: \(flushSamples)
                    interval: \(flushInterval)

            """
        if monitor {
            text += """
                  - name: monitor
                    role: monitor
                    endpoints:
                      metrics: ipc://\(directory)/metrics
                      watch: ipc://\(directory)/watch

                """
        }
        if loopbackTCP { text = try Self.onLoopbackTCP(text, directory: directory, workers: workers) }
        let file = "\(directory)/topology.yaml"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    /// `text` with every `ipc://<directory>/<name>` replaced by `tcp://127.0.0.1:<port>`, one port per
    /// name from one run of free ports; the workers' `pull` gets `workers` ports in a row (instance i
    /// binds the port plus i).
    static func onLoopbackTCP(_ text: String, directory: String, workers: Int) throws -> String {
        let prefix = "ipc://\(directory)/"
        var names: [String] = []
        var rest = Substring(text)
        while let range = rest.range(of: prefix) {
            let name = String(rest[range.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "-" })
            if !names.contains(name) { names.append(name) }
            rest = rest[range.upperBound...]
        }
        let widths = names.map { $0 == "pull" ? max(workers, 1) : 1 }
        let base = try freePortRun(widths.reduce(0, +))
        var result = text
        var next = base
        var ports: [String: Int] = [:]
        for (name, width) in zip(names, widths) {
            ports[name] = next
            next += width
        }
        for name in names {
            // With the line end, so `reg` does not match the start of `reg-2`.
            result = result.replacingOccurrences(of: "\(prefix)\(name)\n", with: "tcp://127.0.0.1:\(ports[name]!)\n")
        }
        return result
    }

    /// The first of `count` consecutive loopback ports that were all free a moment ago.
    static func freePortRun(_ count: Int) throws -> Int {
        for _ in 0..<50 {
            let base = Int.random(in: 20_000...(60_000 - count))
            var sockets: [Int32] = []
            defer { for fd in sockets { close(fd) } }
            let free = (base..<(base + count)).allSatisfy { port in
                let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                guard fd >= 0 else { return false }
                sockets.append(fd)
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_addr.s_addr = inet_addr("127.0.0.1")
                address.sin_port = UInt16(port).bigEndian
                return withUnsafePointer(to: &address) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                    }
                }
            }
            if free { return base }
        }
        throw FaultToleranceTests.TestFailure("no run of \(count) free loopback ports found")
    }
}
