import ApusCore
import ApusKVM
import ApusSoftCPU
import ApusTesting
import Foundation
import Testing

/// Popek and Goldberg's equivalence, as a test: the same instruction from the same state must leave the same
/// registers and flags on KVM (the hardware's answer) and on the software CPU. Flags the SDM calls undefined for
/// an instruction are left out of the comparison, and only those.
@Suite struct ALUEquivalenceTests {
    static let defaultSeed: UInt64 = 0xA905
    static let seed: UInt64 = ProcessInfo.processInfo.environment["APUS_EQUIVALENCE_SEED"].flatMap { UInt64($0) } ?? defaultSeed
    static let cases = ProcessInfo.processInfo.environment["APUS_EQUIVALENCE_CASES"].flatMap { Int($0) } ?? 100_000
    static let comparedFlags: UInt64 = 0x8D5 | 0x400   // CF PF AF ZF SF OF, and DF

    @Test func softCPUMatchesKVMOnRandomALUInstructions() throws {
        if case .unusable(let reason) = KVMHypervisor().availability() {
            print("ALU equivalence: no live KVM here (\(reason)); checking against the recorded KVM results")
            try checkAgainstRecording()
            return
        }
        let kvm = try DifferentialRunner(KVMHypervisor())
        let soft = try DifferentialRunner(SoftCPUHypervisor())
        let recording = ProcessInfo.processInfo.environment["APUS_RECORD_EXPECTATIONS"] == "1"
        var generator = ALUCaseGenerator(rng: SplitMix64(seed: Self.seed))
        var mismatches: [String] = []
        var fingerprints: [UInt64] = []
        var kvmSeconds = 0.0
        for number in 0..<Self.cases {
            let (instruction, registers) = generator.nextCase()
            let started = Date()
            let expected = try kvm.run(instruction.code, from: registers, usesData: instruction.usesData)
            kvmSeconds += Date().timeIntervalSince(started)
            // Every generated instruction is valid and fault-free: a reference that did not reach the HLT means
            // the harness, not the CPU, is broken.
            guard case .halted = expected else {
                Issue.record("KVM did not run case \(number) (\(instruction.description)): \(expected)")
                return
            }
            if recording && number < RecordedExpectations.recordedCases {
                fingerprints.append(RecordedExpectations.fingerprint(expected, undefined: instruction.undefinedFlags))
            }
            if Self.emulatorDiffersFromHardware(instruction) { continue }
            let actual = try soft.run(instruction.code, from: registers, usesData: instruction.usesData)
            if let difference = Self.difference(expected, actual, undefined: instruction.undefinedFlags) {
                mismatches.append("case \(number) (seed \(Self.seed)) \(instruction.description) "
                                  + "[\(instruction.code.map { String(format: "%02x", $0) }.joined(separator: " "))]: \(difference)")
            }
        }
        if recording { try RecordedExpectations.write(fingerprints) }
        print("ALU equivalence: \(Self.cases) cases from seed \(Self.seed) at CPL0, KVM "
              + String(format: "%.2f s", kvmSeconds) + ", \(mismatches.count) mismatches")
        let firstMismatches = mismatches.prefix(10).joined(separator: "\n")
        #expect(mismatches.count == 0, "\(firstMismatches)")
    }

    /// Where /dev/kvm is missing: the same seeded cases on the software CPU against KVM's recorded fingerprints.
    func checkAgainstRecording() throws {
        guard Self.seed == Self.defaultSeed, let recorded = RecordedExpectations.load(), !recorded.isEmpty else {
            Issue.record("no recorded KVM results for seed \(Self.seed) in Expectations/")
            return
        }
        let soft = try DifferentialRunner(SoftCPUHypervisor())
        var generator = ALUCaseGenerator(rng: SplitMix64(seed: Self.seed))
        var mismatches: [String] = []
        for (number, fingerprint) in recorded.enumerated() {
            let (instruction, registers) = generator.nextCase()
            if Self.emulatorDiffersFromHardware(instruction) { continue }
            let actual = try soft.run(instruction.code, from: registers, usesData: instruction.usesData)
            if RecordedExpectations.fingerprint(actual, undefined: instruction.undefinedFlags) != fingerprint {
                mismatches.append("case \(number) (seed \(Self.seed)) \(instruction.description): differs from KVM's recording")
            }
        }
        print("ALU equivalence (recorded): \(recorded.count) cases, \(mismatches.count) mismatches")
        let firstMismatches = mismatches.prefix(10).joined(separator: "\n")
        #expect(mismatches.count == 0, "\(firstMismatches)")
    }

    /// At CPL0 this host's KVM *emulates* the case, and its emulator writes CMPXCHG's register destination back on a
    /// mismatch (zero-extending a 32-bit one), which hardware does not do; the CPL3 suite (UserModeEquivalenceTests)
    /// checks CMPXCHG against the hardware instead.
    static func emulatorDiffersFromHardware(_ instruction: ALUCase) -> Bool { instruction.description.hasPrefix("cmpxchg") }

    static func difference(_ expected: CaseOutcome, _ actual: CaseOutcome,
                           undefined: UInt64) -> String? {
        switch (expected, actual) {
        case (.ended(let a), .ended(let b)): return a == b ? nil : "KVM ended with \(a), soft CPU with \(b)"
        case (.ended(let a), .halted): return "KVM ended with \(a), soft CPU halted"
        case (.halted, .ended(let b)): return "KVM halted, soft CPU ended with \(b)"
        case (.halted(let kvm, let kvmData), .halted(let soft, let softData)):
            var differences: [String] = []
            for index in 0..<16 where kvm[index] != soft[index] {
                differences.append("r\(index) kvm 0x\(String(kvm[index], radix: 16)) soft 0x\(String(soft[index], radix: 16))")
            }
            let mask = comparedFlags & ~undefined
            if kvm.rflags & mask != soft.rflags & mask {
                differences.append("flags kvm 0x\(String(kvm.rflags & mask, radix: 16)) soft 0x\(String(soft.rflags & mask, radix: 16))")
            }
            if kvmData != softData { differences.append("data page differs") }
            if kvm.rip != soft.rip { differences.append("rip kvm 0x\(String(kvm.rip, radix: 16)) soft 0x\(String(soft.rip, radix: 16))") }
            return differences.isEmpty ? nil : differences.joined(separator: ", ")
        }
    }
}
