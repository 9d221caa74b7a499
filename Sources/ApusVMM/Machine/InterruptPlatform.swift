import ApusCore
import ApusDevices

/// The PC's interrupt controllers, timers and power management, put on a machine's buses: the 8259A pair, the
/// IOAPIC and the GSI routing between them (on both backends), one local APIC per vCPU (only on the software CPU;
/// KVM keeps its LAPICs in the kernel and takes the IOAPIC's messages by KVM_SIGNAL_MSI), the 8254 with port 0x61, the CMOS clock, the 8042 (its reset line) and the ACPI PM
/// block (S5 power-off, PM timer, reset register). The fixed legacy IRQs are reserved first.
struct InterruptPlatform {
    var ports: IOBus
    var mmio: IOBus
    let backend: any MachineBackend
    let control: RunControl
    let vcpuCount: Int
    var slots: [DeviceSlot] = []
    var timer: PlatformTimer?
    /// Set when the VMM supplies the controllers: which inputs each GSI drives.
    var routing: GSIRouting?
    /// Where devices send MSIs (PCI MSI/MSI-X later): the VMM's APIC bus, or the backend's (KVM_SIGNAL_MSI).
    var msiSink: (any MSISink)?

    init(ports: IOBus, mmio: IOBus, backend: any MachineBackend, control: RunControl, vcpuCount: Int) {
        self.ports = ports
        self.mmio = mmio
        self.backend = backend
        self.control = control
        self.vcpuCount = vcpuCount
    }

    mutating func build(resources: inout ResourceAllocator) throws {
        for irq in [PlatformLayout.pitIRQ, PlatformLayout.cascadeIRQ, PlatformLayout.rtcIRQ, PlatformLayout.sciIRQ] {
            _ = try resources.reserveIRQ(irq)
        }
        msiSink = backend.msiSink
        if backend.needsExternalInterruptController { try addControllers(resources: &resources) }
        let line: (UInt32) throws -> any InterruptLine = { [routing, backend] gsi in
            try routing.map { try $0.line(gsi) } ?? backend.interruptLine(gsi)
        }

        let timer = PlatformTimer()
        let pit = PIT8254(irq0: try line(PlatformLayout.pitIRQ)) { timer.poke() }
        timer.attach(pit)
        control.atEndOfRun { timer.stop() }
        self.timer = timer
        let pitSlot = DeviceSlot(name: "pit", device: pit)
        ports = try ports.inserting(pitSlot, at: try resources.reservePorts(PlatformLayout.pitPort, count: 4))
        ports = try ports.inserting(DeviceSlot(name: "port-61", device: pit.systemControlPort),
                                    at: try resources.reservePorts(PlatformLayout.systemControlPortB, count: 1))
        let cmos = DeviceSlot(name: "cmos", device: CMOSClock())
        ports = try ports.inserting(cmos, at: try resources.reservePorts(PlatformLayout.cmosPort, count: 2))
        // The keyboard controller's reset line is how a PC guest reboots (Linux: reboot=k).
        let control = self.control
        let keyboard = I8042Controller { control.finish(.systemEvent(.reset)) }
        let keyboardSlot = DeviceSlot(name: "i8042", device: keyboard)
        ports = try ports.inserting(keyboardSlot, at: try resources.reservePorts(PlatformLayout.keyboardDataPort, count: 1))
        ports = try ports.inserting(DeviceSlot(name: "i8042-command-port", device: keyboard.commandPort),
                                    at: try resources.reservePorts(PlatformLayout.keyboardCommandPort, count: 1))
        // ACPI: S5 in PM1a_CNT powers off, the FADT's reset register resets.
        let power = ACPIPowerManagement(sci: try line(PlatformLayout.sciIRQ),
                                        onPowerOff: { control.finish(.systemEvent(.shutdown)) },
                                        onReset: { control.finish(.systemEvent(.reset)) })
        let powerSlot = DeviceSlot(name: "acpi-pm", device: power)
        ports = try ports.inserting(powerSlot, at: try resources.reservePorts(PlatformLayout.acpiPMPort,
                                                                             count: ACPIPowerManagement.blockSize))
        slots += [pitSlot, cmos, keyboardSlot, powerSlot]
    }

    /// The 8259A pair, the IOAPIC on the MMIO bus, a local APIC per vCPU on the APIC bus where the backend wants
    /// the VMM's (the bootstrap processor's LINT0 is the 8259A's virtual wire), and the routing: ISA IRQ n drives PIC pin n and IOAPIC pin n
    /// (IRQ 0 pin 2, as the MADT's override says); GSIs 16-23 drive IOAPIC pins only.
    private mutating func addControllers(resources: inout ResourceAllocator) throws {
        let backend = self.backend
        let pic = DualPIC { [weak backend] in backend?.externalInterruptRaised() }
        backend.connect(pic)
        let master = DeviceSlot(name: "pic", device: pic)
        ports = try ports.inserting(master, at: try resources.reservePorts(PlatformLayout.picMasterPort, count: 2))
        ports = try ports.inserting(DeviceSlot(name: "pic-slave-ports", device: pic.slavePorts),
                                    at: try resources.reservePorts(PlatformLayout.picSlavePort, count: 2))
        slots.append(master)

        var routing = GSIRouting()
        for irq in 0..<16 where irq != Int(PlatformLayout.cascadeIRQ) {
            routing.connect(UInt32(irq), to: try pic.line(irq))
        }
        // The IOAPIC's messages go to the VMM's own APIC bus (software CPU) or into the backend's LAPICs (KVM).
        let bus: InterruptBus? = backend.needsLocalAPICs ? InterruptBus() : nil
        guard let sink: any MSISink = bus ?? backend.msiSink else {
            self.routing = routing
            return
        }
        msiSink = sink
        var routesChanged: (@Sendable ([MSIMessage]) -> Void)?
        if backend.keepsLocalAPICsOnly {
            routesChanged = { [weak backend] routes in backend?.ioapicRoutesChanged(routes) }
        }
        let ioapic = IOAPIC(sink: sink, onRoutesChanged: routesChanged)
        if let bus { bus.register(ioapic) } else { backend.connect(endOfInterruptListener: ioapic) }
        routesChanged?(ioapic.saveState().routes)
        let ioapicSlot = DeviceSlot(name: "ioapic", device: ioapic)
        mmio = try mmio.inserting(ioapicSlot, at: GuestRange(start: GuestAddress(PlatformLayout.ioapicAddress),
                                                             size: IOAPIC.registerWindowSize))
        slots.append(ioapicSlot)
        for irq in 0..<16 where irq != Int(PlatformLayout.cascadeIRQ) {
            routing.connect(UInt32(irq), to: try ioapic.line(irq == 0 ? 2 : irq))
        }
        for gsi in 16..<IOAPICState.pinCount { routing.connect(UInt32(gsi), to: try ioapic.line(gsi)) }
        self.routing = routing
        guard let bus else { return }
        let apics = (0..<vcpuCount).map { index in
            LocalAPIC(id: UInt32(index), bootstrap: index == 0, bus: bus, externalController: index == 0 ? pic : nil) {
                [weak backend] in backend?.localInterruptRaised(vcpu: index)
            }
        }
        for apic in apics { bus.register(apic) }
        backend.connect(localAPICs: apics)
        slots += apics.enumerated().map { DeviceSlot(name: "lapic\($0.offset)", device: $0.element) }
        // The bus and the APICs refer to each other; the end of the run breaks the cycle.
        control.atEndOfRun { bus.disconnectAll() }
    }
}
