import ApusAPI
import ApusCore
import ApusDisk
import ApusVMM
#if canImport(Glibc)
import Glibc
#endif

/// The image-root policy for VM disks. A disk's path, and every file its qcow2 backing chain names, must resolve
/// inside an image root (or the daemon's own clone directory) and be a regular file, checked on the descriptor
/// opened without following links or blocking — before the image itself is opened; then the whole image is opened
/// read-only as the VMM will open it, so an encrypted image, an unknown incompatible feature, a corrupt table or a
/// missing backing file is refused here with the disk library's message, never half-used at start.
///
/// The clone directory holds the overlays apusd made for clones: a definition may name one only if it is one of
/// its own (`ownedOverlays`), so a client cannot attach another VM's overlay.
struct DiskPolicy: Sendable {
    let imageRoots: ImageRoots
    /// Canonical path of `<state-dir>/clones`.
    let clonesDirectory: String

    struct Checked: Sendable {
        /// The canonical path the VMM opens.
        let path: String
        let format: String
        /// The image and its backing files in order, canonical paths.
        let chain: [String]
    }

    /// Checks one disk; `index` is its position (disk 0 is /dev/vda) for messages. Throws `BootFile.Failure` or
    /// `DiskError`, both naming the file and the rule.
    func check(_ disk: DiskSpec, index: Int, ownedOverlays: [String]) throws -> Checked {
        let role = "disk \(index)"
        let resolved = try resolveInsideRoots(disk.path, role: role)
        if ImageRoots.path(resolved, isInside: clonesDirectory), !ownedOverlays.contains(resolved) {
            throw BootFile.Failure(description:
                "\(role) '\(disk.path)' is refused: it is a clone overlay apusd made for another VM (in \(clonesDirectory)); "
                + "clone the template instead (POST /v1/vms/{template}/clone)")
        }
        var format = ""
        var current = resolved
        var chain: [String] = []
        while true {
            let summary = try summary(of: current, role: chain.isEmpty ? role : "\(role)'s backing file")
            if chain.isEmpty { format = summary.format }
            chain.append(current)
            guard let next = summary.resolvedBackingFile(relativeTo: current) else { break }
            guard chain.count < Qcow2Image.maxChainDepth else {
                throw DiskError.backingChain(path: resolved, reason: "the chain is deeper than \(Qcow2Image.maxChainDepth) images")
            }
            let nextResolved = try resolveInsideRoots(next, role: "\(role)'s backing file", relativeAllowed: true)
            guard !chain.contains(nextResolved) else {
                throw DiskError.backingChain(path: current, reason: "\(next) is already in the chain (a loop)")
            }
            current = nextResolved
        }
        // Every file of the chain is vetted: now open the image whole (read-only), as the VMM will.
        _ = try DiskImages.open(path: resolved, readOnly: true)
        return Checked(path: resolved, format: format, chain: chain)
    }

    /// The canonical path of `path` if it lies inside an image root or the clone directory.
    private func resolveInsideRoots(_ path: String, role: String, relativeAllowed: Bool = false) throws -> String {
        guard relativeAllowed || path.hasPrefix("/") else {
            throw BootFile.Failure(description: "the \(role) path '\(path)' must be absolute (the daemon has its own working directory)")
        }
        guard let resolved = ImageRoots.resolve(path) else {
            throw BootFile.Failure(description: "cannot open \(role) '\(path)': \(String(cString: strerror(errno)))")
        }
        let roots = imageRoots.directories + [clonesDirectory]
        guard roots.contains(where: { ImageRoots.path(resolved, isInside: $0) && resolved != $0 }) else {
            let target = resolved == path ? "" : " (it resolves to '\(resolved)')"
            throw BootFile.Failure(description:
                "\(role) '\(path)' is refused: it is outside the image roots\(target); apusd opens disk images only "
                + "inside \(imageRoots.directories.joined(separator: ", ")) (apusd --image-root DIR)")
        }
        return resolved
    }

    /// Opens `path` under the policy (no links, no blocking, a regular file) and reads its header from that
    /// descriptor.
    private func summary(of path: String, role: String) throws -> ImageHeaderSummary {
        let file = try BootFile.open(path, role: role, limit: .max, followingSymlinks: false)
        // The first 4 KiB tell raw from qcow2 and give qcow2's cluster size; its header cluster is read whole.
        var bytes = Self.read(file, count: 4096)
        if bytes.count >= 24, bytes[0..<4].elementsEqual([0x51, 0x46, 0x49, 0xFB]) {
            let clusterBits = Int(bytes[20]) << 24 | Int(bytes[21]) << 16 | Int(bytes[22]) << 8 | Int(bytes[23])
            if (9...21).contains(clusterBits), 1 << clusterBits > bytes.count {
                bytes = Self.read(file, count: min(1 << clusterBits, ImageHeaderSummary.maximumHeaderBytes))
            }
        }
        return try ImageHeaderSummary.parse(bytes, path: path, fileSize: file.size)
    }

    /// Up to `count` leading bytes of the checked descriptor (fewer if the file is shorter).
    private static func read(_ file: OpenedBootFile, count wanted: Int) -> [UInt8] {
        let count = Int(min(file.size, UInt64(wanted)))
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let got = bytes.withUnsafeMutableBytes { buffer in
                SystemCall.retryingInterrupts { pread(file.descriptor, buffer.baseAddress! + done, count - done, off_t(done)) }
            }
            guard got > 0 else { break }
            done += got
        }
        return Array(bytes[0..<done])
    }
}
