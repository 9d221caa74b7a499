import ApusBoot
import ApusCore
import ApusDevices
import ApusDisk
import ApusKVM

/// PCI bus 0 on a machine's buses: configuration mechanism 1 at 0xCF8, ECAM where the MCFG says, the I/O and memory
/// windows BARs are placed in, one virtio-blk function per disk (disk N in slot N + 1), and the host-connected
/// devices (virtio-rng, virtio-console, virtio-net: `PCIHostDevices`) in the slots after. INTx goes to IOAPIC pins
/// 16-19 with the usual swizzle (shared pins are wired-OR), MSI-X messages to the machine's MSI path.
struct PCIPlatform: Sendable {
    struct Disk: @unchecked Sendable {
        // @unchecked: the function and its disk are only touched under the bus's lock (`PCIBus.exclusively`).
        let name: String
        let function: VirtioPCIFunction
        let block: VirtioBlock
    }

    let bus: PCIBus
    let disks: [Disk]
    let hostFunctions: [PCIHostFunction]
    let hostInput: HostInputGate
    /// On KVM, the disks' queue notifications are served by an I/O thread (ioeventfd) instead of the vCPU thread.
    let notifyOffload: QueueNotifyOffload?

    /// The ACPI description the guest needs to find this bus (DSDT root bridge with _CRS/_PRT, ECAM reservation, MCFG).
    static var description: PCIRootBridgeDescription {
        PCIRootBridgeDescription(
            ecamBase: PlatformLayout.pciECAMAddress,
            ioWindowBase: UInt16(PlatformLayout.pciIOWindow.start.rawValue),
            ioWindowSize: UInt16(PlatformLayout.pciIOWindow.size),
            memoryWindowBase: UInt32(PlatformLayout.pciMemoryWindow.start.rawValue),
            memoryWindowSize: UInt32(PlatformLayout.pciMemoryWindow.size),
            firstINTxGSI: PlatformLayout.pciFirstINTxGSI)
    }

    /// Opens every disk image, or throws naming the first that cannot be opened (nothing is left half-open).
    static func openDisks(_ attachments: [DiskAttachment]) throws -> [any DiskImage] {
        try attachments.enumerated().map { index, attachment in
            do {
                if let chain = attachment.handedOver {
                    return try DiskImages.open(handedOver: chain, readOnly: attachment.readOnly)
                }
                return try DiskImages.open(path: attachment.path, readOnly: attachment.readOnly)
            } catch {
                throw VMMError.invalidConfiguration("disk \(index) (\(attachment.path)) cannot be used: \(error)")
            }
        }
    }

