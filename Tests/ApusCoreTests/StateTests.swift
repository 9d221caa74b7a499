import ApusCore
import Foundation
import Testing

@Suite struct StateTests {
    @Test func registersAreAddressableByEncoding() {
        var registers = Registers()
        for index in 0..<16 { registers[index] = UInt64(index) * 0x1111 }
        #expect(registers.rax == 0 && registers.rcx == 0x1111 && registers.rsp == 0x4444 && registers.r15 == 0xFFFF)
    }

    @Test func fpuStateDefaultsAndXMMAccessors() {
        var fpu = FPUState()
        #expect(fpu.controlWord == 0x37F)
        #expect(fpu.mxcsr == 0x1F80)
        fpu.setXMM(15, low: 0x0123_4567_89AB_CDEF, high: 0xFEDC_BA98_7654_3210)
        #expect(fpu.xmm(15).low == 0x0123_4567_89AB_CDEF && fpu.xmm(15).high == 0xFEDC_BA98_7654_3210)
    }

    @Test func cpuStateSurvivesJSONRoundTrip() throws {
        var state = CPUState()
        state.registers.rip = 0xFFFF_FFFF_8100_0000
        state.specialRegisters.efer = ControlRegister.eferLME | ControlRegister.eferLMA
        state.msrs = [MSR.lstar: 0xFFFF_FFFF_8180_0000]
        state.pendingInterrupt = 0x30
        let decoded = try JSONDecoder().decode(CPUState.self, from: JSONEncoder().encode(state))
        #expect(decoded == state)
    }
}
