import ApusCore
import ApusDevices
import ApusVMM
import ApusTesting
import Foundation
import Testing

/// One boot of the Debian kernel on the software CPU with virtio-net on a TAP, virtio-rng and virtio-console. The
/// test makes a network namespace (loopback only, deleted afterwards whatever happens) and moves the TAP Apus opened
/// into it, so nothing reaches the host's own network. In the guest, /init (`apus.nettest`, guests/linux/fetch.sh)
/// gives eth0 10.0.2.15/24, pings the TAP's 10.0.2.1, receives a file from a socat peer in the namespace and sends
/// one back; both arrive with the SHA-256 they left with. It also reads /dev/hwrng and writes a line to /dev/hvc0,
/// which must reach the host file behind --console2.
@Suite struct LinuxVirtioNetTests {
    /// KiB each way. The issue asks for 64 MiB; in a debug build on the shared machine the boot alone took ~12 min of
    /// wall clock at load 15-20 and the software CPU moves well under 1 MB per CPU second (bench/README.md), so the
    /// test moves enough to cross many TCP windows, segments and offloaded packets, which is what correctness depends
    /// on; `bash bench/network/run.sh` (64 MiB by default) is the 64 MiB run.
    static let transferKiB = 512
    static let silenceLimit: TimeInterval = 600
    /// The guest's progress lines, in order: ping done (the download starts), download hashed, upload hashed (it
    /// starts), upload sent.
    static let markers = ["APUS-PING-OK", "APUS-RX-SHA", "APUS-TX-SHA", "APUS-TX-SENT"]
    static let overallLimit: TimeInterval = 3600

