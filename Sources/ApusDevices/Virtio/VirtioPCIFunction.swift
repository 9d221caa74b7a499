public import ApusCore
#if canImport(Glibc)
import Glibc
#endif

/// The virtio 1.x PCI transport ("modern", virtio 1.x 4.1) around a device model: vendor capabilities pointing at
/// the common, notify, ISR and device configuration structures in BAR 4, MSI-X in BAR 1, INTx otherwise.
///
/// A driver that breaks the virtqueue protocol puts the device into DEVICE_NEEDS_RESET (one log line, a
/// configuration-change interrupt); the device then ignores notifications until the driver resets it.
public final class VirtioPCIFunction: PCIFunction {
    public enum Layout {
        public static let msixBar = 1
        public static let configBar = 4
        public static let configBarSize: UInt64 = 0x4000
        public static let commonOffset: UInt64 = 0x0000
        public static let isrOffset: UInt64 = 0x1000
        public static let deviceOffset: UInt64 = 0x2000
        public static let notifyOffset: UInt64 = 0x3000
        public static let notifyMultiplier: UInt32 = 4
        public static let msixTableOffset: UInt32 = 0
        public static let msixPBAOffset: UInt32 = 0x800
    }

    /// Everything the transport knows, for suspend and restore.
    public struct State: Codable, Equatable, Sendable {
        public var config: PCIConfigSpace
        public var msix: MSIXTable
        public var transport: VirtioTransportState
        /// The model's host input not yet in guest memory (`VirtioDeviceModel.savePendingInput`); absent in
        /// snapshots written before it was saved.
        public var pendingInput: [[UInt8]] = []
    }

    public let model: any VirtioDeviceModel
    public let memory: GuestMemory
    public private(set) var config: PCIConfigSpace
    public private(set) var msix: MSIXTable
    public internal(set) var transport: VirtioTransportState
    private let interrupts: PCIInterruptOut
    private let name: String
    private let log: @Sendable (String) -> Void
    private var intxAsserted = false
    /// Called under the bus's lock when a queue notification arrives as a write to the notify register (not through
    /// `serviceQueue`), before the queue is served: the VMM may then have later ones delivered elsewhere (KVM's
    /// ioeventfd, so they no longer stop the vCPU).
    public var onNotifyWrite: ((_ queue: Int) -> Void)?
    /// Where the VIRTIO_PCI_CAP_PCI_CFG capability sits: a window into the BARs through configuration space.
    private let pciConfigWindow: Int

    public init(model: any VirtioDeviceModel, memory: GuestMemory, interrupts: PCIInterruptOut, name: String,
                log: (@Sendable (String) -> Void)? = nil) {
        self.model = model
        self.memory = memory
        self.interrupts = interrupts
        self.name = name
        self.log = log ?? { message in
            let line = message + "\n"
            _ = line.withCString { write(2, $0, strlen($0)) }
        }
        var config = PCIConfigSpace(vendorID: 0x1AF4, deviceID: 0x1040 + model.deviceType,
                                    classCode: model.pciClassCode, revision: 1, subsystemVendorID: 0x1AF4,
                                    subsystemID: 0x40, interruptPin: 1)
        config.defineBar(Layout.msixBar, PCIBarDefinition(kind: .memory32, size: 0x1000))
        config.defineBar(Layout.configBar, PCIBarDefinition(kind: .memory64, size: Layout.configBarSize,
                                                            prefetchable: true))
        let vectors = model.queueCount + 1
        msix = MSIXTable(vectors: vectors, config: &config, bar: Layout.msixBar, tableOffset: Layout.msixTableOffset,
                         pbaOffset: Layout.msixPBAOffset)
        VirtioPCIFunction.addVirtioCapability(&config, type: 1, offset: Layout.commonOffset, length: 0x38)
        VirtioPCIFunction.addVirtioCapability(&config, type: 2, offset: Layout.notifyOffset,
                                 length: UInt32(model.queueCount) * Layout.notifyMultiplier,
                                 extra: Layout.notifyMultiplier)
        VirtioPCIFunction.addVirtioCapability(&config, type: 3, offset: Layout.isrOffset, length: 1)
        VirtioPCIFunction.addVirtioCapability(&config, type: 4, offset: Layout.deviceOffset, length: 0x1000)
        pciConfigWindow = VirtioPCIFunction.addVirtioCapability(&config, type: 5, offset: 0, length: 0,
                                                                extra: 0, writable: true)
        self.config = config
        transport = VirtioTransportState(queueCount: model.queueCount, maxQueueSize: model.maxQueueSize)
    }

