import ApusCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Sends transmitted bytes to a host file descriptor (the terminal, a log file).
///
/// A `write(2)` per byte would cost a syscall per guest character, so bytes are buffered and flushed on a newline,
/// when 4 KiB have gathered, and on `flush()`.
public final class FileDescriptorSerialOutput: SerialOutput {
    static let capacity = 4096
    private let fileDescriptor: Int32
    private let buffer = Mutex<[UInt8]>([])

    public init(fileDescriptor: Int32) {
        self.fileDescriptor = fileDescriptor
    }

    public func transmit(_ byte: UInt8) {
        buffer.withLock { pending in
            pending.append(byte)
            if byte == UInt8(ascii: "\n") || pending.count >= Self.capacity { drain(&pending) }
        }
    }

    public func flush() {
        buffer.withLock { drain(&$0) }
    }

    /// Writes everything, retrying after EINTR and short writes; gives up quietly if the fd is gone (a closed
    /// terminal must not stop the guest).
    private func drain(_ pending: inout [UInt8]) {
        pending.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = SystemCall.retryingInterrupts {
                    write(fileDescriptor, bytes.baseAddress! + offset, bytes.count - offset)
                }
                guard written > 0 else { break }
                offset += written
            }
        }
        pending.removeAll(keepingCapacity: true)
    }
}
