public import Foundation

/// Debian's cloud kernel and the busybox initramfs that guests/linux/fetch.sh prepares (nothing of it is committed).
/// A test that needs them asks here: when they are missing and can be fetched (apt-get is there), the script runs
/// once per test process, and its own lock serialises test processes, so `swift test` alone runs the Linux tests on
/// a fresh clone. The test skips, saying why, only where they cannot be fetched.
public enum DebianGuest {
    /// The repository's guests/linux, found from this file's place in the source tree.
    public static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("guests/linux")
    public static let cache = directory.appendingPathComponent("cache")
    /// The uncompressed ELF kernel (the LZ4 payload of the bzImage, extracted once).
    public static let kernel = cache.appendingPathComponent("vmlinux")
    /// The bzImage as Debian ships it.
    public static let bzImage = cache.appendingPathComponent("vmlinuz")
    /// busybox and the virtio-blk modules, with an /init that loads them, prints APUS-INIT-OK and reboots (or, with
    /// `apus.disktest` on the command line, writes /apus-disktest.txt on /dev/vda's ext4 and powers off).
    public static let initramfs = cache.appendingPathComponent("initramfs.cpio.gz")
    /// A 32 MiB ext4 image holding busybox.
    public static let rootImage = cache.appendingPathComponent("rootfs.ext4")
    /// The initramfs layout fetch.sh writes into `.initramfs-version`; an older cache is rebuilt.
    static let initramfsVersion = "5"

    /// True when the guest files are there, fetching them first if needed; otherwise prints why `test` skips.
    public static func require(for test: String) -> Bool {
        switch prepared {
        case .success: return true
        case .failure(let reason):
            print("\(test): skipping: \(reason.message)")
            return false
        }
    }

    public struct Unavailable: Error, Sendable {
        public var message: String
    }

    /// Decided once per process: Swift initialises a static on first use, once, whichever thread gets there first.
    private static let prepared: Result<Void, Unavailable> = prepare()

    private static var present: Bool {
        let version = try? String(contentsOf: cache.appendingPathComponent(".initramfs-version"), encoding: .utf8)
        return version?.trimmingCharacters(in: .whitespacesAndNewlines) == initramfsVersion
            && [kernel, bzImage, initramfs, rootImage].allSatisfy {
                ((try? FileManager.default.attributesOfItem(atPath: $0.path)[.size] as? Int) ?? 0) > 0
            }
    }

    private static func prepare() -> Result<Void, Unavailable> {
        if present { return .success(()) }
        let script = directory.appendingPathComponent("fetch.sh")
        if ProcessInfo.processInfo.environment["APUS_FETCH_GUESTS"] == "0" {
            return .failure(Unavailable(message: "the Debian guest is missing and APUS_FETCH_GUESTS=0 forbids fetching "
                                        + "it (run \(script.path))"))
        }
        guard let aptGet = executableOnPath("apt-get") else {
            return .failure(Unavailable(message: "the Debian guest is missing and cannot be fetched here: there is no "
                                        + "apt-get (guests/linux/fetch.sh downloads Debian's packages with it)"))
        }
        print("DebianGuest: the Debian kernel and initramfs are missing; fetching them with \(script.path) "
              + "(\(aptGet.path); about a minute, once)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script.path]
        process.standardInput = FileHandle.nullDevice
        // The script's progress goes to stderr, as it does when a person runs it; its list of files is not needed.
        process.standardOutput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return .failure(Unavailable(message: "cannot run \(script.path): \(error)"))
        }
        process.waitUntilExit()
        guard process.terminationStatus == 0, present else {
            return .failure(Unavailable(message: "\(script.path) failed with status \(process.terminationStatus) "
                                        + "(its messages are above), so the Debian guest cannot be fetched here"))
        }
        return .success(())
    }

    private static func executableOnPath(_ name: String) -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { URL(fileURLWithPath: String($0)).appendingPathComponent(name) }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }
}