    @Test func debianKernelTalksTCPOverATapInANetworkNamespace() throws {
        guard DebianGuest.require(for: "LinuxVirtioNetTests") else { return }
        guard let socat = ["/usr/bin/socat", "/bin/socat"].first(where: FileManager.default.isExecutableFile),
              let sha256sum = ["/usr/bin/sha256sum", "/bin/sha256sum"].first(where: FileManager.default.isExecutableFile)
        else {
            print("LinuxVirtioNetTests: skipping: socat or sha256sum is not installed")
            return
        }
        guard let namespace = try ThrowawayNetworkNamespace.create(prefix: "apus-net", for: "LinuxVirtioNetTests") else {
            return
        }
        defer { namespace.delete() }
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("apus-virtio-net-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let toGuest = directory.appendingPathComponent("to-guest")
        let fromGuest = directory.appendingPathComponent("from-guest")
        let console2 = directory.appendingPathComponent("hvc0.txt")
        var random = SplitMix64(seed: UInt64(getpid()))
        let data = (0..<Self.transferKiB * 1024 / 8).flatMap { _ in withUnsafeBytes(of: random.next()) { Array($0) } }
        try Data(data).write(to: toGuest)
        let toGuestHash = try sha(sha256sum, toGuest)

        let tap = "apt\(getpid() % 1_000_000)"
        var configuration = MachineConfiguration(
            memoryMiB: 256, backend: .soft,
            boot: .linux(kernel: try [UInt8](Data(contentsOf: DebianGuest.kernel)),
                         initrd: try [UInt8](Data(contentsOf: DebianGuest.initramfs)),
                         commandLine: "console=ttyS0 reboot=k panic=-1 cryptomgr.notests=1 apus.nettest "
                             + "apus.netkib=\(Self.transferKiB)"))
        configuration.networks = [try NetworkAttachment(tap: tap)]
        configuration.entropy = true
        configuration.secondConsole = console2.path
        let output = CapturingSerialOutput()
        let machine = try Machine(configuration: configuration, output: output)
        // The TAP exists now (Apus created it, attached to the machine): move it into the namespace, where the
        // host's side of the link lives.
        try namespace.adopt(tap: tap, address: "10.0.2.1/24")
        let sender = try spawn(namespace.command(socat, ["-u", "OPEN:\(toGuest.path)",
                                                         "TCP-LISTEN:5001,bind=10.0.2.1,reuseaddr"]))
        let receiver = try spawn(namespace.command(socat, ["-u", "TCP-LISTEN:5002,bind=10.0.2.1,reuseaddr",
                                                           "CREATE:\(fromGuest.path)"]))
        defer {
            for process in [sender, receiver] where process.isRunning { process.terminate() }
        }

        try machine.start()
        let start = Date()
        var lastProgress = (Date(), 0)
        // When each marker first appeared on the console (to the poll's half second): each direction's rate.
        var seen: [String: Date] = [:]
        while machine.outcome == nil && Date().timeIntervalSince(start) < Self.overallLimit {
            Thread.sleep(forTimeInterval: 0.5)
            let text = output.text
            for marker in Self.markers where seen[marker] == nil && text.contains(marker) { seen[marker] = Date() }
            let printed = text.utf8.count
            if printed != lastProgress.1 { lastProgress = (Date(), printed) }
            if Date().timeIntervalSince(lastProgress.0) > Self.silenceLimit { break }
        }
        if machine.outcome == nil {
            print("LinuxVirtioNetTests: stopping the guest: no console output for \(Int(Self.silenceLimit)) s")
            machine.stop()
        }
        let outcome = machine.waitForOutcome()
        let seconds = Date().timeIntervalSince(start)
        let text = output.text
        for (name, from, to) in [("host -> guest (hashed as it arrives)", "APUS-PING-OK", "APUS-RX-SHA"),
                                 ("guest -> host", "APUS-TX-SHA", "APUS-TX-SENT")] {
            guard let begin = seen[from], let end = seen[to] else { continue }
            let elapsed = max(end.timeIntervalSince(begin), 0.5)
            print("LinuxVirtioNetTests: \(name): \(Self.transferKiB) KiB in about \(String(format: "%.1f", elapsed)) s = "
                + String(format: "%.2f MB/s", Double(Self.transferKiB * 1024) / elapsed / 1e6))
        }
        print("LinuxVirtioNetTests: \(Int(seconds)) s from start to the end; the guest's lines:\n"
            + text.split(whereSeparator: \.isNewline)
            .filter { $0.contains("APUS") || $0.contains("virtio") || $0.contains("eth0") }.joined(separator: "\n"))
        // The receiver ends when the guest's connection closes; give it a moment after the guest is gone.
        for _ in 0..<100 where receiver.isRunning { Thread.sleep(forTimeInterval: 0.1) }
        #expect(outcome == .systemEvent(.shutdown), "\(outcome); output: \(text.suffix(3000))")
        #expect(!text.contains("APUS-INSMOD-FAILED"), "a virtio module did not load")
        #expect(text.contains("APUS-PING-OK"), "the guest could not ping the TAP's side")
        #expect(text.contains("APUS-RX-SHA \(toGuestHash)"), "host to guest: the guest got other bytes")
        let sentHash = text.split(whereSeparator: \.isNewline).first { $0.hasPrefix("APUS-TX-SHA ") }
            .map { String($0.dropFirst("APUS-TX-SHA ".count).prefix(64)) }
        #expect(text.contains("APUS-TX-SENT"))
        let receivedHash = FileManager.default.fileExists(atPath: fromGuest.path) ? try sha(sha256sum, fromGuest) : "none"
        #expect(sentHash != nil && sentHash == receivedHash, "guest to host: sent \(sentHash ?? "nothing"), got \(receivedHash)")
        let size = (try? FileManager.default.attributesOfItem(atPath: fromGuest.path)[.size] as? Int) ?? 0
        #expect(size == Self.transferKiB * 1024)
        #expect(text.contains("APUS-HWRNG-BYTES 32"), "/dev/hwrng gave no bytes")
        let console = (try? String(contentsOf: console2, encoding: .utf8)) ?? ""
        #expect(console.contains("APUS-HVC0-LINE from the guest"), "hvc0 output on the host: \(console.debugDescription)")
    }

    private func sha(_ tool: String, _ file: URL) throws -> String {
        String(try CommandRunner.runTool(tool, [file.path]).output.prefix(64))
    }

    private func spawn(_ command: (executable: String, arguments: [String])) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command.executable)
        process.arguments = command.arguments
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        return process
    }
}
