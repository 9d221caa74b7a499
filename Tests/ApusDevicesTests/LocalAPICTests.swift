import ApusCore
import ApusDevices
import Synchronization
import Testing

/// The local APIC as a state machine (LocalAPICState) and through its thread-safe shell (LocalAPIC): priorities,
/// EOI, level-triggered EOI broadcast, the LVT and timer modes on a settable clock, the ICR, IA32_APIC_BASE and
/// x2APIC rules, and hostile register writes.
@Suite struct LocalAPICTests {
    final class TestClock: DeviceClock {
        let now = Mutex<UInt64>(1_000_000)
        func nanoseconds() -> UInt64 { now.withLock { $0 } }
        func advance(_ nanoseconds: UInt64) { now.withLock { $0 += nanoseconds } }
    }

    /// An APIC software-enabled through its SVR (vector 0xFF), TPR 0.
    func enabled(id: UInt32 = 0) -> LocalAPICState {
        var apic = LocalAPICState(id: id, bootstrap: id == 0)
        _ = apic.writeRegister(0xF0, 0x1FF, now: 0)
        return apic
    }

    @Test func powerUpStateIsTheBIOSVirtualWire() {
        let apic = LocalAPICState(id: 0, bootstrap: true)
        #expect(apic.baseMSR == 0xFEE0_0900)
        #expect(!apic.softwareEnabled)
        #expect(apic.acceptsExternalInterrupts, "LINT0 is ExtINT, unmasked")
        #expect(apic.readRegister(0x30, now: 0) == 0x0005_0014)
        #expect(apic.readRegister(0x320, now: 0) == 0x1_0000)
        #expect(!LocalAPICState(id: 1, bootstrap: false).acceptsExternalInterrupts)
    }

    @Test func prioritiesClassesAndEOI() {
        var apic = enabled()
        apic.accept(InterruptRequest(vector: 0x41))
        apic.accept(InterruptRequest(vector: 0x82))
        apic.accept(InterruptRequest(vector: 0x85))
        var vector = apic.acknowledge()
        #expect(vector == 0x85)
        #expect(apic.processorPriority == 0x80)
        #expect(apic.deliverableVector == nil, "0x82 is in the same class as the one in service")
        _ = apic.writeRegister(0xB0, 0, now: 0)   // EOI
        vector = apic.acknowledge()
        #expect(vector == 0x82)
        _ = apic.writeRegister(0xB0, 0, now: 0)
        _ = apic.writeRegister(0x80, 0x50, now: 0)  // TPR class 5 blocks 0x41
        #expect(apic.deliverableVector == nil)
        _ = apic.writeRegister(0x80, 0x30, now: 0)
        vector = apic.acknowledge()
        #expect(vector == 0x41)
        #expect(apic.readRegister(0x100 + 0x20, now: 0) == 1 << 1, "ISR bit for 0x41")
    }

    @Test func levelTriggeredVectorsBroadcastTheirEOI() {
        var apic = enabled()
        apic.accept(InterruptRequest(vector: 0x49, levelTriggered: true))
        #expect(apic.readRegister(0x180 + 0x20, now: 0) == 1 << 9, "TMR")
        let vector = apic.acknowledge()
        #expect(vector == 0x49)
        var actions = apic.writeRegister(0xB0, 0, now: 0).actions
        #expect(actions == [.endOfInterrupt(vector: 0x49)])
        apic.accept(InterruptRequest(vector: 0x4A))
        _ = apic.acknowledge()
        actions = apic.writeRegister(0xB0, 0, now: 0).actions
        #expect(actions == [], "edge: no broadcast")
    }

    @Test func softwareDisabledAPICDropsFixedInterruptsAndMasksItsLVT() {
        var apic = LocalAPICState(id: 0, bootstrap: true)
        apic.accept(InterruptRequest(vector: 0x40))
        #expect(apic.deliverableVector == nil)
        _ = apic.writeRegister(0x370, 0x33, now: 0)
        #expect(apic.readRegister(0x370, now: 0) == 0x1_0033, "the mask cannot be cleared while disabled")
        apic = enabled()
        apic.accept(InterruptRequest(vector: 0x05))
        #expect(apic.deliverableVector == nil, "vectors below 16 are illegal")
        _ = apic.writeRegister(0x280, 0, now: 0)
        #expect(apic.readRegister(0x280, now: 0) == 1 << 6, "receive illegal vector, latched by the ESR write")
    }

