import ApusDaemon
import ApusTesting
import Foundation
import Logging
import Testing

/// docs/openapi.yaml and the daemon's router must list the same routes (the end-to-end suite also calls each one).
@Suite struct RouteDocumentationTests {
    @Test func everyServedRouteIsDocumentedAndViceVersa() throws {
        let root = NSTemporaryDirectory() + "apus-routes-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let daemon = try Daemon(configuration: DaemonConfiguration(socketPath: root + "/s.sock", stateDirectory: root + "/state"),
                                logger: Logger(label: "test"))
        let served = Set(daemon.routes.map { "\($0.method) \($0.path)" })
        let documented = Set(try OpenAPIDocument.routes().map { "\($0.method) \($0.path)" })
        #expect(served.subtracting(documented).isEmpty, "served but not documented: \(served.subtracting(documented).sorted())")
        #expect(documented.subtracting(served).isEmpty, "documented but not served: \(documented.subtracting(served).sorted())")
    }
}
