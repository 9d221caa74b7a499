@testable import ApusDaemon
import Foundation
import Testing

@Suite struct MemoryBudgetTests {
    @Test func reservationsStopAtTheBudgetAndSayWhatIsCommitted() throws {
        let budget = MemoryBudget(limitMiB: 8 * 1024)
        try budget.reserve(3072, for: "a", name: "a")
        try budget.reserve(3072, for: "b", name: "b")
        #expect(budget.committedMiB == 6144)
        do {
            try budget.reserve(3072, for: "c", name: "c")
            Issue.record("a third 3 GiB VM fitted in an 8 GiB budget")
        } catch let error as DaemonError {
            #expect(error.status == 507)
            #expect(error.description.contains("needs 3072 MiB, but 6144 MiB of the 8192 MiB memory budget are committed"))
            #expect(error.description.contains("2048 MiB available"))
        }
        // A VM holding a reservation (a reboot) does not reserve twice; released memory is available again.
        try budget.reserve(3072, for: "a", name: "a")
        #expect(budget.committedMiB == 6144)
        budget.release("a")
        try budget.reserve(3072, for: "c", name: "c")
        #expect(budget.committedMiB == 6144)
    }

    @Test func withoutALimitAnythingIsAdmitted() throws {
        let budget = MemoryBudget(limitMiB: nil)
        for index in 0..<10 { try budget.reserve(3072, for: "\(index)", name: "\(index)") }
        #expect(budget.committedMiB == 30720)
    }

    @Test func theDefaultKeepsAReserveForTheHost() throws {
        let path = NSTemporaryDirectory() + "apus-meminfo-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "MemTotal:       25165824 kB\nMemFree:         1000 kB\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(MemoryBudget.defaultLimitMiB(meminfo: path) == 24576 - 3072)
        try "MemTotal:        4194304 kB\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(MemoryBudget.defaultLimitMiB(meminfo: path) == 4096 - 1024)
        #expect(MemoryBudget.defaultLimitMiB(meminfo: path + ".missing") == nil)
    }
}
