import ApusCore
import ApusDevices
import ApusDisk
import ApusVMM
import ApusTesting
import Foundation
import Synchronization
import Testing

/// One Debian boot on the software CPU per test process, shared by every suite nested in `LinuxGuestTests`.
///
/// A debug-build boot costs minutes of CPU, and the in-guest checks (the shell, the clock, a virtio disk, a TAP,
/// virtio-rng, virtio-console) need seconds each once the kernel is up, so they share one guest instead of booting
/// one each. The first test that asks boots it (lazily, so a filtered run boots only when it runs such a test) with
/// everything those tests need attached: a qcow2 overlay over a raw copy of the root image, a TAP moved into a
/// throwaway network namespace, virtio-rng and a second console to a file. What the host cannot offer (not root, no
/// qemu-img) is left out, and the test needing it skips, saying why. The boot runs beside two busy host threads
/// until its console driver registers, and is suspended to disk and restored into a new machine there
/// (LinuxSoftCPUTests checks both). Tests then take turns on the console with `run(_:)`: each script runs alone and gets back only what it
/// printed. When the last nested suite has finished, the `.sharedLinuxGuest` scope powers the guest off and expects
/// ACPI S5 to end the run.
///
/// To join, nest a suite in an extension of `LinuxGuestTests` and call `SharedLinuxGuest.current()`. A test that needs
/// another machine shape (the 4-vCPU boot of issue 14) runs beside it: give its own parent suite
/// `.sharedLinuxGuest(Shape(vcpus: 4))` and call `current(Shape(vcpus: 4))`; each shape is booted at most once.
final class SharedLinuxGuest: Sendable {
    struct Shape: Hashable, Sendable, CustomStringConvertible {
        var vcpus = 1
        var description: String { "\(vcpus) vCPU" + (vcpus == 1 ? "" : "s") }
    }

    /// What a nested test gets: the guest, a reason to skip (the Debian files cannot be fetched), or why the boot
    /// failed (each test then fails with it).
    enum State: Sendable {
        case ready(SharedLinuxGuest)
        case unavailable(String)
        case failed(String)

        /// The guest, or nil after recording the failure or printing why `test` skips.
        func guest(for test: String) -> SharedLinuxGuest? {
            switch self {
            case .ready(let guest): return guest
            case .unavailable(let reason):
                print("\(test): skipping: \(reason)")
                return nil
            case .failed(let reason):
                Issue.record("the shared Linux boot failed: \(reason)")
                return nil
            }
        }
    }

    /// The overlay the guest's /dev/vda is, over `base`, a copy of DebianGuest.rootImage.
    struct Disk: Sendable {
        let base: URL
        let overlay: URL
        let qemuImg: String
        let debugfs: String
    }

    /// The guest's eth0 is a TAP that lives in `namespace` as 10.0.2.1/24; nothing reaches the host's own network.
    struct Network: Sendable {
        let namespace: ThrowawayNetworkNamespace
        let tap: String
        let socat: String
        let sha256sum: String
    }

    /// Liveness bounds, not timing assertions: a debug build reaches the shell in about 2 minutes on an idle 2-core
    /// machine; at load 20-23 the console driver line came after 33 minutes and the shell after 35 (a fixed
    /// 20-minute bound failed there). So the boot and each script are given up only when the console has been silent for
    /// `silenceLimit` (the kernel and the scripts print as they go), or after `bootLimit` whatever happens.
    static let bootLimit: TimeInterval = 3600
    static let silenceLimit: TimeInterval = 600
    static let commandLine = "console=ttyS0 reboot=k panic=-1 cryptomgr.notests=1 rdinit=/bin/sh"
    /// What the fetched initramfs's /init would load (guests/linux/fetch.sh); the shell replaces that /init here.
    static let modules = ["virtio_ring", "virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci",
                          "virtio_blk", "failover", "net_failover", "virtio_net", "virtio_console", "virtio-rng"]

    let shape: Shape
    /// The machine restored from the mid-boot suspend; the one that began the boot is gone.
    let machine: Machine
    /// The console before the suspend (the kernel's early boot) and after the restore.
    let bootLog: String
    let output: CapturingSerialOutput
    /// What mounting /proc, /sys and /dev and loading the virtio modules printed.
    let setupOutput: String
    let disk: Disk?
    let diskAbsence: String
    let network: Network?
    let networkAbsence: String
    /// The host file behind the guest's /dev/hvc0.
    let secondConsole: URL
    let directory: URL
    private let turns = ConsoleTurns()
    private let sessions = Mutex(0)

