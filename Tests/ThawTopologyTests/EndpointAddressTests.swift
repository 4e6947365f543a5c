import Testing
import ThawTopology

@Suite struct EndpointAddressTests {
    @Test(arguments: [
        "tcp://127.0.0.1:5701", "tcp://*:5701", "tcp://127.0.0.1:*", "tcp://cloud-1:80", "tcp://[::1]:5701",
        "ipc:///tmp/thaw-1/coordinator.publish", "inproc://registry",
    ])
    func validEndpointRoundTrips(_ text: String) throws {
        #expect(try EndpointAddress(parsing: text).description == text)
    }

    @Test(arguments: [
        "127.0.0.1:5701", "udp://127.0.0.1:5701", "tcp://127.0.0.1", "tcp://127.0.0.1:0", "tcp://127.0.0.1:70000",
        "tcp://:5701", "tcp://bad host:1", "ipc://", "inproc://",
    ])
    func invalidEndpointIsRejected(_ text: String) {
        #expect(throws: EndpointSyntaxError.self) { try EndpointAddress(parsing: text) }
    }

    @Test func wildcardPortIsNil() throws {
        let endpoint = try EndpointAddress(parsing: "tcp://127.0.0.1:*")
        #expect(endpoint.port == nil)
        #expect(endpoint.forInstance(3) == endpoint)
    }

    @Test func bindAddressKeepsNumericHostsAndWidensNames() {
        #expect(EndpointAddress("tcp://127.0.0.1:5701").bindAddress == "tcp://127.0.0.1:5701")
        #expect(EndpointAddress("tcp://localhost:5701").bindAddress == "tcp://localhost:5701")
        #expect(EndpointAddress("tcp://edge-1:5701").bindAddress == "tcp://*:5701")
        #expect(EndpointAddress("ipc:///tmp/x").bindAddress == "ipc:///tmp/x")
    }
}
