import ApusCore
import Synchronization

/// PCI INTx lines are open-drain and shared: several functions drive one IOAPIC pin, which stays asserted while any of
/// them asserts it. Each function gets its own input; the output follows their OR.
final class WiredOrLine: Sendable {
    private let output: any InterruptLine
    private let inputs = Mutex<[Bool]>([])

    init(output: any InterruptLine) { self.output = output }

    /// A new input of the OR.
    func input() -> any InterruptLine {
        let index = inputs.withLock { levels in
            levels.append(false)
            return levels.count - 1
        }
        return Input(wire: self, index: index)
    }

    private func set(_ index: Int, _ asserted: Bool) {
        inputs.withLock { levels in
            let before = levels.contains(true)
            levels[index] = asserted
            let after = levels.contains(true)
            // Under the lock, so two inputs cannot reorder the output's edges.
            if before != after { output.setLevel(after) }
        }
    }

    private struct Input: InterruptLine {
        let wire: WiredOrLine
        let index: Int
        func setLevel(_ asserted: Bool) { wire.set(index, asserted) }
    }
}
