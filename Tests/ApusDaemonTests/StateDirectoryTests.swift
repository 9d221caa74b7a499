@testable import ApusDaemon
import ApusAPI
import Foundation
import Testing

@Suite struct StateDirectoryTests {
    private func scratch() throws -> String {
        let path = NSTemporaryDirectory() + "apus-state-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    private func record(_ name: String, _ state: VMState = .inactive) -> VMRecord {
        VMRecord(id: UUID().uuidString.lowercased(), definition: VMDefinition(name: name, boot: .guest("hello")),
                 state: state, reason: nil, since: Date(timeIntervalSince1970: 1_800_000_000))
    }

    @Test func recordsRoundTripAndUnreadableOnesAreReportedNotLost() throws {
        let root = try scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try StateDirectory(root: root)
        let first = record("one"), second = record("two", .suspended)
        try store.save(first)
        try store.save(second)
        let corrupt = store.directory(of: "broken")
        try FileManager.default.createDirectory(atPath: corrupt, withIntermediateDirectories: true)
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: corrupt + "/vm.json"))

        let (records, problems) = store.loadAll()
        #expect(Set(records.map(\.id)) == [first.id, second.id])
        #expect(records.first { $0.id == second.id } == second)
        #expect(problems.count == 1 && problems[0].contains("broken"))
        #expect(FileManager.default.fileExists(atPath: corrupt + "/vm.json"), "a bad record is left for an operator")
    }

    @Test func sweepRemovesCrashLeftoversOnly() throws {
        let root = try scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try StateDirectory(root: root)
        let kept = record("kept")
        try store.save(kept)
        let temporary = store.directory(of: kept.id) + "/vm.json.tmp-4242"
        _ = FileManager.default.createFile(atPath: temporary, contents: Data("half".utf8))
        try FileManager.default.createDirectory(atPath: store.vmsDirectory + "/.deleted-x-1", withIntermediateDirectories: true)
        store.sweepLeftovers()
        #expect(!FileManager.default.fileExists(atPath: temporary))
        #expect(!FileManager.default.fileExists(atPath: store.vmsDirectory + "/.deleted-x-1"))
        #expect(store.loadAll().records == [kept])
    }

    @Test func removeTakesTheWholeDirectory() throws {
        let root = try scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try StateDirectory(root: root)
        let gone = record("gone")
        try store.save(gone)
        try store.remove(gone.id)
        #expect(store.loadAll().records.isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: store.vmsDirectory).isEmpty)
    }
}
