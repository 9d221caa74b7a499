import ApusSoftCPU
import Foundation
import Testing

/// The opcode maps held against the interpreter: nothing the CPU model advertises is missing, everything the maps
/// reserve is #UD, and docs/OPCODE-COVERAGE.md is what the generator produces now. With
/// APUS_WRITE_OPCODE_COVERAGE=1 the last test rewrites the report instead of comparing it.
@Suite struct OpcodeCoverageTests {
    static let coverage = Result { try OpcodeCoverage() }
    static let reportPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../docs/OPCODE-COVERAGE.md").standardizedFileURL.path

    @Test func everyAdvertisedInstructionIsImplementedWhereValid() throws {
        let coverage = try Self.coverage.get()
        let missing = coverage.results.filter { $0.status == .notImplemented && coverage.model.advertises($0.entry.feature) }
        let names = missing.map { "\($0.entry.opcodeText) \($0.entry.mnemonic) [\($0.entry.feature.rawValue)] in \($0.column.name)" }
        let complete = missing.isEmpty
        #expect(complete, "advertised but #UD: \(names.joined(separator: "; "))")
    }

    @Test func everyReservedEntryRaisesUD() throws {
        let coverage = try Self.coverage.get()
        let executing = coverage.results.filter { $0.status == .executesReserved }
        let names = executing.map { "\($0.entry.opcodeText) \($0.entry.mnemonic) in \($0.column.name): \($0.outcome)" }
        let allUndefined = executing.isEmpty
        #expect(allUndefined, "reserved but not #UD: \(names.joined(separator: "; "))")
        #expect(coverage.results.contains { $0.status == .undefinedByArchitecture })
    }

    /// LOCK on the memory form of an implemented entry: allowed exactly where the map says (SDM, LOCK), #UD elsewhere.
    @Test func lockIsAllowedExactlyWhereTheMapSays() throws {
        let probe = try OpcodeProbe()
        var wrong: [String] = []
        for result in try Self.coverage.get().results where result.status == .implemented {
            let entry = result.entry
            guard entry.form == .any || entry.form == .memoryOnly else { continue }
            let locked = try probe.run([0xF0] + entry.encoding, in: result.mode, sixteenBitCode: result.column.sixteenBitCode)
            if locked.isInvalidOpcode == entry.lockable {
                wrong.append("\(entry.opcodeText) \(entry.mnemonic) in \(result.column.name): \(locked)")
            }
        }
        let consistent = wrong.isEmpty
        #expect(consistent, "LOCK handled against the map: \(wrong.joined(separator: "; "))")
    }

    @Test func theReportOnDiskIsCurrent() throws {
        let report = try Self.coverage.get().markdown
        if ProcessInfo.processInfo.environment["APUS_WRITE_OPCODE_COVERAGE"] == "1" {
            try report.write(toFile: Self.reportPath, atomically: true, encoding: .utf8)
            print("wrote \(Self.reportPath)")
        }
        let onDisk = try String(contentsOfFile: Self.reportPath, encoding: .utf8)
        let current = onDisk == report
        #expect(current, "docs/OPCODE-COVERAGE.md is stale: regenerate it (see its header)")
    }

}

/// The maps themselves: every opcode of the one-byte and 0F maps has a meaning (instruction, reserved, prefix or
/// escape) in every mode, and no encoding is listed twice for one mode.
@Suite struct OpcodeMapTests {
    @Test func everyOpcodeHasAnEntryInEveryMode() {
        for map in [OpcodeMapID.oneByte, .twoByte, .threeByte38, .threeByte3A] {
            for opcode in 0...255 {
                for mode in [CPUModes.real, .protected, .long64] {
                    let found = OpcodeMap.entries.contains { $0.map == map && $0.opcode == opcode && $0.modes.contains(mode) }
                    #expect(found, "\(map) \(opcode) has no entry in mode \(mode.rawValue)")
                }
            }
        }
    }

    @Test func noEncodingIsListedTwiceForAMode() {
        var seen: [String: Int] = [:]
        for entry in OpcodeMap.entries {
            for mode in [CPUModes.real, .protected, .long64] where entry.modes.contains(mode) {
                seen["\(entry.opcodeText) mode \(mode.rawValue)", default: 0] += 1
            }
        }
        let duplicates = seen.filter { $0.value > 1 }.keys.sorted()
        let unique = duplicates.isEmpty
        #expect(unique, "listed twice: \(duplicates.joined(separator: ", "))")
    }
}
