import Testing
import ThawTestKit
import ThawZMQ

@Suite struct CurveTests {
    @Test func keyPairsAreFortyCharacterZ85() throws {
        let keys = try CurveKeyPair.generate()
        #expect(keys.publicKey.utf8.count == 40)
        #expect(keys.secretKey.utf8.count == 40)
        #expect(try CurveKeyPair.generate() != keys)
    }

    @Test func handshakeSucceedsWithTheRightServerKey() async throws {
        try await withTestContext { context in
            let serverKeys = try CurveKeyPair.generate()
            let server = try context.socket(.pull, options: SocketOption.curveServer(keys: serverKeys))
            let monitor = try SocketMonitor(server)
            let endpoint = try Transport.tcp.bind(server, in: context)
            let client = try context.socket(
                .push, options: SocketOption.curveClient(keys: try .generate(), serverKey: serverKeys.publicKey))
            try client.connect(endpoint)
            try client.send(frames("secret"))
            #expect(try context.receive(server) == frames("secret"))
            let event = try monitor.waitFor(timeout: .seconds(5)) { $0.kind == .handshakeSucceeded }
            #expect(event != nil)
            monitor.close()
            client.close()
            server.close()
        }
    }

    @Test func handshakeFailsAndNothingArrivesWithAWrongServerKey() async throws {
        try await withTestContext { context in
            let serverKeys = try CurveKeyPair.generate()
            let server = try context.socket(.pull, options: SocketOption.curveServer(keys: serverKeys))
            let monitor = try SocketMonitor(server)
            let endpoint = try Transport.tcp.bind(server, in: context)
            let impostorKey = try CurveKeyPair.generate().publicKey
            let client = try context.socket(
                .push, options: SocketOption.curveClient(keys: try .generate(), serverKey: impostorKey))
            try client.connect(endpoint)
            _ = try client.send(frames("secret"), mode: .dontWait)
            let failure = try monitor.waitFor(timeout: .seconds(5)) { $0.kind.isHandshakeFailure }
            #expect(failure != nil, "the server's monitor reported no handshake failure")
            #expect(try context.receiveIfAny(server, timeout: .milliseconds(300)) == nil)
            monitor.close()
            client.close()
            server.close()
        }
    }
}
