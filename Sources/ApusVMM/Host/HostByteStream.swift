import ApusCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The host end of a second console: a Unix socket Apus connects to (both directions), or a file or FIFO that gets
/// the guest's output. Output goes through a writer thread with a bounded buffer, so a slow reader never stalls a
/// vCPU; what overflows the buffer is dropped and counted.
final class HostByteStream: @unchecked Sendable {
    // @unchecked: `pending`, `dropped` and `closing` are only touched under `condition`.
    static let outputBufferLimit = 1 << 20

    let path: String
    /// Where guest-bound bytes come from (the socket), or nil for an output-only file or FIFO.
    let inputDescriptor: Int32?
    private let outputDescriptor: Int32
    private let isSocket: Bool
    private let condition = NSCondition()
    private var pending: [UInt8] = []
    private var dropped = 0
    private var closing = false
    private let finished = DispatchSemaphore(value: 0)

    init(path: String) throws {
        var info = stat()
        let isSocket = stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFSOCK
        if isSocket {
            let socketDescriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard socketDescriptor >= 0 else { throw Self.failure(path, "socket") }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let capacity = MemoryLayout.size(ofValue: address.sun_path)
            guard path.utf8.count < capacity else {
                close(socketDescriptor)
                throw VMMError.invalidConfiguration("console \(path): the socket path is longer than \(capacity - 1) bytes")
            }
            withUnsafeMutableBytes(of: &address.sun_path) { bytes in
                for (index, byte) in path.utf8.enumerated() { bytes[index] = byte }
            }
            let connected = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                    SystemCall.retryingInterrupts {
                        connect(socketDescriptor, generic, socklen_t(MemoryLayout<sockaddr_un>.size))
                    }
                }
            }
            guard connected == 0 else {
                let error = Self.failure(path, "connect")
                close(socketDescriptor)
                throw error
            }
            inputDescriptor = socketDescriptor
            outputDescriptor = socketDescriptor
            self.isSocket = true
        } else {
            // A FIFO's open waits for its reader, as a shell redirection does.
            let descriptor = SystemCall.retryingInterrupts {
                open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            }
            guard descriptor >= 0 else { throw Self.failure(path, "open") }
            inputDescriptor = nil
            outputDescriptor = descriptor
            self.isSocket = false
        }
        self.path = path
        let thread = Thread { [self] in
            writeLoop()
            finished.signal()
        }
        thread.name = "apus-console2-output"
        thread.start()
    }

    deinit { close(outputDescriptor) }

    private static func failure(_ path: String, _ call: String) -> VMMError {
        VMMError.invalidConfiguration("console \(path): \(call) failed: \(String(cString: strerror(errno)))")
    }

    /// Queues the guest's bytes for the writer thread; never blocks on the host.
    func enqueue(_ bytes: [UInt8]) {
        condition.lock()
        let room = Self.outputBufferLimit - pending.count
        pending += bytes.prefix(room)
        dropped += max(0, bytes.count - room)
        condition.signal()
        condition.unlock()
    }

    /// Writes what is queued, then ends the writer thread; returns how many bytes overflowed the buffer.
    @discardableResult
    func finish() -> Int {
        condition.lock()
        closing = true
        condition.signal()
        condition.unlock()
        finished.wait()
        return condition.withLock { dropped }
    }

    private func writeLoop() {
        while true {
            condition.lock()
            while pending.isEmpty && !closing { condition.wait() }
            let chunk = pending
            pending = []
            let done = closing
            condition.unlock()
            var offset = 0
            while offset < chunk.count {
                let written = chunk[offset...].withUnsafeBytes { bytes in
                    // MSG_NOSIGNAL: a socket whose peer left reports EPIPE instead of killing the process.
                    SystemCall.retryingInterrupts {
                        isSocket ? send(outputDescriptor, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
                            : write(outputDescriptor, bytes.baseAddress, bytes.count)
                    }
                }
                guard written > 0 else { return }  // the reader went away: nothing more can be delivered
                offset += written
            }
            if done && chunk.isEmpty { return }
        }
    }
}
