import ApusCore
import Synchronization

/// Counts of each exit kind for one vCPU. Plain integers: only the vCPU's own thread writes them; it publishes a copy
/// every `publishInterval` exits, whenever it is asked to pause or stop, and when it finishes.
struct ExitStatistics: Sendable {
    static let publishInterval = 1024
    var portIO = 0
    var mmio = 0
    var interrupted = 0
    var other = 0

    @inline(__always)
    mutating func count(_ exit: VCPUExit) {
        switch exit {
        case .portIO: portIO += 1
        case .mmio: mmio += 1
        case .interrupted: interrupted += 1
        default: other += 1
        }
    }

    var byKind: [String: Int] { ["pio": portIO, "mmio": mmio, "interrupted": interrupted, "other": other] }
}

/// Where a vCPU thread publishes its counts when it finishes, for the machine's owner to read.
final class ExitStatisticsBox: Sendable {
    private let counts = Mutex(ExitStatistics())
    func publish(_ statistics: ExitStatistics) { counts.withLock { $0 = statistics } }
    var snapshot: ExitStatistics { counts.withLock { $0 } }
}
