public import ApusCore
import Synchronization

/// One software vCPU: runs the interpreter until an instruction needs the VMM (port I/O, MMIO), halts, triple-faults
/// or is kicked.
public final class SoftVCPU: VCPUBackend {
    public let index: Int
    let core: CPUCore
    private let softKicker = SoftKicker()
    /// Where exits carry their data, as kvm_run's data area does for KVM.
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 8, alignment: 8)
    /// How many instructions run between two looks at the kick flag.
    static let kickCheckInterval = 4096

    init(index: Int, memory: GuestMemory, model: CPUModel) {
        self.index = index
        core = CPUCore(memory: memory, model: model)
    }

    deinit { buffer.deallocate() }

    public var kicker: any VCPUKicker { softKicker }

    public func run() throws -> VCPUExit {
        // The VMM, devices or another thread may have written guest memory since the last run: decode afresh.
        core.decoded.flushAll()
        if let awaited = core.awaitedRead {
            core.suppliedRead = (awaited.isPort, awaited.address, awaited.size, load(size: awaited.size))
            core.awaitedRead = nil
        }
        var countdown = 0
        while true {
            if countdown == 0 {
                if softKicker.consume() { return .interrupted }
                countdown = Self.kickCheckInterval
            }
            countdown -= 1
            do {
                let result = try core.step()
                if let write = core.pendingWrite {
                    core.pendingWrite = nil
                    store(write.value, size: write.size)
                    return exit(isPort: write.isPort, address: write.address, size: write.size, direction: .write)
                }
                if result == .halt {
                    core.halted = true
                    return .halt   // no interrupt controller can wake this CPU (see SoftMachine)
                }
            } catch ExitRequest.pendingRead {
                core.pendingWrite = nil
                guard let read = core.awaitedRead else { return .internalError("a device read was lost") }
                return exit(isPort: read.isPort, address: read.address, size: read.size, direction: .read)
            } catch let fault as CPUFault {
                core.pendingWrite = nil
                core.suppliedRead = nil
                if core.raise(fault) == .tripleFault { return .shutdown }
            }
        }
    }

    private func exit(isPort: Bool, address: UInt64, size: Int, direction: IODirection) -> VCPUExit {
        let data = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<size])
        if isPort {
            return .portIO(PortIOExit(port: UInt16(truncatingIfNeeded: address), size: size, direction: direction, data: data))
        }
        return .mmio(MMIOExit(address: GuestAddress(address), size: size, direction: direction, data: data))
    }

    private func store(_ value: UInt64, size: Int) {
        for i in 0..<size { buffer[i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
    }

    private func load(size: Int) -> UInt64 {
        (0..<size).reduce(0) { $0 | UInt64(buffer[$1]) << (8 * UInt64($1)) }
    }

    // MARK: State

    public func registers() throws -> Registers {
        var registers = Registers()
        for i in 0..<16 { registers[i] = core.gpr[i] }
        registers.rip = core.rip
        registers.rflags = core.rflags
        return registers
    }

    public func setRegisters(_ registers: Registers) throws {
        for i in 0..<16 { core.gpr[i] = registers[i] }
        core.rip = registers.rip
        core.rflags = registers.rflags | Flag.fixed
        core.decoded.flushAll()
    }

    public func specialRegisters() throws -> SpecialRegisters { core.sregs }
    public func setSpecialRegisters(_ registers: SpecialRegisters) throws {
        core.sregs = registers
        core.decoded.flushAll()
    }
    public func fpu() throws -> FPUState { core.fpu }
    public func setFPU(_ fpu: FPUState) throws { core.fpu = fpu }

    public func msrs(_ indices: [UInt32]) throws -> [UInt32: UInt64] {
        var values: [UInt32: UInt64] = [:]
        for index in indices { if let value = try? core.readMSR(index) { values[index] = value } }
        return values
    }

    public func setMSRs(_ values: [UInt32: UInt64]) throws {
        for (index, value) in values {
            do { try core.writeMSR(index, value) } catch { throw SoftCPUError.unsupported("MSR 0x\(String(index, radix: 16))") }
        }
    }

    public func captureState() throws -> CPUState {
        CPUState(registers: try registers(), specialRegisters: core.sregs, fpu: core.fpu, msrs: try msrs(MSR.saved),
                 pendingInterrupt: nil, halted: core.halted)
    }

    public func restoreState(_ state: CPUState) throws {
        core.sregs = state.specialRegisters
        try setRegisters(state.registers)
        core.fpu = state.fpu
        try setMSRs(state.msrs)
        core.halted = state.halted
        core.decoded.flushAll()   // a snapshot restore rewrites guest memory too
    }
}

/// Kicks a software vCPU: the interpreter looks at the flag every few thousand instructions and before it starts.
final class SoftKicker: VCPUKicker {
    private let pending = Atomic<Bool>(false)
    func kick() { pending.store(true, ordering: .releasing) }
    func consume() -> Bool { pending.exchange(false, ordering: .acquiringAndReleasing) }
}
