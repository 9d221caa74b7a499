import ApusCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A host TAP interface opened through /dev/net/tun: Ethernet frames without a packet-information prefix, each behind
/// a 12-byte virtio_net_hdr (IFF_VNET_HDR), so checksum and segmentation offloads cross between the guest's driver
/// and the host's stack as they are: a TCP transfer moves in segments of up to 64 KiB instead of 1.5 KB frames.
/// Opened non-blocking, so a write from a vCPU thread never waits; reads happen on a host thread.
final class TapInterface: Sendable {
    let name: String
    let fileDescriptor: Int32
    /// Whether this open created the interface (it then disappears when the machine ends).
    let created: Bool

    static let tunSetInterface: UInt = 0x4004_54CA  // TUNSETIFF = _IOW('T', 202, int)
    static let tapMode: Int16 = 0x0002              // IFF_TAP
    static let noPacketInformation: Int16 = 0x1000  // IFF_NO_PI
    static let virtioHeader: Int16 = 0x4000         // IFF_VNET_HDR
    static let tunSetHeaderSize: UInt = 0x4004_54D8  // TUNSETVNETHDRSZ = _IOW('T', 216, int)
    static let tunSetOffload: UInt = 0x4004_54D0    // TUNSETOFFLOAD = _IOW('T', 208, unsigned int)
    /// struct virtio_net_hdr_v1 (with num_buffers), the header VERSION_1 devices use.
    static let headerSize: Int32 = 12

    /// Opens `name`, creating it when the host has no interface of that name; throws a message that says what the
    /// host refused (CAP_NET_ADMIN, a missing tun driver, an interface in use).
    init(name: String) throws {
        let existed = if_nametoindex(name) != 0
        let descriptor = SystemCall.retryingInterrupts { open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC) }
        guard descriptor >= 0 else {
            let reason = errno
            throw VMMError.invalidConfiguration("TAP \(name): cannot open /dev/net/tun: \(String(cString: strerror(reason)))"
                + (reason == ENOENT ? " (load the tun module: modprobe tun)" : "")
                + (reason == EACCES || reason == EPERM ? " (it needs read and write access to /dev/net/tun)" : ""))
        }
        // struct ifreq: the name in the first 16 bytes, ifr_flags (a short) right after.
        var request = [UInt8](repeating: 0, count: 40)
        for (index, byte) in name.utf8.prefix(15).enumerated() { request[index] = byte }
        let flags = UInt16(bitPattern: Self.tapMode | Self.noPacketInformation | Self.virtioHeader)
        request[16] = UInt8(flags & 0xFF)
        request[17] = UInt8(flags >> 8)
        let result = request.withUnsafeMutableBytes { bytes in
            SystemCall.retryingInterrupts { ioctl(descriptor, Self.tunSetInterface, bytes.baseAddress!) }
        }
        guard result == 0 else {
            let reason = errno
            close(descriptor)
            let why: String
            switch reason {
            case EPERM, EACCES:
                why = existed
                    ? "the host does not allow this process to attach to it: that needs CAP_NET_ADMIN, or a TAP "
                        + "created for this user (as root: ip tuntap add \(name) mode tap user \(NSUserName()))"
                    : "the host does not allow this process to create it: that needs CAP_NET_ADMIN (run as root, or "
                        + "create it beforehand: ip tuntap add \(name) mode tap user \(NSUserName()))"
            case EBUSY: why = "it is in use by another process"
            case EINVAL: why = "an interface of that name exists and is not a TAP"
            default: why = String(cString: strerror(reason))
            }
            throw VMMError.invalidConfiguration("TAP \(name): \(why)")
        }
        var headerSize = Self.headerSize
        guard SystemCall.retryingInterrupts({ ioctl(descriptor, Self.tunSetHeaderSize, &headerSize) }) == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw VMMError.invalidConfiguration("TAP \(name): the host's tun driver refused a 12-byte virtio header: \(reason)")
        }
        self.name = name
        fileDescriptor = descriptor
        created = !existed
        setReceiveOffloads(0)
    }

    /// Which offloads the host may apply to packets it hands over (TUN_F_* bits: what the guest's driver accepted).
    /// Without TUN_F_CSUM, for instance, every packet arrives fully checksummed.
    @discardableResult
    func setReceiveOffloads(_ flags: UInt32) -> Bool {
        SystemCall.retryingInterrupts { ioctl(fileDescriptor, Self.tunSetOffload, CInt(bitPattern: flags)) } == 0
    }

    deinit { close(fileDescriptor) }

    /// Sends one frame behind its virtio_net_hdr; false when the host could not take it now, or refused its header
    /// (the frame is dropped, as a full link drops).
    @discardableResult
    func send(_ frame: [UInt8]) -> Bool {
        let written = frame.withUnsafeBytes { bytes in
            SystemCall.retryingInterrupts { write(fileDescriptor, bytes.baseAddress, bytes.count) }
        }
        return written == frame.count
    }
}
