import ApusCore
import Foundation

/// KVM's answers, recorded once on a machine with /dev/kvm, so machines without it still check the software CPU
/// against real hardware. One line per case: the FNV-1a hash of the registers and the defined flags.
enum RecordedExpectations {
    static let recordedCases = 20_000
    static let fileName = "alu-\(String(ALUEquivalenceTests.defaultSeed, radix: 16)).txt"

    static func fingerprint(_ outcome: CaseOutcome, undefined: UInt64) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        func mix(_ value: UInt64) {
            for shift in stride(from: 0, to: 64, by: 8) {
                hash = (hash ^ ((value >> UInt64(shift)) & 0xFF)) &* 0x100_0000_01B3
            }
        }
        switch outcome {
        case .ended(let kind):
            for byte in kind.utf8 { mix(UInt64(byte)) }
        case .halted(let registers, let dataHash):
            mix(dataHash)
            for index in 0..<16 { mix(registers[index]) }
            mix(registers.rip)
            mix(registers.rflags & ALUEquivalenceTests.comparedFlags & ~undefined)
        }
        return hash
    }

    static func load() -> [UInt64]? {
        guard let url = Bundle.module.url(forResource: "Expectations/\(fileName)", withExtension: nil)
                ?? Bundle.module.url(forResource: fileName, withExtension: nil, subdirectory: "Expectations"),
              let text = try? String(contentsOf: url, encoding: .utf8) else { return nil }
        return text.split(separator: "\n").compactMap { UInt64($0, radix: 16) }
    }

    /// Writes the recording into the source tree (run with APUS_RECORD_EXPECTATIONS=1 on a machine with KVM).
    static func write(_ fingerprints: [UInt64]) throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Expectations").appendingPathComponent(fileName)
        try fingerprints.map { String($0, radix: 16) }.joined(separator: "\n").appending("\n")
            .write(to: url, atomically: true, encoding: .utf8)
    }
}
