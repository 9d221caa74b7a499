import ApusCore
import ApusBoot

import ApusDevices
import ApusKVM
import Logging

/// A machine put together but not yet running: memory, devices on their buses, the backend machine.
struct MachineParts: Sendable {
    let platform: MachinePlatform
    let memory: GuestMemory
    let backend: any MachineBackend
    let dispatcher: ExitDispatcher
    /// The console UART (COM1), which host input feeds.
    let console: DeviceSlot
    /// Every device whose state a suspend saves, by slot name.
    let devices: [DeviceSlot]
    /// Drives the 8254's IRQ 0 on machines with the interrupt-controller platform.
    let timer: PlatformTimer?
    /// PCI bus 0 and its disks, on machines with the interrupt-controller platform.
    let pci: PCIPlatform?

    /// Creates memory, lets `prepare` fill it (a loader, or a snapshot), then the backend machine and every device,
    /// each at the address, port range and IRQ line the allocator hands out.
    static func build<Entry>(platform: MachinePlatform, hypervisor: any Hypervisor, output: any SerialOutput,
                             control: RunControl, commandLine: String,
                             prepare: (GuestMemory) throws -> Entry) throws -> (MachineParts, Entry) {
        // Before anything else, so an unusable image is refused before the machine takes any resources.
        let images = try PCIPlatform.openDisks(platform.disks)
        let hostDevices = try PCIHostDevices.open(platform)
        let memory = try GuestMemory(size: UInt64(platform.memoryMiB) << 20)
        let entry = try prepare(memory)
        let backend = try hypervisor.makeMachine(
            memory: memory,
            options: MachineOptions(vcpuCount: platform.vcpuCount, interruptController: platform.interruptController))
        backend.setDiagnosticsHandler { message in MachineLog.logger.warning("\(message)") }

        var resources = ResourceAllocator()
        var ports = IOBus(name: "port I/O")
        var mmio = IOBus(name: "MMIO")
        var platformDevices: [DeviceSlot] = []
        var timer: PlatformTimer?
        var routing: GSIRouting?
        var msiSink: (any MSISink)?
        if platform.interruptController == .full {
            var interrupts = InterruptPlatform(ports: ports, mmio: mmio, backend: backend, control: control,
                                               vcpuCount: platform.vcpuCount)
            try interrupts.build(resources: &resources)
            (ports, mmio, platformDevices, timer, routing) = (interrupts.ports, interrupts.mmio, interrupts.slots,
                                                              interrupts.timer, interrupts.routing)
            msiSink = interrupts.msiSink
        }
        // With the VMM's own controllers, lines come from its GSI routing; otherwise from the backend.
        let line: (UInt32) throws -> any InterruptLine = { gsi in
            try routing.map { try $0.line(gsi) } ?? backend.interruptLine(gsi)
        }

        // The MMIO UART takes the first allocation (0xD000_0000, docs/GUEST-ABI.md) and IRQ 5, before PCI's ranges.
        let mmioUART = DeviceSlot(
            name: "mmio-uart",
            device: Serial16550(interrupt: try line(try resources.allocateIRQ()), output: output))
        mmio = try mmio.inserting(mmioUART, at: try resources.allocateMMIO(size: PlatformLayout.mmioUARTSize))

        var pci: PCIPlatform?
        if platform.interruptController == .full {
            pci = try PCIPlatform.build(disks: images, host: hostDevices, memory: memory, ports: &ports, mmio: &mmio,
                                        resources: &resources, line: line, msi: msiSink,
                                        holdingHostInput: control.isPaused,
                                        ioEvents: QueueNotifyOffload.wanted ? backend as? KVMMachine : nil)
            // Whatever way the run ends, what the guest wrote reaches the image files.
            control.atEndOfRun { [pci] in
                pci?.notifyOffload?.stop()  // no disk request is served after the flush
                for failure in pci?.flushDisks() ?? [] { MachineLog.logger.error("\(failure)") }
                pci?.stopHostIO()
            }
        }

        let com1 = DeviceSlot(
            name: "com1",
            device: Serial16550(interrupt: try line(try resources.reserveIRQ(PlatformLayout.com1IRQ)),
                                output: output))
        ports = try ports.inserting(com1, at: try resources.reservePorts(PlatformLayout.com1Port,
                                                                         count: PlatformLayout.uartRegisterCount))

        let debugExit = DeviceSlot(name: "debug-exit", device: DebugExitDevice { code in
            control.finish(.exited(code: code))
        })
        ports = try ports.inserting(debugExit, at: try resources.reservePorts(PlatformLayout.debugExitPort, count: 4))

        let postCode = DeviceSlot(name: "post-code", device: PostCodePort())
        ports = try ports.inserting(postCode, at: try resources.reservePorts(PlatformLayout.postCodePort, count: 1))

        // QEMU's fw_cfg, for kernels written for `qemu -kernel` (RAM size, CPU count, command line).
        let firmwareConfig = DeviceSlot(name: "fw-cfg", device: FirmwareConfig(items: FirmwareConfigItems(
            ramSize: memory.size, cpuCount: platform.vcpuCount, commandLine: commandLine,
            memoryMap: E820Entry.map(for: memory).map { ($0.address, $0.size, $0.type) })))
        ports = try ports.inserting(firmwareConfig, at: try resources.reservePorts(PlatformLayout.firmwareConfigPort,
                                                                                   count: FirmwareConfig.portCount))

        let parts = MachineParts(
            platform: platform, memory: memory, backend: backend,
            dispatcher: ExitDispatcher(portBus: ports, mmioBus: mmio, unmappedPolicy: platform.unmappedAccess),
            console: com1, devices: [com1, debugExit, postCode, firmwareConfig, mmioUART] + platformDevices, timer: timer,
            pci: pci)
        return (parts, entry)
    }

    /// Devices a snapshot from an older Apus may lack; restoring one keeps them as built.
    static let devicesAddedLater: Set<String> = ["fw-cfg"]
}

/// The VMM's log: what a backend reports about a guest (an unimplemented opcode, say) goes here.
enum MachineLog {
    static let logger = Logger(label: "apus.vmm")
}
