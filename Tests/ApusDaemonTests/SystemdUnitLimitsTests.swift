@testable import ApusDaemon
import Foundation
import Testing

/// The shipped unit gives apusd the descriptors its connection limit needs: without LimitNOFILE, 1,100 idle clients
/// ran it out of descriptors (issue 13). apusd keeps `DescriptorLimit.reserve` for VMs, files and workers.
@Suite struct SystemdUnitLimitsTests {
    static let unit = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("systemd/apusd.service")

    @Test func theUnitGivesTheConnectionLimitItsDescriptors() throws {
        let text = try String(contentsOf: Self.unit, encoding: .utf8)
        let values = text.split(separator: "\n").filter { $0.hasPrefix("LimitNOFILE=") }
            .map { $0.dropFirst("LimitNOFILE=".count).split(separator: ":").first.map(String.init) ?? "" }
        #expect(values.count == 1, "LimitNOFILE set \(values.count) times in apusd.service")
        let limit = try #require(values.first.flatMap { Int($0) }, "LimitNOFILE is not a number: \(values)")
        #expect(limit >= DaemonConfiguration.defaultMaximumConnections + DescriptorLimit.reserve)
        #expect(limit >= 1_100 + DescriptorLimit.reserve, "too few for the issue's 1,100 clients and the reserve")
    }
}
