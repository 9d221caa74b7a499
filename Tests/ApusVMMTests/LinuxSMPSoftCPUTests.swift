import ApusCore
import ApusDevices
import ApusTesting
import ApusVMM
import Foundation
import Testing

/// Debian's kernel with 4 vCPUs on the software CPU, in ONE boot: Linux brings up all 4 CPUs (the MADT lists them,
/// the APs start through INIT/SIPI), `nproc` prints 4, guests/linux/smp/smpcount.c's 4 threads each do 1,000,000
/// LOCK XADD on one counter and it comes out exactly 4,000,000, and 4 parallel sha256sum of the same data agree.
/// Self-contained: the program and guests/linux/smp/smptest.sh (the init) are built and appended to fetch.sh's
/// initramfs here, so the shared initramfs cache (versioned by a digest of guests/linux/programs) is left alone.
@Suite struct LinuxSMPSoftCPUTests {
    /// A liveness bound, not a timing assertion: four vCPUs time-share this 2-core host, in a debug build.
    static let bootLimit: TimeInterval = 1800
    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("guests/linux/smp")

    @Test func debianKernelRunsFourCPUsWithAnExactSharedCounter() throws {
        guard DebianGuest.require(for: "LinuxSMPSoftCPUTests") else { return }
        if let reason = Self.hostTooBusy() {
            print("LinuxSMPSoftCPUTests: skipped: \(reason)")
            return
        }
        guard let clang = Self.clang() else {
            print("LinuxSMPSoftCPUTests: skipped: no clang on PATH (the Swift toolchain's; or set CLANG)")
            return
        }
        let initrd = try Self.initramfs(clang: clang)
        let kernel = try [UInt8](Data(contentsOf: DebianGuest.kernel))
        let output = CapturingSerialOutput()
        let machine = try Machine(
            configuration: MachineConfiguration(
                memoryMiB: 256, vcpuCount: 4, backend: .soft,
                boot: .linux(kernel: kernel, initrd: initrd,
                             commandLine: "console=ttyS0 reboot=k panic=-1 cryptomgr.notests=1 rdinit=/smptest.sh")),
            output: output)
        try machine.start()
        let deadline = Date().addingTimeInterval(Self.bootLimit)
        while machine.outcome == nil && Date() < deadline { Thread.sleep(forTimeInterval: 0.2) }
        if machine.outcome == nil {
            machine.stop()
            Issue.record("no power-off within \(Int(Self.bootLimit)) s; output: \(output.text.suffix(3000))")
        }
        let outcome = machine.waitForOutcome()
        let text = output.text
        let lines = text.split(whereSeparator: \.isNewline).map(String.init)
        print("LinuxSMPSoftCPUTests: " + lines.filter {
            $0.contains("APUS-SMP") || $0.contains("smpboot") || $0.contains("Brought up") || $0.contains("CPU")
        }.prefix(40).joined(separator: "\nLinuxSMPSoftCPUTests: "))
        #expect(outcome == .systemEvent(.shutdown), "\(outcome); output: \(text.suffix(3000))")
        #expect(text.contains("Brought up 1 node, 4 CPUs"), "dmesg: \(lines.filter { $0.contains("CPU") })")
        #expect(lines.contains("APUS-SMP-NPROC 4"), "\(lines.filter { $0.contains("APUS-SMP") })")
        #expect(lines.contains("APUS-SMP-ONLINE 0-3"))
        let counter = lines.first { $0.hasPrefix("APUS-SMPCOUNT ") }
        #expect(counter?.hasPrefix("APUS-SMPCOUNT threads 4 total 4000000 expected 4000000 ") == true,
                "\(counter ?? "no counter line"); output: \(text.suffix(2000))")
        // `uniq -c` of the four digests: one digest, four times.
        let digests = lines.first { $0.hasPrefix("APUS-SMP-SHA ") }
        #expect(digests.map { $0.hasPrefix("APUS-SMP-SHA 4 ") && $0.split(separator: " ").count == 3 } == true,
                "\(digests ?? "no sha256sum line")")
    }

    /// Four vCPUs share the host's cores, and the guest's timer ticks follow host time (the TSC is host time):
    /// when each vCPU gets only a sliver of a core, a tick's handler takes longer than the 4 ms tick itself and
    /// every CPU livelocks in timer interrupts (seen here at load average 22 on 2 cores in a debug build: soft-lockup
    /// reports at unchanging RIPs; the release build at the same load passed in 72 s). That is the host, not Apus:
    /// above 4 runnable threads per core the test says so and does not run.
    static func hostTooBusy() -> String? {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8),
              let load = text.split(separator: " ").first.flatMap({ Double($0) }) else { return nil }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        guard load > 4 * Double(cores) else { return nil }
        return "the host's load average is \(load) on \(cores) cores: 4 vCPUs would get too little CPU to keep up "
            + "with their own timer interrupts"
    }

    static func clang() -> String? {
        if let configured = ProcessInfo.processInfo.environment["CLANG"], !configured.isEmpty { return configured }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let candidate = "\(directory)/clang"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// fetch.sh's initramfs, uncompressed, followed by a second cpio archive with /bin/apus-smpcount and
    /// /smptest.sh (Linux unpacks concatenated archives in order).
    static func initramfs(clang: String) throws -> [UInt8] {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("apus-smp-linux-\(UUID())")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let program = scratch.appendingPathComponent("apus-smpcount")
        let built = try CommandRunner.runTool(clang, [
            "-O2", "-static", "-nostdlib", "-ffreestanding", "-fno-stack-protector", "-o", program.path,
            sources.appendingPathComponent("smpcount.c").path,
        ])
        guard built.status == 0 else { throw LinuxSMPTestError("cannot build smpcount.c: \(built.output)") }
        // gzip -dc into a file (CommandRunner decodes output as text; this is binary).
        let base = scratch.appendingPathComponent("base.cpio")
        let decompress = Process()
        decompress.executableURL = URL(fileURLWithPath: "/bin/gzip")
        decompress.arguments = ["-dc", DebianGuest.initramfs.path]
        FileManager.default.createFile(atPath: base.path, contents: nil)
        decompress.standardOutput = try FileHandle(forWritingTo: base)
        try decompress.run()
        decompress.waitUntilExit()
        guard decompress.terminationStatus == 0 else { throw LinuxSMPTestError("gzip -dc of the initramfs failed") }
        var archive = try [UInt8](Data(contentsOf: base))
        while archive.count % 4 != 0 { archive.append(0) }
        var extra = NewcArchive()
        extra.add(directory: "bin")
        extra.add(file: "bin/apus-smpcount", mode: 0o755, bytes: try [UInt8](Data(contentsOf: program)))
        extra.add(file: "smptest.sh", mode: 0o755,
                  bytes: try [UInt8](Data(contentsOf: sources.appendingPathComponent("smptest.sh"))))
        return archive + extra.finished()
    }
}

