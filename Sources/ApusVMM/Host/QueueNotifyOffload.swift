import ApusCore
import ApusDevices
import ApusKVM
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Virtqueue notifications ("kicks") off the vCPU thread on KVM. The first kick of a queue arrives the ordinary way,
/// as an MMIO exit; that proves where the queue's notify register decodes now, so an ioeventfd is registered there
/// (one per queue: a 2-byte write of the queue index, as Linux's vp_notify does it). Later kicks stay inside the
/// kernel, which bumps the eventfd; this object's thread wakes, and serves the queue under the bus's lock, raising
/// the queue's interrupt from there (KVM_SIGNAL_MSI may be called from any thread).
///
/// One owner at a time: the thread touches a function only inside `PCIBus.exclusively`, like every other path, and
/// only while the host-input gate is open, so a paused or suspending machine's devices and memory stay still. A kick
/// that lands while the gate is closed waits in the available ring; `serveEveryQueue` (on resume) picks it up.
/// If the guest moves the BAR, the thread notices on the next kick, drops the stale registration and serves the
/// queue; the kick after that exits again and re-registers at the new address.
final class QueueNotifyOffload: @unchecked Sendable {
    // @unchecked: `doorbells` and `disabled` are behind `lock`; functions are touched only under the bus's lock.
    private struct Doorbell {
        let function: VirtioPCIFunction
        let queue: Int
        let eventFD: KVMIOEventFD
    }

    /// APUS_IOEVENTFD=off keeps kicks on the vCPU thread (to measure the difference).
    static var wanted: Bool { ProcessInfo.processInfo.environment["APUS_IOEVENTFD"] != "off" }

    private let machine: KVMMachine
    private let bus: PCIBus
    private let gate: HostInputGate
    private let log: @Sendable (String) -> Void
    private let lock = Mutex<Void>(())
    nonisolated(unsafe) private var doorbells: [Doorbell] = []
    nonisolated(unsafe) private var disabled = false
    private let stopped = Atomic<Bool>(false)
    private let wakeDescriptors: (read: Int32, write: Int32)
    private let finished = DispatchSemaphore(value: 0)

    init(machine: KVMMachine, bus: PCIBus, gate: HostInputGate, log: @escaping @Sendable (String) -> Void) throws {
        self.machine = machine
        self.bus = bus
        self.gate = gate
        self.log = log
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else {
            throw VMMError.invalidConfiguration("queue notifications: pipe failed: \(String(cString: strerror(errno)))")
        }
        for end in ends {
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        }
        wakeDescriptors = (ends[0], ends[1])
        let thread = Thread { [self] in
            run()
            finished.signal()
        }
        thread.name = "apus-virtio-notify"
        thread.start()
    }

    deinit {
        close(wakeDescriptors.read)
        close(wakeDescriptors.write)
    }

    /// Routes `function`'s later kicks through ioeventfds: call once per function, before the guest runs.
    func adopt(_ function: VirtioPCIFunction) {
        function.onNotifyWrite = { [weak self, unowned function] queue in
            self?.kicked(function, queue: queue)
        }
    }

    /// The queue's kick came as an exit (vCPU thread, under the bus's lock): register an ioeventfd at its register.
    private func kicked(_ function: VirtioPCIFunction, queue: Int) {
        guard let address = Self.notifyAddress(of: function, queue: queue) else { return }
        enum Plan { case keep, register(replacing: Doorbell?) }
        let plan: Plan = lock.withLock { _ in
            guard !disabled else { return .keep }
            guard let index = doorbells.firstIndex(where: { $0.function === function && $0.queue == queue }) else {
                return .register(replacing: nil)
            }
            if case .mmio(let registered) = doorbells[index].eventFD.address, registered.rawValue == address {
                // Registered here already: a kick that raced the registration, or a write KVM did not match (another
                // width or value), which keeps taking the exit path.
                return .keep
            }
            return .register(replacing: doorbells.remove(at: index))
        }
        guard case .register(let stale) = plan else { return }
        stale?.eventFD.detach()
        do {
            let eventFD = try KVMIOEventFD(machine: machine, at: .mmio(GuestAddress(address)), length: 2,
                                           matching: UInt64(queue))
            let added = lock.withLock { _ in
                guard !disabled, !doorbells.contains(where: { $0.function === function && $0.queue == queue }) else {
                    return false
                }
                doorbells.append(Doorbell(function: function, queue: queue, eventFD: eventFD))
                return true
            }
            if added { wake() } else { eventFD.detach() }
        } catch {
            // Kicks keep working as exits; say once why they are not offloaded.
            let first = lock.withLock { _ in
                defer { disabled = true }
                return !disabled
            }
            if first { log("virtio queue notifications stay on the vCPU thread: ioeventfd refused: \(error)") }
        }
    }

    /// Where queue `queue`'s notify register decodes now, or nil when BAR 4 is not placed or decoding is off.
    private static func notifyAddress(of function: VirtioPCIFunction, queue: Int) -> UInt64? {
        guard let base = function.config.barAddress(VirtioPCIFunction.Layout.configBar) else { return nil }
        return base + VirtioPCIFunction.Layout.notifyOffset
            + UInt64(queue) * UInt64(VirtioPCIFunction.Layout.notifyMultiplier)
    }

    /// Serves every queue of every adopted function once: kicks held back while the gate was closed. Call it under
    /// the bus's lock with the gate open.
    func serveEveryQueue(of functions: [VirtioPCIFunction]) {
        for function in functions {
            for queue in 0..<function.model.queueCount { function.serviceQueue(queue) }
        }
    }

    /// How many queues are served off the vCPU thread now (for tests and the log).
    var registeredQueues: Int { lock.withLock { _ in doorbells.count } }

    /// Ends the thread and deregisters every ioeventfd (the run is over).
    func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        wake()
        finished.wait()
        let all = lock.withLock { _ in
            defer { doorbells = [] }
            return doorbells
        }
        for doorbell in all { doorbell.eventFD.detach() }
    }

    private func wake() {
        var one: UInt8 = 1
        _ = write(wakeDescriptors.write, &one, 1)  // a full pipe already holds a wake-up
    }

    private func run() {
        while !stopped.load(ordering: .acquiring) {
            let watched = lock.withLock { _ in doorbells }
            var descriptors = [pollfd(fd: wakeDescriptors.read, events: Int16(POLLIN), revents: 0)]
            descriptors += watched.map { pollfd(fd: $0.eventFD.descriptor, events: Int16(POLLIN), revents: 0) }
            if poll(&descriptors, nfds_t(descriptors.count), -1) < 0 {
                if errno == EINTR { continue }
                log("virtio queue notifications: poll failed: \(String(cString: strerror(errno)))")
                return
            }
            if descriptors[0].revents != 0 {
                var drained = [UInt8](repeating: 0, count: 64)
                _ = read(wakeDescriptors.read, &drained, drained.count)
            }
            for (index, doorbell) in watched.enumerated() where descriptors[index + 1].revents != 0 {
                guard doorbell.eventFD.consume() > 0 else { continue }
                serve(doorbell)
            }
        }
    }

    private func serve(_ doorbell: Doorbell) {
        bus.exclusively {
            let current = Self.notifyAddress(of: doorbell.function, queue: doorbell.queue)
            if case .mmio(let registered) = doorbell.eventFD.address, current != registered.rawValue {
                lock.withLock { _ in doorbells.removeAll { $0.eventFD === doorbell.eventFD } }
                doorbell.eventFD.detach()
            }
            if !gate.isHeld { doorbell.function.serviceQueue(doorbell.queue) }
        }
    }
}
