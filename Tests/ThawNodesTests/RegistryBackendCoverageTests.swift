import Foundation
import Testing
import ThawNodes

/// Makes a missing PostgreSQL server visible: the store suites run their PostgreSQL cases only when
/// `THAW_TEST_POSTGRES_URL` is set, and this test is then the one that says so by being skipped.
@Suite struct RegistryBackendCoverageTests {
    @Test(
        .enabled(
            if: TestBackend.postgresServer != nil,
            "THAW_TEST_POSTGRES_URL is not set: the registry's PostgreSQL cases did not run (scripts/test starts a server and sets it)"
        ))
    func thePostgresBackendIsUnderTest() throws {
        try withTemporaryStore(.postgres) { store throws in
            #expect(try store.baseModelVersions().isEmpty)
            #expect(store.location.hasPrefix("postgres://"))
        }
    }

    @Test func aTopologyDatabaseNamesItsBackend() throws {
        #expect(RegistryBackends.isServer("postgres://thaw@127.0.0.1:5432/thaw"))
        #expect(RegistryBackends.isServer("postgresql://thaw@db/thaw?sslmode=require"))
        #expect(!RegistryBackends.isServer("thaw-out/registry.sqlite"))
        #expect(throws: RegistryError.self) { try PostgresRegistryStore(url: "postgres://127.0.0.1/thaw") }
        #expect(throws: RegistryError.self) { try PostgresRegistryStore(url: "postgres://thaw@127.0.0.1") }
        #expect(throws: RegistryError.self) { try PostgresRegistryStore(url: "postgres://thaw@h/db?sslmode=maybe") }
    }
}
