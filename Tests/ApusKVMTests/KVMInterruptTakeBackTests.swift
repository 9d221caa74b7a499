import ApusCore
@testable import ApusKVM
import Testing

/// A LAPIC interrupt KVM has acknowledged but not delivered when the vCPU is saved goes back from ISR to IRR (so a
/// backend that cannot read KVM's event blob still delivers it); anything else stays where it is.
@Suite struct KVMInterruptTakeBackTests {
    static let isr = 0x100, irr = 0x200

    @Test func theHighestInServiceVectorGoesBackToTheRequestRegister() {
        var page = APICRegisterPage()
        page[Self.isr + 16 * 2] = 1 << (0x52 - 64) | 1 << (0x41 - 64)   // 0x52 on top of a lower 0x41
        #expect(KVMVCPU.takeBack(vector: 0x52, in: &page))
        #expect(page[Self.isr + 16 * 2] == 1 << (0x41 - 64), "the interrupted handler's vector stays in service")
        #expect(page[Self.irr + 16 * 2] == 1 << (0x52 - 64))
    }

    @Test func aVectorThatIsNotTheHighestInServiceIsLeftAlone() {
        var page = APICRegisterPage()
        page[Self.isr + 16 * 2] = 1 << (0x52 - 64)
        page[Self.isr + 16 * 7] = 1 << (0xEF - 224)
        let before = page
        #expect(!KVMVCPU.takeBack(vector: 0x52, in: &page), "0xEF is above it: 0x52 was not KVM's last acknowledge")
        #expect(!KVMVCPU.takeBack(vector: 0x30, in: &page), "not in service at all: an 8259A vector")
        #expect(page == before)
    }
}
