import ApusAPI
import ApusCore
import ApusDisk
import ApusVMM
#if canImport(Glibc)
import Glibc
#endif

/// A disk's image and backing files opened by the daemon under the disk policy, for a worker: the worker gets these
/// descriptors and builds the image on them, never opening a path. Closed with this object (the worker has its own
/// copies by then).
final class OpenedDiskChain: @unchecked Sendable {
    // @unchecked: set once at init, never changed; the descriptors are closed only in deinit.
    /// The canonical path and mode, as the machine attaches the disk.
    let attachment: DiskAttachment
    /// The image first, then each backing file, with the daemon's descriptors.
    let files: [HandedOverDiskFile]

    init(attachment: DiskAttachment, files: [HandedOverDiskFile]) {
        self.attachment = attachment
        self.files = files
    }

    deinit { for file in files { close(file.descriptor) } }
}

extension DiskPolicy {
    /// Checks the disk (`check`), opens every file of its chain without following a link or blocking (the image
    /// read-write unless the disk is readonly, backing files read-only), and opens the image on exactly those
    /// descriptors, as the worker will: a chain that changed since the check is refused here.
    func openChain(_ disk: DiskSpec, index: Int, ownedOverlays: [String]) throws -> OpenedDiskChain {
        let checked = try check(disk, index: index, ownedOverlays: ownedOverlays)
        var files: [HandedOverDiskFile] = []
        do {
            for (position, path) in checked.chain.enumerated() {
                let writable = position == 0 && !disk.readOnly
                let role = position == 0 ? "disk \(index)" : "disk \(index)'s backing file"
                let flags = (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC
                let descriptor = SystemCall.retryingInterrupts { open(path, flags) }
                guard descriptor >= 0 else {
                    throw BootFile.Failure(description: "cannot open \(role) '\(path)': \(String(cString: strerror(errno)))")
                }
                files.append(HandedOverDiskFile(path: path, descriptor: descriptor))
                var status = stat()
                guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
                    throw BootFile.Failure(description: "\(role) '\(path)' is refused: it is not a regular file")
                }
            }
            _ = try DiskImages.open(handedOver: files, readOnly: true)
        } catch {
            for file in files { close(file.descriptor) }
            throw error
        }
        return OpenedDiskChain(attachment: DiskAttachment(path: checked.path, readOnly: disk.readOnly), files: files)
    }
}
