import ApusCore
import ApusKVM
import Foundation

/// Whether a backend stores what the architecture says for each sensitive instruction at CPL3: each one runs once in
/// ring 3 and must trap where the architecture says (the HLT after it) having stored exactly what the runner loaded.
/// For KVM this decides what it can referee on this host; it runs once per test process and its decision is printed
/// either way, since it depends on the host (UMIP, nesting).
struct SensitiveInstructionCheck: Sendable {
    /// Instructions the backend got wrong (for KVM: cannot referee here), with what it did instead.
    private(set) var unrefereeable: [SensitiveInstruction: String]

    func canReferee(_ instruction: SensitiveInstruction?) -> Bool {
        guard let instruction else { return true }
        return unrefereeable[instruction] == nil
    }

    /// Nil when there is no usable KVM.
    static let kvmOnThisHost: SensitiveInstructionCheck? = {
        guard case .usable = KVMHypervisor().availability() else { return nil }
        do {
            var check = try SensitiveInstructionCheck(runner: UserModeRunner(KVMHypervisor()))
            // APUS_EQUIVALENCE_DISTRUST=sgdt,sidt treats those as unrefereeable, to exercise the fallback to the
            // recording on a host whose KVM can referee them.
            let distrusted = ProcessInfo.processInfo.environment["APUS_EQUIVALENCE_DISTRUST"]?
                .split(separator: ",").compactMap { SensitiveInstruction(rawValue: String($0)) } ?? []
            for instruction in distrusted where check.unrefereeable[instruction] == nil {
                check.unrefereeable[instruction] = "distrusted by APUS_EQUIVALENCE_DISTRUST"
            }
            print(check.report)
            return check
        } catch {
            // The live comparison itself will report the same failure to set KVM up.
            print("CPL3 equivalence: KVM referee check could not run: \(error); every sensitive instruction is left "
                  + "out of the live comparison")
            return SensitiveInstructionCheck(unrefereeable: Dictionary(uniqueKeysWithValues: SensitiveInstruction.allCases.map {
                ($0, "the check could not run")
            }))
        }
    }()

    init(unrefereeable: [SensitiveInstruction: String]) { self.unrefereeable = unrefereeable }

    init(runner: UserModeRunner) throws {
        var unrefereeable: [SensitiveInstruction: String] = [:]
        for instruction in SensitiveInstruction.allCases {
            var registers = Registers()
            registers.rax = UserModeLayout.data
            registers.rflags = 0x202
            let probe = UserCase(group: "referee-check", code: instruction.code, description: instruction.rawValue,
                                 registers: registers)
            let expected = instruction.architecturalBytes(runner.special)
            let outcome = try runner.run(probe)
            guard case .trapped(let trap) = outcome, trap.vector == 13,
                  trap.registers.rip == UserModeLayout.codeBase + UInt64(instruction.code.count) else {
                unrefereeable[instruction] = "ended in \(outcome.summary) instead of running to the HLT after it"
                continue
            }
            let stored = try runner.bytes(at: UserModeLayout.data, count: expected.count)
            if stored != expected {
                unrefereeable[instruction] = "stored \(Self.hexBytes(stored)), not the guest's \(Self.hexBytes(expected))"
            }
        }
        self.unrefereeable = unrefereeable
    }

    var report: String {
        if unrefereeable.isEmpty {
            return "CPL3 equivalence: KVM referees " + SensitiveInstruction.allCases.map(\.rawValue).joined(separator: ", ")
                + " at CPL3 on this host (they store the guest's registers)"
        }
        let names = SensitiveInstruction.allCases.filter { unrefereeable[$0] != nil }
        return "CPL3 equivalence: KVM cannot referee " + names.map(\.rawValue).joined(separator: ", ")
            + " at CPL3 on this host (" + names.map { "\($0.rawValue) \(unrefereeable[$0]!)" }.joined(separator: "; ")
            + "; so do these sensitive-but-unprivileged instructions where guest ring 3 runs on a host CPU without UMIP):"
            + " such cases are left out of the live comparison and checked against the recorded expectations instead"
    }

    private static func hexBytes(_ bytes: [UInt8]) -> String { bytes.map { hex($0, width: 2) }.joined(separator: " ") }
}