    /// A virtio_pci_cap (virtio 1.x 4.1.4): vendor-specific capability 0x09.
    /// `writable` makes bar, offset, length and the trailing dword guest-writable (the PCI_CFG window).
    @discardableResult
    private static func addVirtioCapability(_ config: inout PCIConfigSpace, type: UInt8, offset: UInt64,
                                            length: UInt32, extra: UInt32? = nil, writable: Bool = false) -> Int {
        var body: [UInt8] = [extra == nil ? 16 : 20, type, UInt8(Layout.configBar), 0, 0, 0]
        for value in [UInt32(offset), length] + (extra.map { [$0] } ?? []) {
            for i in 0..<4 { body.append(UInt8(truncatingIfNeeded: value >> (8 * UInt32(i)))) }
        }
        let mask: [UInt8] = writable ? [0, 0, 0xFF, 0, 0, 0] + [UInt8](repeating: 0xFF, count: 12) : []
        return config.addCapability(id: 0x09, body: body, writableBody: mask)
    }

    public var status: UInt8 { transport.status }

    // MARK: - Configuration space

    public func readConfig(offset: Int, size: Int) -> UInt32 {
        if touchesWindowData(offset: offset, size: size), let (bar, at, length) = windowTarget() {
            // Fetch what the window points at into pci_cfg_data, then read it like any config register.
            config.set32(pciConfigWindow + 16, UInt32(truncatingIfNeeded: readBar(bar, offset: at, size: length)))
        }
        return config.read(offset: offset, size: size)
    }

    public func writeConfig(offset: Int, size: Int, value: UInt32) {
        config.write(offset: offset, size: size, value: value)
        if touchesWindowData(offset: offset, size: size), let (bar, at, length) = windowTarget() {
            let data = UInt64(config.read(offset: pciConfigWindow + 16, size: 4))
            writeBar(bar, offset: at, size: length, value: data & (UInt64.max >> (64 - 8 * UInt64(length))))
        }
        // Masks and INTx-disable may have changed.
        for message in msix.flushPending(config: config) { interrupts.msi?.deliver(address: message.address, data: message.data) }
        updateINTx()
    }

    private func touchesWindowData(offset: Int, size: Int) -> Bool {
        offset < pciConfigWindow + 20 && offset + size > pciConfigWindow + 16
    }

    /// The BAR access the PCI_CFG window describes (cap.bar, cap.offset, cap.length), if it is a sane one.
    private func windowTarget() -> (bar: Int, offset: UInt64, length: Int)? {
        let bar = Int(config.read(offset: pciConfigWindow + 4, size: 1))
        let offset = UInt64(config.read(offset: pciConfigWindow + 8, size: 4))
        let length = Int(config.read(offset: pciConfigWindow + 12, size: 4))
        guard [1, 2, 4].contains(length), offset % UInt64(length) == 0,
              bar == Layout.configBar || bar == Layout.msixBar else { return nil }
        return (bar, offset, length)
    }

    // MARK: - BARs

    public func readBar(_ index: Int, offset: UInt64, size: Int) -> UInt64 {
        if index == Layout.msixBar {
            return offset < UInt64(Layout.msixPBAOffset) ? msix.readTable(offset: offset, size: size)
                : msix.readPBA(offset: offset - UInt64(Layout.msixPBAOffset), size: size)
        }
        guard index == Layout.configBar else { return 0 }
        switch offset {
        case Layout.commonOffset..<Layout.isrOffset: return readCommon(offset: offset, size: size)
        case Layout.isrOffset:
            let value = transport.isr
            transport.isr = 0
            updateINTx()
            return UInt64(value)
        case Layout.deviceOffset..<Layout.notifyOffset:
            return model.readConfig(offset: Int(offset - Layout.deviceOffset), size: size)
        default: return 0
        }
    }