    static func build(disks images: [any DiskImage], host: PCIHostDevices = PCIHostDevices(), memory: GuestMemory,
                      ports: inout IOBus, mmio: inout IOBus,
                      resources: inout ResourceAllocator, line: (UInt32) throws -> any InterruptLine,
                      msi: (any MSISink)?, holdingHostInput: Bool = false,
                      ioEvents: KVMMachine? = nil) throws -> PCIPlatform {
        let bus = PCIBus(ioWindow: PlatformLayout.pciIOWindow, memoryWindow: PlatformLayout.pciMemoryWindow)
        ports = try ports.inserting(DeviceSlot(name: "pci-config-ports", device: bus.configPorts),
                                    at: try resources.reservePorts(PCIBus.configAddressPort,
                                                                   count: UInt16(PCIBus.configPortCount)))
        let ioWindow = PlatformLayout.pciIOWindow
        ports = try ports.inserting(DeviceSlot(name: "pci-io-window", device: bus.ioWindowDevice),
                                    at: try resources.reservePorts(UInt16(ioWindow.start.rawValue),
                                                                   count: UInt16(ioWindow.size)))
        let ecam = GuestRange(start: GuestAddress(PlatformLayout.pciECAMAddress), size: PCIBus.ecamSize)
        try resources.mmio.reserve(ecam)
        mmio = try mmio.inserting(DeviceSlot(name: "pci-ecam", device: bus.ecamDevice), at: ecam)
        try resources.mmio.reserve(PlatformLayout.pciMemoryWindow)
        mmio = try mmio.inserting(DeviceSlot(name: "pci-memory-window", device: bus.memoryWindowDevice),
                                  at: PlatformLayout.pciMemoryWindow)

        let hasHostDevices = host.entropy || host.secondConsole != nil || !host.taps.isEmpty
        guard (images.isEmpty && !hasHostDevices) || msi != nil else {
            throw VMMError.unsupported("this backend has no path for PCI message-signalled interrupts")
        }
        var wires: [UInt32: WiredOrLine] = [:]
        /// A slot's INTx pin (wired-OR with the other slots on its IOAPIC pin) and the MSI path.
        func interrupts(slot: Int) throws -> PCIInterruptOut {
            let gsi = PCIRootBridgeDescription.intxGSI(device: slot, pin: 0, first: PlatformLayout.pciFirstINTxGSI)
            if wires[gsi] == nil {
                _ = try resources.reserveIRQ(gsi)
                wires[gsi] = WiredOrLine(output: try line(gsi))
            }
            return PCIInterruptOut(intx: wires[gsi]!.input(), msi: msi.map(MSIForwarder.init))
        }
        var disks: [Disk] = []
        for (index, image) in images.enumerated() {
            let slot = index + 1
            let name = "disk\(index)"
            let log: @Sendable (String) -> Void = { MachineLog.logger.warning("\($0)") }
            let block = VirtioBlock(disk: image, serial: "apus-\(name)", log: log)
            let function = VirtioPCIFunction(model: block, memory: memory, interrupts: try interrupts(slot: slot),
                                             name: "virtio-blk \(name)", log: log)
            try bus.plug(function, device: slot)
            disks.append(Disk(name: name, function: function, block: block))
        }
        // A restored machine starts paused: its host input waits for the first `resume`.
        let gate = HostInputGate(held: holdingHostInput)
        let hostFunctions = try plugHostDevices(host, bus: bus, memory: memory, gate: gate,
                                                interrupts: { try interrupts(slot: $0) })
        var offload: QueueNotifyOffload?
        if let ioEvents, !disks.isEmpty {
            offload = try QueueNotifyOffload(machine: ioEvents, bus: bus, gate: gate,
                                             log: { MachineLog.logger.warning("\($0)") })
            for disk in disks { offload?.adopt(disk.function) }
        }
        return PCIPlatform(bus: bus, disks: disks, hostFunctions: hostFunctions, hostInput: gate,
                           notifyOffload: offload)
    }

    /// Holds host input (and offloaded disk kicks) out of guest memory while the machine is paused; releasing it
    /// delivers what waited.
    func holdHostInput(_ held: Bool) {
        Self.setHostInput(held: held, gate: hostInput, functions: hostFunctions, bus: bus)
        if !held, let notifyOffload {
            bus.exclusively { notifyOffload.serveEveryQueue(of: disks.map(\.function)) }
        }
    }

    /// Ends the threads that carry host input to devices and disk kicks, and flushes console output (the run is
    /// over).
    func stopHostIO() {
        notifyOffload?.stop()
        for function in hostFunctions { function.stop() }
    }

    /// Every function whose state a suspend saves, by name.
    private var namedFunctions: [(String, VirtioPCIFunction)] {
        disks.map { ($0.name, $0.function) } + hostFunctions.map { ($0.name, $0.function) }
    }

    /// Writes everything the disks hold to stable storage; returns one message per disk that failed.
    func flushDisks() -> [String] {
        bus.exclusively {
            disks.compactMap { disk in
                do {
                    try disk.block.disk.flush()
                    return nil
                } catch {
                    return "\(disk.name): flush failed: \(error)"
                }
            }
        }
    }

    func saveStates() -> [String: VirtioPCIFunction.State] {
        bus.exclusively { Dictionary(uniqueKeysWithValues: namedFunctions.map { ($0.0, $0.1.saveState()) }) }
    }

    func restoreStates(_ states: [String: VirtioPCIFunction.State]) throws {
        try bus.exclusively {
            for (name, function) in namedFunctions {
                guard let state = states[name] else {
                    throw SnapshotError.corrupt("it has no state for PCI function \(name)")
                }
                try function.restoreState(state)
            }
        }
    }
}

/// PCI's view of an MSI (an address and data) handed to the machine's MSI path.
private struct MSIForwarder: MSIMessageSink {
    let sink: any MSISink
    init(_ sink: any MSISink) { self.sink = sink }
    func deliver(address: UInt64, data: UInt32) { sink.deliver(MSIMessage(address: address, data: data)) }
}