    @Test func oneShotPeriodicAndDeadlineTimers() {
        var apic = enabled()
        _ = apic.writeRegister(0x3E0, 0xB, now: 0)        // divide by 1
        _ = apic.writeRegister(0x320, 0x30, now: 0)       // one-shot, vector 0x30
        _ = apic.writeRegister(0x380, 1000, now: 0)
        #expect(apic.readRegister(0x390, now: 400) == 600)
        var due = apic.serviceTimer(now: 999)
        #expect(due == 1000)
        due = apic.serviceTimer(now: 1000)
        #expect(due == nil)
        let vector = apic.acknowledge()
        #expect(vector == 0x30)
        #expect(apic.readRegister(0x390, now: 2000) == 0)

        _ = apic.writeRegister(0x3E0, 0x0, now: 2000)     // divide by 2
        _ = apic.writeRegister(0x320, 0x2_0031, now: 2000) // periodic
        _ = apic.writeRegister(0x380, 100, now: 2000)      // 200 ns per period
        due = apic.serviceTimer(now: 2200)
        #expect(due == 2400)
        due = apic.serviceTimer(now: 3050)
        #expect(due == 3200, "missed periods collapse into one interrupt")
        #expect(apic.interruptRequest[0x31])

        _ = apic.writeRegister(0x320, 0x4_0032, now: 3100) // TSC deadline: the count stops
        #expect(apic.timerDue == nil)
        _ = apic.writeRegister(0x380, 5, now: 3100)
        #expect(apic.timerDue == nil, "the initial count is ignored in TSC-deadline mode")
        apic.armTSCDeadline(raw: 777, dueAt: 5000)
        due = apic.serviceTimer(now: 4999)
        #expect(due == 5000)
        due = apic.serviceTimer(now: 5000)
        #expect(due == nil)
        #expect(apic.interruptRequest[0x32] && apic.tscDeadline == 0)
    }

    @Test func theICRSendsWithDestinationsAndShorthands() {
        var apic = enabled()
        _ = apic.writeRegister(0x310, 0x0300_0000, now: 0)
        func send(_ low: UInt32) -> [APICAction] { apic.writeRegister(0x300, low, now: 0).actions }
        let fixed = send(0x0000_4041), selfIPI = send(0x0004_4042), nmi = send(0x000C_0400)
        let initDeassert = send(0x0000_8500), illegal = send(0x0000_4005)
        #expect(fixed == [.send(InterruptRequest(vector: 0x41), destination: 3, logical: false)])
        #expect(selfIPI == [.sendShorthand(InterruptRequest(vector: 0x42), .selfOnly)])
        #expect(nmi == [.sendShorthand(InterruptRequest(vector: 0, deliveryMode: .nmi), .allExcludingSelf)])
        #expect(initDeassert == [], "INIT level de-assert does nothing")
        #expect(illegal == [], "illegal vector")
        #expect(apic.readRegister(0x300, now: 0)! & (1 << 12) == 0, "delivery status idle")
    }

    @Test func logicalDestinationsInFlatAndClusterModels() {
        var apic = enabled(id: 2)
        _ = apic.writeRegister(0xD0, 0x0400_0000, now: 0)
        #expect(apic.isAddressed(by: 0x04, logical: true) && !apic.isAddressed(by: 0x08, logical: true))
        #expect(apic.isAddressed(by: 2, logical: false) && apic.isAddressed(by: 0xFF, logical: false))
        _ = apic.writeRegister(0xE0, 0x0FFF_FFFF, now: 0)  // cluster model
        _ = apic.writeRegister(0xD0, 0x2100_0000, now: 0)  // cluster 2, member bit 0
        #expect(apic.isAddressed(by: 0x21, logical: true) && !apic.isAddressed(by: 0x11, logical: true))
    }

    @Test func apicBaseTransitionsFollowTheSDM() {
        var apic = enabled()
        var accepted = apic.setBaseMSR(0xFEE0_0000 | 1 << 10)
        #expect(!accepted, "x2APIC without EN")
        accepted = apic.setBaseMSR(1 << 63)
        #expect(!accepted, "reserved bits")
        accepted = apic.setBaseMSR(0xFEE0_0D00)
        #expect(accepted)
        #expect(apic.x2APICMode && apic.logicalDestination == 1)
        #expect(apic.readRegister(0x20, now: 0) == 0, "x2APIC ID is the full 32 bits")
        accepted = apic.setBaseMSR(0xFEE0_0900)
        #expect(!accepted, "x2APIC back to xAPIC is #GP")
        accepted = apic.setBaseMSR(0xFEE0_0100)
        #expect(accepted)
        #expect(!apic.hardwareEnabled && !apic.softwareEnabled, "a global disable resets the APIC")
        accepted = apic.setBaseMSR(0xFED0_0900)
        #expect(accepted && apic.registerPageBase == 0xFED0_0000)
    }

