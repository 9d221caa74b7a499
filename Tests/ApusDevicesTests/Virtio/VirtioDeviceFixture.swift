import ApusCore
import ApusDevices
import ApusTesting

/// Any virtio device model behind the modern PCI transport on its own bus and 8 MiB of guest memory, with the
/// driver-side double: what a guest sees, without a guest.
final class VirtioDeviceFixture {
    static let memorySize: UInt64 = 8 << 20
    /// Guest addresses tests put buffers at (the rings sit from 0x10000, see `VirtioPCITestDriver.queueStride`).
    static let buffers: UInt64 = 0x40000
    static let indirectTable: UInt64 = 0x70000

    let memory: GuestMemory
    let bus: PCIBus
    let msi: RecordingMSISink
    let intx: RecordingInterruptLine
    let logLines = LineRecorder()
    let function: VirtioPCIFunction
    let driver: VirtioPCITestDriver

    init(model: any VirtioDeviceModel, name: String) throws {
        memory = try GuestMemory(size: Self.memorySize)
        bus = PCIBus()
        msi = RecordingMSISink()
        intx = RecordingInterruptLine()
        let recorder = logLines
        function = VirtioPCIFunction(model: model, memory: memory, interrupts: PCIInterruptOut(intx: intx, msi: msi),
                                     name: name, log: { recorder.append($0) })
        let device = try bus.plug(function)
        driver = VirtioPCITestDriver(bus: bus, device: device, memory: memory)
    }

    var needsReset: Bool { driver.status & VirtioStatus.needsReset != 0 }

    /// What a host thread does when data arrives for a receive queue.
    func service(queue index: Int) { bus.exclusively { function.serviceQueue(index) } }
}