    private init(shape: Shape, machine: Machine, bootLog: String, output: CapturingSerialOutput, setupOutput: String,
                 attachments: Attachments) {
        self.shape = shape
        self.machine = machine
        self.bootLog = bootLog
        self.output = output
        self.setupOutput = setupOutput
        disk = attachments.disk
        diskAbsence = attachments.diskAbsence
        network = attachments.network
        networkAbsence = attachments.networkAbsence
        secondConsole = attachments.secondConsole
        directory = attachments.directory
    }

    /// Everything the console printed since the kernel started.
    var kernelLog: String { bootLog + output.text }

    // MARK: The per-process boots

    private static let boots = Mutex<[Shape: Task<State, Never>]>([:])

    /// The shared guest of `shape`, booting it if no test has asked before.
    static func current(_ shape: Shape = Shape()) async -> State {
        let task = boots.withLock { boots in
            if let task = boots[shape] { return task }
            let task = Task { await onOwnThread { boot(shape) } }
            boots[shape] = task
            return task
        }
        return await task.value
    }

    /// Powers the guest of `shape` off (if one was booted) and expects ACPI S5 to end its run; then removes what it
    /// used on the host.
    static func finish(_ shape: Shape) async {
        guard let task = boots.withLock({ $0.removeValue(forKey: shape) }) else { return }
        guard case .ready(let guest) = await task.value else { return }
        let outcome = await onOwnThread { guest.powerOff() }
        let tail = guest.output.text.suffix(1500)
        #expect(outcome == .systemEvent(.shutdown),
                "poweroff -f did not end the shared guest's run through ACPI S5: \(String(describing: outcome)); output: \(tail)")
        guest.network?.namespace.delete()
        try? FileManager.default.removeItem(at: guest.directory)
    }

    // MARK: Console sessions

    /// The result of one script: what it printed (nothing of the echoed command line), whether it got to its end,
    /// and when each of the `marking` lines first appeared (to the poll's tenth of a second).
    struct Session: Sendable {
        let text: String
        let finished: Bool
        let seen: [String: Date]
    }

    /// Runs `script` (one shell line) alone on the guest's console and returns what it printed. Other tests wait their
    /// turn; the wait and the run block no Swift concurrency thread.
    func run(_ script: String, marking markers: [String] = []) async -> Session {
        await turns.take()
        let session = await onOwnThread { self.runNow(script, marking: markers) }
        await turns.give()
        return session
    }

    private func runNow(_ script: String, marking markers: [String] = []) -> Session {
        let number = sessions.withLock { count in
            count += 1
            return count
        }
        return Self.runScript(script, number: number, marking: markers, machine: machine, output: output)
    }

    /// The shell echoes what it is sent, so the script is bracketed by two lines whose text exists only once the
    /// shell has run them ($((n)) is expanded then), and the session's output is what lies between them.
    private static func runScript(_ script: String, number: Int, marking markers: [String] = [], machine: Machine,
                                  output: CapturingSerialOutput) -> Session {
        let begin = "APUS-SESSION-BEGIN-\(number)-", end = "APUS-SESSION-END-\(number)-"
        send("echo APUS-SESSION-BEGIN-$((\(number)))-; \(script); echo APUS-SESSION-END-$((\(number)))-\n", to: machine)
        var seen: [String: Date] = [:]
        var text = output.text
        var lastProgress = (Date(), text.utf8.count)
        while !text.contains(end) && machine.outcome == nil {
            Thread.sleep(forTimeInterval: 0.1)
            text = output.text
            for marker in markers where seen[marker] == nil && text.contains(marker) { seen[marker] = Date() }
            if text.utf8.count != lastProgress.1 { lastProgress = (Date(), text.utf8.count) }
            if Date().timeIntervalSince(lastProgress.0) > silenceLimit {
                print("SharedLinuxGuest: giving up on a script: no console output for \(Int(silenceLimit)) s")
                break
            }
        }
        let finished = text.contains(end)
        guard let start = text.range(of: begin)?.upperBound else {
            return Session(text: "", finished: false, seen: seen)
        }
        let stop = text.range(of: end, range: start..<text.endIndex)?.lowerBound ?? text.endIndex
        return Session(text: String(text[start..<stop]), finished: finished, seen: seen)
    }

    /// Console input a few bytes at a time, as the UART's 16-byte FIFO drains.
    private func send(_ text: String) {
        Self.send(text, to: machine)
    }

    private static func send(_ text: String, to machine: Machine) {
        var remaining = Array(text.utf8)
        let deadline = Date().addingTimeInterval(60)
        while !remaining.isEmpty && Date() < deadline {
            let accepted = machine.sendConsoleInput(remaining)
            remaining.removeFirst(accepted)
            if !remaining.isEmpty { Thread.sleep(forTimeInterval: 0.01) }
        }
    }

    private func powerOff() -> MachineOutcome? {
        send("poweroff -f\n")
        let deadline = Date().addingTimeInterval(Self.silenceLimit)
        while machine.outcome == nil && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        if machine.outcome == nil {
            machine.stop()
            _ = machine.waitForOutcome()
            return nil
        }
        return machine.waitForOutcome()
    }

    // MARK: The boot

    private static func boot(_ shape: Shape) -> State {
        guard DebianGuest.require(for: "SharedLinuxGuest") else {
            return .unavailable("the Debian guest files are not there and cannot be fetched (see above)")
        }
        let attachments: Attachments
        do {
            attachments = try Attachments.make(for: shape)
        } catch {
            return .failed("preparing the attachments: \(error)")
        }
        let result = bootAndRestore(shape, attachments)
        if case .failed = result {
            attachments.network?.namespace.delete()
            try? FileManager.default.removeItem(at: attachments.directory)
        }
        return result
    }

    private static func bootAndRestore(_ shape: Shape, _ attachments: Attachments) -> State {
        do {
            var configuration = MachineConfiguration(
                memoryMiB: 256, vcpuCount: shape.vcpus, backend: .soft,
                boot: .linux(kernel: try [UInt8](Data(contentsOf: DebianGuest.kernel)),
                             initrd: try [UInt8](Data(contentsOf: DebianGuest.initramfs)), commandLine: commandLine))
            if let disk = attachments.disk { configuration.disks = [DiskAttachment(path: disk.overlay.path)] }
            if let network = attachments.network { configuration.networks = [try NetworkAttachment(tap: network.tap)] }
            configuration.entropy = true
            configuration.secondConsole = attachments.secondConsole.path
            // The guest's view of time must not depend on how fast the interpreter happens to run (issue 18): two
            // busy threads load the host while the kernel settles its clock (TSC frequency, delay loop, local APIC
            // timer, the switch to the `tsc` clocksource: all before the console driver registers). They stop at
            // the suspend: spinning on until the shell answered cost twice the boot's own CPU time for nothing.
            let load = HostLoad(threads: 2)
            defer { load.stop() }
            print("SharedLinuxGuest (\(shape)): booting; two busy threads load the host until the console driver registers")
            let started = Date()
            let (bootLog, snapshot) = try bootToSuspend(configuration, in: attachments.directory)
            load.stop()
            print("SharedLinuxGuest (\(shape)): suspended \(Int(Date().timeIntervalSince(started))) s after the start")
            // The first machine's TAP goes when its descriptor closes; should anything still hold one, the name must
            // be free for the restored machine's TAP all the same.
            if let network = attachments.network,
               FileManager.default.fileExists(atPath: "/sys/class/net/\(network.tap)") {
                _ = try? CommandRunner.runTool(network.namespace.ip, ["link", "delete", network.tap])
            }
            let output = CapturingSerialOutput()
            let machine = try Machine.restore(from: snapshot, output: output)
            try? FileManager.default.removeItem(at: snapshot)
            // The restored machine opened its TAP afresh (the first one went with the first machine): move it
            // into the namespace, where the host's side of the link lives.
            if let network = attachments.network { try network.namespace.adopt(tap: network.tap, address: "10.0.2.1/24") }
            try machine.start()
            try machine.resume()
            guard wait(for: "# ", in: output, machine: machine) else {
                machine.stop()
                _ = machine.waitForOutcome()
                return .failed("no shell prompt after the restore; output: \(output.text.suffix(2000))")
            }
            // Session 0; the guest's own sessions count from 1.
            let setup = runScript("mount -t proc proc /proc; mount -t sysfs sysfs /sys; "
                + "mount -t devtmpfs devtmpfs /dev; for module in \(modules.joined(separator: " ")); do "
                + "insmod /lib/modules/$module.ko || echo APUS-INSMOD-FAILED $module; done",
                                  number: 0, machine: machine, output: output)
            guard setup.finished else {
                machine.stop()
                _ = machine.waitForOutcome()
                return .failed("the shell did not finish mounting and loading modules; output: \(output.text.suffix(2000))")
            }
            print("SharedLinuxGuest (\(shape)): the shell answered \(Int(Date().timeIntervalSince(started))) s after the start")
            return .ready(SharedLinuxGuest(shape: shape, machine: machine, bootLog: bootLog, output: output,
                                           setupOutput: setup.text, attachments: attachments))
        } catch {
            return .failed("\(error)")
        }
    }

    /// Boots until the kernel registers its console driver, then suspends the machine to a directory and ends it;
    /// returns the console so far and the directory.
    private static func bootToSuspend(_ configuration: MachineConfiguration, in directory: URL) throws
        -> (String, URL) {
        let output = CapturingSerialOutput()
        let machine = try Machine(configuration: configuration, output: output)
        try machine.start()
        guard wait(for: "Serial: 8250/16550 driver", in: output, machine: machine) else {
            machine.stop()
            _ = machine.waitForOutcome()
            throw BootFailure("the kernel did not get to its console driver; output: \(output.text.suffix(2000))")
        }
        try machine.pause()
        let snapshot = directory.appendingPathComponent("suspended")
        try machine.suspend(to: snapshot)
        machine.stop()
        _ = machine.waitForOutcome()
        return (output.text, snapshot)
    }

    /// Waits until `text` appears; gives up when the guest ends, when the console has been silent for
    /// `silenceLimit`, or after `bootLimit`.
    static func wait(for text: String, in output: CapturingSerialOutput, machine: Machine) -> Bool {
        let deadline = Date().addingTimeInterval(bootLimit)
        var lastProgress = (Date(), 0)
        while Date() < deadline {
            let printed = output.text
            if printed.contains(text) { return true }
            if machine.outcome != nil { return false }
            if printed.utf8.count != lastProgress.1 { lastProgress = (Date(), printed.utf8.count) }
            if Date().timeIntervalSince(lastProgress.0) > silenceLimit {
                print("SharedLinuxGuest: giving up waiting for \"\(text)\": no console output for \(Int(silenceLimit)) s")
                return false
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return false
    }

    struct BootFailure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}

/// Runs `work`, which blocks, on a thread of its own, so waiting for a guest holds none of the few threads Swift
/// concurrency has (two on this host).
func onOwnThread<Result: Sendable>(_ work: @escaping @Sendable () -> Result) async -> Result {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: work()) }.start()
    }
}

