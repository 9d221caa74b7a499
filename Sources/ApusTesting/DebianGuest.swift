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
    /// The initramfs version this checkout's fetch.sh builds (its layout number and a digest of the script and the
    /// test programs, from `fetch.sh --print-version`); a cache recording another one is rebuilt. nil when the script
    /// cannot say.
    static let initramfsVersion: String? = {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [directory.appendingPathComponent("fetch.sh").path, "--print-version"]
        process.standardInput = FileHandle.nullDevice
        let output = Pipe()
        process.standardOutput = output
        guard (try? process.run()) != nil else { return nil }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        let version = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return version.isEmpty ? nil : version
    }()

    private static var recordedVersion: String? {
        (try? String(contentsOf: cache.appendingPathComponent(".initramfs-version"), encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

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
        guard let expected = initramfsVersion, recordedVersion == expected else { return false }
        return [kernel, bzImage, initramfs, rootImage].allSatisfy {
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
        guard process.terminationStatus == 0 else {
            return .failure(Unavailable(message: "\(script.path) failed with status \(process.terminationStatus) "
                                        + "(its messages are above), so the Debian guest cannot be fetched here"))
        }
        guard present else {
            return .failure(Unavailable(message: "\(script.path) finished, but the cache records initramfs version "
                                        + "\(recordedVersion ?? "none") where this checkout builds "
                                        + "\(initramfsVersion ?? "an unknown one (--print-version failed)")"))
        }
        return .success(())
    }

    private static func executableOnPath(_ name: String) -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { URL(fileURLWithPath: String($0)).appendingPathComponent(name) }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }
}
