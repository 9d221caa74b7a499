public import ApusCore
import Synchronization

/// A vCPU backend that replays a script of exits instead of running guest code, so VMM and dispatcher code can be
/// tested without /dev/kvm or a software CPU (the role NIO's EmbeddedChannel plays for channel handlers).
///
/// Each step names an exit; for reads it records what the VMM wrote into the data buffer, so a test can check that
/// the dispatcher completed the access exactly as a backend would see it.
public final class ScriptedVCPU: VCPUBackend {
    public enum Step {
        case portWrite(port: UInt16, bytes: [UInt8])
        case portRead(port: UInt16, size: Int)
        case mmioWrite(address: UInt64, bytes: [UInt8])
        case mmioRead(address: UInt64, size: Int)
        case halt
        case shutdown
        case internalError(String)
    }

    public let index: Int
    private var steps: [Step]
    private var buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
    /// Size of the read the VMM is completing, reported with the next run().
    private var pendingReadSize: Int?
    /// The bytes the VMM supplied for each completed read, in order.
    public private(set) var completedReads: [[UInt8]] = []
    public private(set) var state = CPUState()
    private let scriptKicker = ScriptedKicker()

    public init(index: Int = 0, steps: [Step]) {
        self.index = index
        self.steps = steps
    }

    deinit { buffer.deallocate() }

    /// Whether the VMM made this vCPU an application processor waiting for start-up.
    public private(set) var awaitsStartup = false
    public func awaitStartup() throws { awaitsStartup = true }

    public func run() throws -> VCPUExit {
        if let size = pendingReadSize {
            completedReads.append(Array(buffer[0..<size]))
            pendingReadSize = nil
        }
        if scriptKicker.consume() { return .interrupted }
        guard !steps.isEmpty else { return .halt }
        let step = steps.removeFirst()
        switch step {
        case .portWrite(let port, let bytes):
            copy(bytes)
            return .portIO(PortIOExit(port: port, size: bytes.count, direction: .write,
                                      data: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<bytes.count])))
        case .portRead(let port, let size):
            pendingReadSize = size
            return .portIO(PortIOExit(port: port, size: size, direction: .read,
                                      data: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<size])))
        case .mmioWrite(let address, let bytes):
            copy(bytes)
            return .mmio(MMIOExit(address: GuestAddress(address), size: bytes.count, direction: .write,
                                  data: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<bytes.count])))
        case .mmioRead(let address, let size):
            pendingReadSize = size
            return .mmio(MMIOExit(address: GuestAddress(address), size: size, direction: .read,
                                  data: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<size])))
        case .halt: return .halt
        case .shutdown: return .shutdown
        case .internalError(let message): return .internalError(message)
        }
    }

    private func copy(_ bytes: [UInt8]) {
        for (i, byte) in bytes.prefix(buffer.count).enumerated() { buffer[i] = byte }
    }

    public func registers() throws -> Registers { state.registers }
    public func setRegisters(_ registers: Registers) throws { state.registers = registers }
    public func specialRegisters() throws -> SpecialRegisters { state.specialRegisters }
    public func setSpecialRegisters(_ registers: SpecialRegisters) throws { state.specialRegisters = registers }
    public func fpu() throws -> FPUState { state.fpu }
    public func setFPU(_ fpu: FPUState) throws { state.fpu = fpu }
    public func msrs(_ indices: [UInt32]) throws -> [UInt32: UInt64] { state.msrs.filter { indices.contains($0.key) } }
    public func setMSRs(_ values: [UInt32: UInt64]) throws { state.msrs.merge(values) { $1 } }
    public var kicker: any VCPUKicker { scriptKicker }
}

/// Kicks a scripted vCPU: the next `run()` returns `.interrupted`.
final class ScriptedKicker: VCPUKicker {
    private let pending = Atomic<Bool>(false)
    func kick() { pending.store(true, ordering: .releasing) }
    func consume() -> Bool { pending.exchange(false, ordering: .acquiringAndReleasing) }
}
