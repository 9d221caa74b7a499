import ApusDisk
import ApusVMM
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A clone's disk: a qcow2 overlay whose backing file is the template's image (by absolute path; qcow2 opens a
/// backing file read-only). Only a header, a refcount table and block and an empty L1 table are written, so making
/// one takes the same time whatever the template's size.
///
/// Crash-safe: the overlay is written under a temporary name, fsynced, renamed into place and the directory fsynced;
/// a failure removes the temporary file, and a crash leaves at worst a temporary or an unreferenced overlay, which
/// `StateDirectory.sweepOverlays` removes at the next start.
enum CloneOverlay {
    static let temporaryPrefix = ".tmp-"

    /// Creates `path` over `base` (canonical, absolute) of format `baseFormat`; never replaces an existing file.
    static func create(at path: String, base: String, baseFormat: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        let temporary = directory + "/" + temporaryPrefix + (path as NSString).lastPathComponent
            + "-\(UInt32.random(in: 0...UInt32.max))"
        do {
            _ = try Qcow2Image.create(path: temporary, backingFile: base, backingFormat: baseFormat)
        } catch {
            unlink(temporary)
            throw DaemonError.unprocessable("cannot create a clone overlay of '\(base)': \(error)")
        }
        // link(2) fails rather than replace an existing file, as rename(2) would.
        guard link(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw DaemonError.internal("cannot create clone overlay \(path): \(String(cString: strerror(code)))")
        }
        unlink(temporary)
        do {
            try DurableFile.syncDirectory(of: path)
        } catch {
            unlink(path)
            throw DaemonError.internal("cannot create clone overlay \(path): \(error)")
        }
    }

    /// Deletes overlays (a clone's, when it is undefined or its creation failed) and makes the deletion durable.
    static func remove(_ paths: [String]) {
        for path in paths { unlink(path) }
        if let first = paths.first { try? DurableFile.syncDirectory(of: first) }
    }
}
