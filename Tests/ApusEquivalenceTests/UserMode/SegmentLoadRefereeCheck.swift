import ApusCore

/// Which segment loads KVM answers from the guest's descriptor tables on this host. Where nested KVM runs guest
/// ring 3 natively, a load is first tried against the *host's* GDT and LDT; only when the host refuses it does KVM
/// emulate the load with the guest's tables. So a selector whose slot happens to be usable in the host's tables
/// loads there, whatever the guest's descriptor says, and KVM cannot referee it. Each (selector, register) is tried
/// once, when a case first needs it, as `MOV Sreg, AX` against SegmentLoadRule's outcome; the decision is printed.
final class SegmentLoadRefereeCheck {
    private let runner: UserModeRunner
    private var refereed: Set<SegmentLoad> = []
    private var unrefereeable: [SegmentLoad: String] = [:]

    init(runner: UserModeRunner) { self.runner = runner }

    func canReferee(_ load: SegmentLoad?) throws -> Bool {
        guard let load else { return true }
        if refereed.contains(load) { return true }
        if unrefereeable[load] != nil { return false }
        var registers = Registers()
        registers.rax = UInt64(load.selector)
        registers.rflags = 0x202
        let code: [UInt8] = [0x8E, UInt8(0xC0 | load.register << 3)]
        let probe = UserCase(group: "segment-referee-check", code: code, description: "mov sreg, ax", registers: registers)
        let expected = ManualTrap(SegmentLoadRule.load(load.selector, into: load.register), loadAt: UserModeLayout.codeBase,
                                  end: UserModeLayout.codeBase + 2)
        if let problem = expected.difference(from: try runner.run(probe)) {
            unrefereeable[load] = problem
            return false
        }
        refereed.insert(load)
        return true
    }

    var report: String {
        let names = ["es", "cs", "ss", "ds", "fs", "gs"]
        let tried = refereed.count + unrefereeable.count
        var text = "CPL3 equivalence segment-loads: KVM answers \(refereed.count) of \(tried) (selector, register) loads "
            + "tried from the guest's tables on this host"
        if unrefereeable.isEmpty { return text }
        let sorted = unrefereeable.sorted { ($0.key.selector, $0.key.register) < ($1.key.selector, $1.key.register) }
        let bySelector = Dictionary(grouping: sorted, by: \.key.selector)
        let listed = bySelector.keys.sorted().map { selector in
            hex(selector) + " (" + bySelector[selector]!.map { names[$0.key.register] }.joined(separator: " ") + ")"
        }
        text += "; \(unrefereeable.count) it answers from the host's own descriptor tables (guest ring 3 runs natively), "
            + "so those cases are checked against the SDM's outcome instead: " + listed.joined(separator: ", ")
            + "; first: \(names[sorted[0].key.register]) <- \(hex(sorted[0].key.selector)): \(sorted[0].value)"
        return text
    }
}