    @Test func theShellMapsPagesMSRsAndWakesTheCPU() throws {
        let clock = TestClock()
        let wakes = Mutex(0)
        let bus = InterruptBus()
        let apic = LocalAPIC(id: 0, bootstrap: true, bus: bus, externalController: nil, clock: clock) {
            wakes.withLock { $0 += 1 }
        }
        bus.register(apic)
        #expect(apic.mapsRegisterPage(at: 0xFEE0_00B0) && !apic.mapsRegisterPage(at: 0xFEE0_1000))
        apic.writeRegister(offset: 0xF0, size: 4, value: 0x1FF)
        #expect(apic.readRegister(offset: 0xF1, size: 1) == 0x01, "a byte inside a register")
        #expect(apic.readRegister(offset: 0xF4, size: 4) == 0, "beyond the 32 bits of a slot")
        apic.writeRegister(offset: 0x80, size: 1, value: 0xF0)
        #expect(apic.taskPriorityClass == 0, "narrow stores are ignored")
        #expect(apic.readMSR(0x808) == nil, "x2APIC MSRs need x2APIC mode")
        bus.deliver(MSIMessage(vector: 0x55, destination: 0))
        #expect(wakes.withLock { $0 } >= 1 && apic.hasPendingInterrupt)
        #expect(apic.acknowledge() == .vector(0x55))
        #expect(apic.setBaseMSR(0xFEE0_0D00))
        #expect(!apic.mapsRegisterPage(at: 0xFEE0_0000), "x2APIC mode hides the page")
        #expect(apic.writeMSR(0x80B, 0), "EOI")
        #expect(!apic.writeMSR(0x80B, 1), "a non-zero EOI is #GP in x2APIC mode")
        #expect(apic.writeMSR(0x83F, 0x66), "self IPI")
        #expect(apic.acknowledge() == .vector(0x66))
        #expect(apic.writeMSR(0x80B, 0), "EOI of 0x66, which would block 0x67 (same class)")
        #expect(apic.writeMSR(0x830, 0x0000_0000_0004_4067))
        #expect(apic.acknowledge() == .vector(0x67))
        #expect(apic.readMSR(0x802) == 0 && apic.readMSR(0x831) == nil && !apic.writeMSR(0x802, 5))
        apic.setTaskPriorityClass(0xA)
        #expect(apic.readMSR(0x808) == 0xA0)
    }

    @Test func timerStateSurvivesASaveOnAnotherClock() throws {
        let clock = TestClock()
        let apic = LocalAPIC(id: 0, bootstrap: true, bus: InterruptBus(), externalController: nil, clock: clock)
        apic.writeRegister(offset: 0xF0, size: 4, value: 0x1FF)
        apic.writeRegister(offset: 0x3E0, size: 4, value: 0xB)
        apic.writeRegister(offset: 0x320, size: 4, value: 0x40)
        apic.writeRegister(offset: 0x380, size: 4, value: 5000)
        clock.advance(1000)
        let saved = apic.saveState()
        let other = TestClock()
        other.advance(123_456_789)
        let restored = LocalAPIC(id: 0, bootstrap: true, bus: InterruptBus(), externalController: nil, clock: other)
        try restored.restoreState(saved)
        #expect(restored.readRegister(offset: 0x390, size: 4) == 4000)
        var bad = saved
        bad.lvt = [0]
        #expect(throws: DeviceStateError.self) { try restored.restoreState(bad) }
    }

    @Test func hostileRegisterWritesNeverTrap() {
        var apic = enabled()
        var seed: UInt64 = 42
        for _ in 0..<50_000 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            let offset = UInt32((seed >> 12) & 0x3F0)
            _ = apic.writeRegister(offset, UInt32(truncatingIfNeeded: seed >> 32), now: seed >> 40)
            _ = apic.readRegister(offset, now: seed >> 40)
            if seed & 7 == 0 { _ = apic.acknowledge() }
            if seed & 0x70 == 0 { _ = apic.serviceTimer(now: seed >> 30) }
            _ = apic.setBaseMSR(seed)
        }
        #expect(apic.lvt.count == 6)
    }
}
