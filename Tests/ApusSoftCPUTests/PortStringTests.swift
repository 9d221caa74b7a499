import ApusCore
import ApusSoftCPU
import Testing

/// INS and OUTS (REP or not, either direction): one port access per exit, with RDI/RSI/RCX advanced per element.
@Suite struct PortStringTests {
    /// Runs to HLT, answering each port read with the next byte of `input` and recording every port write.
    func run(_ machine: SoftCPUTestMachine, input: [UInt8]) throws -> (reads: Int, writes: [(UInt16, UInt64)]) {
        var reads = 0
        var writes: [(UInt16, UInt64)] = []
        for _ in 0..<100 {
            switch try machine.vcpu.run() {
            case .portIO(let access) where access.direction == .read:
                for index in 0..<access.size { access.data[index] = input[(reads * access.size + index) % input.count] }
                reads += 1
            case .portIO(let access):
                let value = (0..<access.size).reduce(UInt64(0)) { $0 | UInt64(access.data[$1]) << (8 * UInt64($1)) }
                writes.append((access.port, value))
            case .halt:
                return (reads, writes)
            case let other:
                Issue.record("unexpected exit \(other.kind)")
                return (reads, writes)
            }
        }
        Issue.record("the guest did not halt")
        return (reads, writes)
    }

    @Test func repInsAndOutsMoveOneElementPerExit() throws {
        let code: [UInt8] = [
            0xBF, 0x00, 0x00, 0x20, 0x00,   // mov edi, 0x200000
            0xB9, 0x04, 0x00, 0x00, 0x00,   // mov ecx, 4
            0xBA, 0x34, 0x12, 0x00, 0x00,   // mov edx, 0x1234
            0xF3, 0x6C,                     // rep insb
            0xBE, 0x00, 0x00, 0x20, 0x00,   // mov esi, 0x200000
            0xB9, 0x02, 0x00, 0x00, 0x00,   // mov ecx, 2
            0x66, 0xF3, 0x6F,               // rep outsw
            0xF4,
        ]
        let machine = try SoftCPUTestMachine(code: code)
        let (reads, writes) = try run(machine, input: [0x11, 0x22, 0x33, 0x44])
        #expect(reads == 4)
        #expect(writes.map(\.0) == [0x1234, 0x1234])
        #expect(writes.map(\.1) == [0x2211, 0x4433])
        #expect(try machine.memory.read(UInt32.self, at: GuestAddress(0x200000)) == 0x4433_2211)
        let registers = try machine.vcpu.registers()
        #expect(registers.rdi == 0x200004 && registers.rsi == 0x200004 && registers.rcx == 0)
    }

    @Test func singleOutsdWithDirectionFlagSetStepsDown() throws {
        let code: [UInt8] = [
            0xBE, 0x08, 0x00, 0x20, 0x00,   // mov esi, 0x200008
            0xBA, 0x80, 0x00, 0x00, 0x00,   // mov edx, 0x80
            0xFD,                           // std
            0x6F,                           // outsd
            0x6F,                           // outsd
            0xF4,
        ]
        let machine = try SoftCPUTestMachine(code: code)
        try machine.memory.write(UInt64(0x0BAD_F00D_1234_5678), at: GuestAddress(0x200004))
        let (_, writes) = try run(machine, input: [0])
        #expect(writes.map(\.1) == [0x0BAD_F00D, 0x1234_5678])
        #expect(try machine.vcpu.registers().rsi == 0x200000)
    }

    @Test func repInsWithZeroCountTouchesNothing() throws {
        // mov ecx, 0; rep insd; hlt
        let machine = try SoftCPUTestMachine(code: [0xB9, 0x00, 0x00, 0x00, 0x00, 0xF3, 0x6D, 0xF4])
        let (reads, writes) = try run(machine, input: [0xFF])
        #expect(reads == 0 && writes.isEmpty)
    }
}
