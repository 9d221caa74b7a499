import ApusDevices
import Foundation
import Synchronization

/// The guest's console inside a worker: bytes from vCPU threads collect in a buffer and one thread sends them to the
/// daemon in batches, so a chatty guest costs one frame per batch, not per byte.
final class WorkerConsoleOutput: SerialOutput {
    private let pending = Mutex<[UInt8]>([])
    private let wake = DispatchSemaphore(value: 0)
    private let channel: WorkerChannel

    init(channel: WorkerChannel) {
        self.channel = channel
        let thread = Thread { [self] in
            while true {
                wake.wait()
                flush()
            }
        }
        thread.name = "apus-worker-console"
        thread.start()
    }

    func transmit(_ byte: UInt8) {
        let wasEmpty = pending.withLock { pending in
            defer { pending.append(byte) }
            return pending.isEmpty
        }
        if wasEmpty { wake.signal() }
    }

    /// Sends whatever is buffered; also called before the worker reports the end of the run.
    func flush() {
        let batch = pending.withLock { pending in
            defer { pending.removeAll(keepingCapacity: true) }
            return pending
        }
        guard !batch.isEmpty else { return }
        try? channel.send(WorkerReport.console(Data(batch)))
    }
}
