import ApusCore
import ApusDevices
import ApusGuests
import ApusVMM

/// Runs a built-in guest to completion and returns what it printed and how it ended.
func runGuest(_ guest: BuiltInGuest, on backend: BackendChoice,
              unmappedAccess: UnmappedAccessPolicy? = nil) throws -> (MachineOutcome, String) {
    let output = CapturingSerialOutput()
    let machine = try Machine(
        configuration: MachineConfiguration(vcpuCount: guest.vcpus, backend: backend, boot: .guestImage(name: guest.name, bytes: guest.image),
                                            unmappedAccess: unmappedAccess,
                                            interruptController: guest.needsInterruptController ? .full : nil),
        output: output)
    let outcome = try machine.run()
    return (outcome, output.text)
}
