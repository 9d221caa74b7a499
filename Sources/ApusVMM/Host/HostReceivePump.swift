import ApusCore
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Reads a host file descriptor on its own thread and hands what it reads to a device, only while the device has
/// room: `readLimit` says how many bytes the next read may take (0: none now), and the device calls `wake` when room
/// appears. So a guest that is slow to post buffers slows the host side down instead of losing data, and the vCPU
/// threads never wait for the host.
final class HostReceivePump: Sendable {
    private let stopped = Atomic<Bool>(false)
    /// A pipe: `wake` writes a byte to its write end, the thread polls the read end (Glibc's module has no eventfd).
    private let wakeDescriptors: (read: Int32, write: Int32)
    private let finished = DispatchSemaphore(value: 0)

    /// `deliver` gets each read's bytes (one frame, for a TAP). It and `readLimit` run on the pump's thread.
    init(name: String, source: Int32, readLimit: @escaping @Sendable () -> Int,
         deliver: @escaping @Sendable (ArraySlice<UInt8>) -> Void) throws {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else {
            throw VMMError.invalidConfiguration("\(name): pipe failed: \(String(cString: strerror(errno)))")
        }
        for end in ends {
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        }
        wakeDescriptors = (ends[0], ends[1])
        let thread = Thread { [self] in
            run(source: source, readLimit: readLimit, deliver: deliver)
            finished.signal()
        }
        thread.name = name
        thread.start()
    }

    deinit {
        close(wakeDescriptors.read)
        close(wakeDescriptors.write)
    }

    /// The device has room again (or the pump should look at its stop flag).
    func wake() {
        var one: UInt8 = 1
        _ = write(wakeDescriptors.write, &one, 1)  // when the pipe is full, a wake-up is already pending
    }

    /// Ends the thread and waits for it, so the source can be closed afterwards.
    func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        wake()
        finished.wait()
    }

    private func run(source: Int32, readLimit: @Sendable () -> Int, deliver: @Sendable (ArraySlice<UInt8>) -> Void) {
        var buffer = [UInt8](repeating: 0, count: 1 << 17)
        var sourceOpen = true
        while !stopped.load(ordering: .acquiring) {
            let limit = sourceOpen ? min(readLimit(), buffer.count) : 0
            var descriptors = [pollfd(fd: wakeDescriptors.read, events: Int16(POLLIN), revents: 0)]
            if limit > 0 { descriptors.append(pollfd(fd: source, events: Int16(POLLIN), revents: 0)) }
            let ready = poll(&descriptors, nfds_t(descriptors.count), -1)
            if ready < 0 {
                if errno == EINTR { continue }
                return
            }
            if descriptors[0].revents != 0 {
                var drained = [UInt8](repeating: 0, count: 64)
                _ = read(wakeDescriptors.read, &drained, drained.count)
            }
            guard descriptors.count > 1, descriptors[1].revents != 0 else { continue }
            let count = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, limit) }
            if count > 0 {
                deliver(buffer[0..<count])
            } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
                sourceOpen = false  // end of input (a socket's peer closed it), or the source failed for good
            }
        }
    }
}
