import ApusBoot
import ApusCore
import ApusSoftCPU
import Synchronization
import Testing

/// An opcode the interpreter has no case for raises #UD in the guest, as an undefined opcode does on hardware, and
/// the machine's diagnostics name it once, with its address, for the VM log.
@Suite struct NotImplementedOpcodeTests {
    @Test func theGuestGetsUDAndTheLogNamesTheOpcode() throws {
        let memory = try GuestMemory(size: 4 << 20)
        // 66 0F 38 DB C0 (AESIMC, not advertised) twice; with an empty IDT the #UD escalates to a triple fault.
        try memory.write([0x66, 0x0F, 0x38, 0xDB, 0xC0, 0x66, 0x0F, 0x38, 0xDB, 0xC0], at: GuestAddress(0x100000))
        let machine = try SoftCPUHypervisor().makeMachine(memory: memory, options: MachineOptions())
        let messages = Mutex<[String]>([])
        machine.setDiagnosticsHandler { message in messages.withLock { $0.append(message) } }
        let vcpu = try machine.makeVCPU(index: 0)
        let (registers, special) = try EntryState.longMode(entry: 0x100000, stack: 0x80000, memory: memory)
        try vcpu.setSpecialRegisters(special)
        try vcpu.setRegisters(registers)
        let exit = try vcpu.run()
        #expect(exit.kind == VCPUExit.shutdown.kind, "an undeliverable #UD ends in a triple fault, got \(exit.kind)")
        let logged = messages.withLock { $0 }
        #expect(logged.count == 1)
        #expect(logged.first?.contains("opcode 0F 38 DB at rip 0x100000") == true, "\(logged)")
    }
}