/// First come, first served turns on the one console.
private actor ConsoleTurns {
    private var taken = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func take() async {
        if !taken {
            taken = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func give() {
        if waiting.isEmpty { taken = false } else { waiting.removeFirst().resume() }
    }
}

/// The suite trait that ends a shared guest: once every test under the suite it is on has run, the guest of its
/// shape (if any test booted it) is powered off.
struct SharedLinuxGuestScope: SuiteTrait, TestScoping {
    let shape: SharedLinuxGuest.Shape
    var isRecursive: Bool { false }

    func provideScope(for test: Test, testCase: Test.Case?,
                      performing function: @Sendable () async throws -> Void) async throws {
        do {
            try await function()
        } catch {
            await SharedLinuxGuest.finish(shape)
            throw error
        }
        await SharedLinuxGuest.finish(shape)
    }
}

extension Trait where Self == SharedLinuxGuestScope {
    static var sharedLinuxGuest: Self { Self(shape: SharedLinuxGuest.Shape()) }
    static func sharedLinuxGuest(_ shape: SharedLinuxGuest.Shape) -> Self { Self(shape: shape) }
}

/// The suites that check things inside the shared 1-vCPU guest (LinuxSoftCPUTests, LinuxVirtioDiskTests,
/// LinuxVirtioNetTests) are nested here, each in its own file.
@Suite(.sharedLinuxGuest) struct LinuxGuestTests {}