    public func writeBar(_ index: Int, offset: UInt64, size: Int, value: UInt64) {
        if index == Layout.msixBar {
            guard offset < UInt64(Layout.msixPBAOffset) else { return }
            for message in msix.writeTable(offset: offset, size: size, value: value, config: config) {
                interrupts.msi?.deliver(address: message.address, data: message.data)
            }
            return
        }
        guard index == Layout.configBar else { return }
        switch offset {
        case Layout.commonOffset..<Layout.isrOffset: writeCommon(offset: offset, size: size, value: value)
        case Layout.deviceOffset..<Layout.notifyOffset:
            model.writeConfig(offset: Int(offset - Layout.deviceOffset), size: size, value: value)
        case Layout.notifyOffset..<Layout.configBarSize:
            let queue = Int((offset - Layout.notifyOffset) / UInt64(Layout.notifyMultiplier))
            if queue < transport.queues.count { onNotifyWrite?(queue) }
            notify(queue: queue)
        default: break
        }
    }

    // MARK: - Queues and interrupts

    /// Serves queue `index` because the device has work for it (host data arrived for a receive queue), as a
    /// driver notification would. Call it holding the bus's lock (`PCIBus.exclusively`), from any thread.
    public func serviceQueue(_ index: Int) { notify(queue: index) }

    func notify(queue index: Int) {
        guard index < transport.queues.count, transport.status & VirtioStatus.driverOK != 0,
              transport.status & VirtioStatus.needsReset == 0,
              config.command & PCIConfigSpace.Command.busMaster != 0,
              var ring = transport.queues[index].ring else { return }
        do {
            let published = try model.process(queue: index, &ring, memory: memory)
            var wanted = false
            if published { wanted = try ring.shouldNotify(in: memory) }
            transport.queues[index].ring = ring
            if wanted { interrupt(vector: transport.queues[index].msixVector, isrBit: 1) }
        } catch {
            transport.queues[index].ring = ring
            enterNeedsReset("queue \(index): \(error)")
        }
    }

    /// The driver broke the protocol: stop serving it until it resets the device, and say so once.
    func enterNeedsReset(_ reason: String) {
        guard transport.status & VirtioStatus.needsReset == 0 else { return }
        transport.status |= VirtioStatus.needsReset
        log("\(name): driver error, device needs reset: \(reason)")
        transport.configGeneration &+= 1
        interrupt(vector: transport.configVector, isrBit: 2)
    }

    private func interrupt(vector: UInt16, isrBit: UInt8) {
        if msix.isEnabled(config) {
            guard vector != VirtioTransportState.noVector,
                  let message = msix.signal(Int(vector), config: config) else { return }
            interrupts.msi?.deliver(address: message.address, data: message.data)
        } else {
            transport.isr |= isrBit
            updateINTx()
        }
    }

    func updateINTx() {
        let level = transport.isr != 0 && !msix.isEnabled(config)
        config.setInterruptStatus(level)
        let asserted = level && config.command & PCIConfigSpace.Command.interruptDisable == 0
        if asserted != intxAsserted {
            intxAsserted = asserted
            interrupts.intx.setLevel(asserted)
        }
    }

    // MARK: - State

    public func saveState() -> State {
        State(config: config, msix: msix, transport: transport, pendingInput: model.savePendingInput())
    }

    public func restoreState(_ state: State) throws {
        guard state.transport.queues.count == model.queueCount, state.msix.count == msix.count,
              state.config.bars == config.bars else {
            throw DeviceStateError.invalid(device: name, reason: "the saved state is for a different device layout")
        }
        for queue in state.transport.queues {
            if let ring = queue.ring { try ring.validateLayout(in: memory) }
        }
        try model.restorePendingInput(state.pendingInput)
        config = state.config
        msix = state.msix
        transport = state.transport
        if transport.status & VirtioStatus.driverOK != 0 { model.activate(features: transport.driverFeatures) }
        updateINTx()
    }
}

extension VirtioPCIFunction.State {
    private enum CodingKeys: String, CodingKey { case config, msix, transport, pendingInput }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        config = try container.decode(PCIConfigSpace.self, forKey: .config)
        msix = try container.decode(MSIXTable.self, forKey: .msix)
        transport = try container.decode(VirtioTransportState.self, forKey: .transport)
        pendingInput = try container.decodeIfPresent([[UInt8]].self, forKey: .pendingInput) ?? []
    }
}