struct LinuxSMPTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A cpio archive in the "newc" format the kernel's initramfs unpacker reads (ASCII hex headers, 4-byte padding).
struct NewcArchive {
    private var bytes: [UInt8] = []
    private var inode = 1

    mutating func add(directory name: String) { entry(name, mode: 0o040755, data: []) }
    mutating func add(file name: String, mode: UInt32, bytes data: [UInt8]) { entry(name, mode: 0o100000 | mode, data: data) }

    mutating func finished() -> [UInt8] {
        entry("TRAILER!!!", mode: 0, data: [])
        return bytes
    }

    private mutating func entry(_ name: String, mode: UInt32, data: [UInt8]) {
        let nameBytes = Array(name.utf8) + [0]
        let fields: [UInt32] = [UInt32(inode), mode, 0, 0, 1, 0, UInt32(data.count), 0, 0, 0, 0,
                                UInt32(nameBytes.count), 0]
        inode += 1
        bytes += Array("070701".utf8)
        for field in fields {
            let hex = String(field, radix: 16, uppercase: true)
            bytes += Array((String(repeating: "0", count: 8 - hex.count) + hex).utf8)
        }
        bytes += nameBytes
        while bytes.count % 4 != 0 { bytes.append(0) }
        bytes += data
        while bytes.count % 4 != 0 { bytes.append(0) }
    }
}
