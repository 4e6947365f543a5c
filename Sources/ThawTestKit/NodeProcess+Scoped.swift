import Foundation

/// Runs `body` with a launched node and always tears it down; on a thrown error the node's captured
/// output is printed before the error propagates, so passing tests stay quiet.
/// - Returns: the body's result and the node's exit status after teardown.
/// - Throws: whatever launch or `body` throws, or ``NodeProcessError`` from teardown.
public func withNodeProcess<T: Sendable>(
    _ name: String,
    arguments: [String],
    executable: URL? = nil,
    environment: [String: String] = [:],
    hardTimeout: Duration = .seconds(120),
    _ body: (NodeProcess) async throws -> T
) async throws -> (result: T, exit: NodeProcess.ExitStatus) {
    let node = try await NodeProcess(name: name, arguments: arguments, executable: executable, environment: environment, hardTimeout: hardTimeout)
    let result: T
    do {
        result = try await body(node)
    } catch {
        node.printOutput()
        _ = try? await node.terminate(grace: .seconds(2))
        throw error
    }
    let exit = try await node.terminate()
    return (result, exit)
}
