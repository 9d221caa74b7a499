import ApusCore
import ApusKVM
import ApusSoftCPU
import Foundation
import Testing

/// Popek and Goldberg's equivalence at CPL3, group by group: each seeded case runs in ring 3 on KVM (natively on
/// hosts whose nested KVM emulates only ring 0) and on the software CPU, and must end in the same trap with the
/// same registers, flags (undefined ones excepted), exception frame, error code, CR2 and written memory.
/// Without /dev/kvm the soft CPU's outcomes are checked against KVM's recorded fingerprints.
@Suite struct UserModeEquivalenceTests {
    static let environment = ProcessInfo.processInfo.environment
    static let defaultSeed: UInt64 = 0xA905
    static let seed = environment["APUS_EQUIVALENCE_SEED"].flatMap { UInt64($0) } ?? defaultSeed
    static let countOverride = environment["APUS_EQUIVALENCE_CASES"].flatMap { Int($0) }
    static let recording = environment["APUS_RECORD_EXPECTATIONS"] == "1"
    /// APUS_EQUIVALENCE_GROUPS=alu,paging runs only those groups.
    static let selectedGroups = environment["APUS_EQUIVALENCE_GROUPS"].map { Set($0.split(separator: ",").map(String.init)) }

    @Test(arguments: CaseGroup.allCases)
    func softCPUMatchesKVMInRing3(_ group: CaseGroup) throws {
        if let selected = Self.selectedGroups, !selected.contains(group.rawValue) { return }
        let count = Self.countOverride ?? group.defaultCount
        let tables = group == .segmentLoads
        let soft = try UserModeRunner(SoftCPUHypervisor(), segmentTables: tables)
        let kvm: UserModeRunner?
        var recorded: [UInt64] = []
        if case .unusable(let reason) = KVMHypervisor().availability() {
            guard Self.seed == Self.defaultSeed, let fingerprints = UserModeExpectations.load(group, seed: Self.seed) else {
                Issue.record("\(group): no live KVM (\(reason)) and no recording for seed \(Self.seed)")
                return
            }
            kvm = nil
            recorded = fingerprints
        } else {
            kvm = try UserModeRunner(KVMHypervisor(), segmentTables: tables)
        }
        // Segment loads KVM answers from the host's tables here are checked against the SDM's outcome alone.
        let segmentCheck = tables ? kvm.map { SegmentLoadRefereeCheck(runner: $0) } : nil
        // Cases KVM cannot referee on this host (sensitive instructions that see the host's registers) are checked
        // against the recording instead, which was made where KVM stored the guest's registers.
        let refereeCheck = kvm == nil ? nil : SensitiveInstructionCheck.kvmOnThisHost
        let stored = kvm == nil ? recorded : (Self.seed == Self.defaultSeed ? UserModeExpectations.load(group, seed: Self.seed) : nil)
        let total = kvm == nil ? min(count, recorded.count) : count
        var fingerprints: [UInt64] = []
        var mismatches: [String] = []
        var leftOut = 0, unchecked = 0, manualOnly = 0
        var kvmSeconds = 0.0, softSeconds = 0.0
        let cases = group.cases(seed: Self.seed)
        for number in 0..<total {
            guard let userCase = cases.next() else { break }
            let started = Date()
            let actual = try soft.run(userCase)
            softSeconds += Date().timeIntervalSince(started)
            let header = "\(group) seed \(Self.seed) case \(number): \(userCase.description) [\(userCase.hexBytes)]"
            let fingerprint = actual.fingerprint(undefinedFlags: userCase.undefinedFlags, comparesCR2: !userCase.blockOperand)
            if let manual = userCase.manualTrap, let problem = manual.difference(from: actual) {
                mismatches.append("\(header): differs from the SDM's outcome: \(problem)")
            }
            if let kvm, refereeCheck?.canReferee(userCase.sensitive) ?? true,
               try segmentCheck?.canReferee(userCase.segmentLoad) ?? true {
                let started = Date()
                let expected = try kvm.run(userCase)
                kvmSeconds += Date().timeIntervalSince(started)
                if case .failed(let reason) = expected {
                    Issue.record("KVM could not referee \(header): \(reason)")
                }
                if Self.recording { fingerprints.append(expected.fingerprint(undefinedFlags: userCase.undefinedFlags, comparesCR2: !userCase.blockOperand)) }
                if let difference = expected.difference(from: actual, undefinedFlags: userCase.undefinedFlags,
                                                         comparesCR2: !userCase.blockOperand) {
                    mismatches.append("\(header): \(difference) (KVM: \(expected.summary); soft CPU: \(actual.summary))")
                }
                continue
            }
            // A recorded 0 marks a case the recording's KVM could not referee either: the SDM's outcome stands.
            if userCase.manualTrap != nil, kvm != nil || (stored.map { number < $0.count && $0[number] == 0 } ?? false) {
                manualOnly += 1
                if Self.recording { fingerprints.append(0) }
                continue
            }
            if kvm != nil { leftOut += 1 }
            guard let stored, number < stored.count else {
                unchecked += 1
                if Self.recording { Issue.record("\(header): KVM cannot referee it here and there is no recording to keep") }
                continue
            }
            if Self.recording { fingerprints.append(stored[number]) }
            if fingerprint != stored[number] {
                mismatches.append("\(header): differs from KVM's recording; soft CPU: \(actual.summary)")
            }
        }
        if Self.recording && kvm != nil && Self.seed == Self.defaultSeed && Self.countOverride == nil {
            try UserModeExpectations.write(fingerprints, group: group, seed: Self.seed)
        }
        let referee = kvm == nil ? "KVM's recording" : String(format: "KVM (%.2f s)", kvmSeconds)
        var leftOutNote = ""
        if leftOut > 0 {
            leftOutNote = " (\(leftOut) cases KVM cannot referee on this host: "
                + (unchecked == 0 ? "checked against the recording)" : "\(leftOut - unchecked) checked against the recording, "
                   + "\(unchecked) unchecked: there is no recording for seed \(Self.seed))")
        }
        if manualOnly > 0 {
            leftOutNote += " (\(manualOnly) cases " + (kvm == nil ? "the recording's KVM could not referee" : "KVM cannot referee on this host")
                + ": checked against the SDM's outcome)"
        }
        if let segmentCheck { print(segmentCheck.report) }
        print("CPL3 equivalence \(group): \(total) cases from seed \(Self.seed) against \(referee), soft CPU "
              + String(format: "%.2f s", softSeconds) + ", \(mismatches.count) mismatches" + leftOutNote)
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches; first:\n\(mismatches.prefix(10).joined(separator: "\n"))")
    }
}
