import ApusCore
import ApusVMM
import Foundation
import Synchronization

/// Copies standard input to the guest's console UART on its own thread, waiting while the UART's 16-byte FIFO is
/// full so no keystroke is dropped. End of input simply stops the pump.
final class ConsoleInputPump: Sendable {
    private let detached = Atomic<Bool>(false)

    init(machine: Machine) {
        let thread = Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 256)
            while !self.detached.load(ordering: .relaxed) {
                let count = buffer.withUnsafeMutableBytes { bytes in
                    SystemCall.retryingInterrupts { read(STDIN_FILENO, bytes.baseAddress, bytes.count) }
                }
                guard count > 0 else { return }
                var pending = Array(buffer[0..<count])
                while !pending.isEmpty && !self.detached.load(ordering: .relaxed) {
                    let accepted = machine.sendConsoleInput(pending)
                    pending.removeFirst(accepted)
                    if !pending.isEmpty { usleep(1000) }
                }
            }
        }
        thread.name = "apus-console-input"
        thread.start()
    }

    /// Stops forwarding; a read already blocked on stdin ends with the process.
    func detach() { detached.store(true, ordering: .relaxed) }
}
