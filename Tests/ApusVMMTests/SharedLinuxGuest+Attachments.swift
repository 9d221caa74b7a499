import ApusDisk
import ApusTesting
import Foundation

extension SharedLinuxGuest {
    /// What the shared guest gets attached, decided before it boots from what the host offers; what is missing is
    /// left out with the reason the test needing it prints when it skips.
    struct Attachments: Sendable {
        let directory: URL
        let secondConsole: URL
        let disk: Disk?
        let diskAbsence: String
        let network: Network?
        let networkAbsence: String

        static func make(for shape: Shape) throws -> Attachments {
            let directory = FileManager.default.temporaryDirectory
                .appendingPathComponent("apus-shared-linux-\(getpid())-\(shape.vcpus)-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let (disk, diskAbsence) = try makeDisk(in: directory)
            let (network, networkAbsence) = try makeNetwork(for: shape)
            return Attachments(directory: directory, secondConsole: directory.appendingPathComponent("hvc0.txt"),
                               disk: disk, diskAbsence: diskAbsence, network: network, networkAbsence: networkAbsence)
        }

        /// A qcow2 overlay with a relative backing name, as clones store it, over a copy of the root image. The
        /// overlay is closed before the machine opens it.
        private static func makeDisk(in directory: URL) throws -> (Disk?, String) {
            let tools = ["debugfs": ["/usr/sbin/debugfs", "/sbin/debugfs"], "qemu-img": ["/usr/bin/qemu-img"]]
                .mapValues { $0.first(where: FileManager.default.isExecutableFile) }
            if let missing = tools.first(where: { $0.value == nil })?.key {
                return (nil, "\(missing) is not installed (Debian: e2fsprogs, qemu-utils)")
            }
            let base = directory.appendingPathComponent("base.raw")
            let overlay = directory.appendingPathComponent("overlay.qcow2")
            try FileManager.default.copyItem(at: DebianGuest.rootImage, to: base)
            _ = try Qcow2Image.create(path: overlay.path, backingFile: "base.raw", backingFormat: "raw")
            return (Disk(base: base, overlay: overlay, qemuImg: tools["qemu-img"]!!, debugfs: tools["debugfs"]!!), "")
        }

        /// A namespace with only its loopback; the TAP the machine opens is moved into it after the restore.
        private static func makeNetwork(for shape: Shape) throws -> (Network?, String) {
            guard let socat = ["/usr/bin/socat", "/bin/socat"].first(where: FileManager.default.isExecutableFile),
                  let sha256sum = ["/usr/bin/sha256sum", "/bin/sha256sum"]
                      .first(where: FileManager.default.isExecutableFile) else {
                return (nil, "socat or sha256sum is not installed")
            }
            guard let namespace = try ThrowawayNetworkNamespace.create(prefix: "apus-net\(shape.vcpus)",
                                                                       for: "SharedLinuxGuest's network") else {
                return (nil, "this needs root, /dev/net/tun, ip (iproute2) and a new network namespace (see above)")
            }
            let tap = "apt\(shape.vcpus)-\(getpid() % 1_000_000)"
            return (Network(namespace: namespace, tap: tap, socat: socat, sha256sum: sha256sum), "")
        }
    }
}
