import ApusCore
import ApusDevices
import Synchronization

/// The host ends of the PCI bus's non-disk devices, opened before the machine takes any other resource so a TAP the
/// host refuses or a console path that cannot be opened stops the start with a clear message.
struct PCIHostDevices: Sendable {
    var entropy = false
    var secondConsole: HostByteStream?
    var taps: [(attachment: NetworkAttachment, tap: TapInterface)] = []

    static func open(_ platform: MachinePlatform) throws -> PCIHostDevices {
        var devices = PCIHostDevices(entropy: platform.entropy)
        devices.secondConsole = try platform.secondConsole.map { try HostByteStream(path: $0) }
        for attachment in platform.networks {
            devices.taps.append((attachment, try TapInterface(name: attachment.tap)))
            if devices.taps.last!.tap.created {
                MachineLog.logger.notice("created TAP \(attachment.tap); it goes away when the machine ends")
            }
        }
        return devices
    }
}

/// A PCI function that is not a disk, with what ends its host side's threads.
struct PCIHostFunction: @unchecked Sendable {
    // @unchecked: the function and its model are only touched under the bus's lock (`PCIBus.exclusively`).
    let name: String
    let function: VirtioPCIFunction
    let stop: @Sendable () -> Void
    /// Delivers host input that waited while the machine was paused (call it under the bus's lock).
    var resumeInput: @Sendable () -> Void = {}
}

/// Closed while the machine is paused: host input then stays in the devices' backlogs (and the host), so guest
/// memory does not change under a paused machine, or under a suspend that saves it. Read under the bus's lock.
final class HostInputGate: Sendable {
    private let held: Atomic<Bool>
    init(held: Bool = false) { self.held = Atomic(held) }
    var isHeld: Bool { held.load(ordering: .acquiring) }
    func set(held value: Bool) { held.store(value, ordering: .releasing) }
}

extension PCIPlatform {
    /// Plugs virtio-rng, virtio-console and virtio-net functions for `host` into `bus`, and starts the threads that
    /// carry host input to them.
    static func plugHostDevices(_ host: PCIHostDevices, bus: PCIBus, memory: GuestMemory, gate: HostInputGate,
                                interrupts: (Int) throws -> PCIInterruptOut) throws -> [PCIHostFunction] {
        let log: @Sendable (String) -> Void = { MachineLog.logger.warning("\($0)") }
        var functions: [PCIHostFunction] = []
        if host.entropy {
            let slot = PlatformLayout.entropySlot
            let function = VirtioPCIFunction(model: VirtioEntropy(log: log), memory: memory,
                                             interrupts: try interrupts(slot), name: "virtio-rng", log: log)
            try bus.plug(function, device: slot)
            functions.append(PCIHostFunction(name: "rng0", function: function, stop: {}))
        }
        if let stream = host.secondConsole {
            let slot = PlatformLayout.secondConsoleSlot
            let console = VirtioConsole(output: { stream.enqueue($0) }, log: log)
            let function = VirtioPCIFunction(model: console, memory: memory, interrupts: try interrupts(slot),
                                             name: "virtio-console", log: log)
            try bus.plug(function, device: slot)
            var pump: HostReceivePump?
            if let input = stream.inputDescriptor {
                let unsafe = UnsafeDevice(console, function)
                pump = try HostReceivePump(
                    name: "apus-console2-input", source: input,
                    readLimit: { bus.exclusively { gate.isHeld ? 0 : min(unsafe.model.inputRoom, 4096) } },
                    deliver: { bytes in
                        bus.exclusively {
                            unsafe.model.enqueueInput(bytes)
                            if !gate.isHeld { unsafe.function.serviceQueue(VirtioConsole.Queue.receive) }
                        }
                    })
                console.roomAvailable = { [pump] in pump?.wake() }
            }
            let unsafe = UnsafeDevice(console, function)
            functions.append(PCIHostFunction(name: "console2", function: function, stop: { [pump] in
                pump?.stop()
                let dropped = stream.finish()
                if dropped > 0 { log("virtio-console: \(dropped) bytes of output overflowed the host buffer") }
            }, resumeInput: { [pump] in
                unsafe.function.serviceQueue(VirtioConsole.Queue.receive)
                pump?.wake()
            }))
        }
        for (index, entry) in host.taps.enumerated() {
            let slot = PlatformLayout.firstNetworkSlot + index
            let tap = entry.tap
            let net = VirtioNet(mac: entry.attachment.mac, headerPassthrough: true, transmit: { _ = tap.send($0) })
            net.receiveOffloadsChanged = { offloads in
                if !tap.setReceiveOffloads(offloads.rawValue) { log("TAP \(tap.name): the host refused offloads \(offloads)") }
            }
            let function = VirtioPCIFunction(model: net, memory: memory, interrupts: try interrupts(slot),
                                             name: "virtio-net \(tap.name)", log: log)
            try bus.plug(function, device: slot)
            let unsafe = UnsafeDevice(net, function)
            let pump = try HostReceivePump(
                name: "apus-net-\(tap.name)", source: tap.fileDescriptor,
                readLimit: { bus.exclusively { !gate.isHeld && unsafe.model.receiveRoom > 0 ? unsafe.model.maxReceivedSize : 0 } },
                deliver: { frame in
                    bus.exclusively {
                        unsafe.model.enqueueReceived(Array(frame))
                        if !gate.isHeld { unsafe.function.serviceQueue(VirtioNet.Queue.receive) }
                    }
                })
            net.roomAvailable = { pump.wake() }
            functions.append(PCIHostFunction(name: "net\(index)", function: function, stop: { pump.stop() },
                                             resumeInput: {
                unsafe.function.serviceQueue(VirtioNet.Queue.receive)
                pump.wake()
            }))
        }
        return functions
    }

    /// Closes or opens `gate` under the bus's lock; opening it delivers what waited in `functions`' backlogs and
    /// wakes their pumps, which read nothing while it was closed.
    static func setHostInput(held: Bool, gate: HostInputGate, functions: [PCIHostFunction], bus: PCIBus) {
        bus.exclusively {
            gate.set(held: held)
            if !held { for function in functions { function.resumeInput() } }
        }
    }
}

/// A device model and its transport handed to a host thread, which touches them only under the bus's lock.
private struct UnsafeDevice<Model: AnyObject>: @unchecked Sendable {
    let model: Model
    let function: VirtioPCIFunction
    init(_ model: Model, _ function: VirtioPCIFunction) {
        self.model = model
        self.function = function
    }
}
