import ApusCore
import Testing

/// Each vCPU's CPUID place in the machine: vCPU i is APIC ID i, one core of one package of `cpuCount`.
@Suite struct CPUTopologyTests {
    @Test func leafOneCarriesTheAPICIDAndTheAddressableCount() {
        let third = CPUTopology(apicID: 2, cpuCount: 3, amdLeaves: false)
        let (_, b, _, d) = third.apply(leaf: 1, subleaf: 0, (0x000A_0655, 0x0000_0800, 0, 0))
        #expect(b >> 24 == 2)
        #expect((b >> 16) & 0xFF == 4, "3 CPUs need 2 bits of core ID: 4 addressable IDs")
        #expect(b & 0xFFFF == 0x0800, "CLFLUSH size and brand index stay")
        #expect(d & (1 << 28) != 0, "HTT says EBX[23:16] is valid")
        let single = CPUTopology(apicID: 0, cpuCount: 1, amdLeaves: false)
        let (_, b1, _, d1) = single.apply(leaf: 1, subleaf: 0, (0, 0xFF00_0800, 0, 1 << 28))
        #expect(b1 >> 16 == 1)
        #expect(d1 & (1 << 28) == 0)
    }

    @Test func extendedTopologyLeafHasAThreadAndACoreLevel() {
        let topology = CPUTopology(apicID: 5, cpuCount: 6, amdLeaves: false)
        #expect(topology.coreIDWidth == 3)
        let smt = topology.apply(leaf: 0xB, subleaf: 0, (9, 9, 9, 9))
        #expect(smt == (0, 1, 0x100, 5))
        let core = topology.apply(leaf: 0xB, subleaf: 1, (9, 9, 9, 9))
        #expect(core == (3, 6, 0x201, 5))
        let beyond = topology.apply(leaf: 0xB, subleaf: 2, (9, 9, 9, 9))
        #expect(beyond == (0, 0, 2, 5), "an invalid level ends the enumeration")
    }

    @Test func cacheLeafSharesOnlyTheLastLevel() {
        let topology = CPUTopology(apicID: 1, cpuCount: 4, amdLeaves: false)
        // Level 1 data cache (type 1), level 3 unified (type 3).
        let l1 = topology.apply(leaf: 4, subleaf: 0, (0x0000_0121, 0, 0, 0))
        #expect(l1.0 >> 26 == 3)
        #expect((l1.0 >> 14) & 0xFFF == 0)
        let l3 = topology.apply(leaf: 4, subleaf: 3, (0x0000_0163, 0, 0, 0))
        #expect((l3.0 >> 14) & 0xFFF == 3)
        let none = topology.apply(leaf: 4, subleaf: 4, (0, 0, 0, 0))
        #expect(none == (0, 0, 0, 0), "the null cache type ends the list unchanged")
    }

    @Test func amdLeavesOnlyForAMD() {
        let amd = CPUTopology(apicID: 3, cpuCount: 4, amdLeaves: true)
        #expect(amd.apply(leaf: 0x8000_0001, subleaf: 0, (0, 0, 0, 0)).2 & 2 == 2)
        let sizes = amd.apply(leaf: 0x8000_0008, subleaf: 0, (0x3030, 0, 0xFFFF_FFFF, 0))
        #expect(sizes.2 & 0xFF == 3)
        #expect((sizes.2 >> 12) & 0xF == 2)
        #expect(sizes.2 & 0xFFFF_0F00 == 0xFFFF_0F00, "the other ECX fields stay")
        let extended = amd.apply(leaf: 0x8000_001E, subleaf: 0, (0, 0x0100, 0x0101, 0))
        #expect(extended.0 == 3)
        #expect(extended.1 & 0xFFFF == 3, "core 3, one thread per core")
        #expect(extended.2 & 0x7FF == 0)
        let intel = CPUTopology(apicID: 3, cpuCount: 4, amdLeaves: false)
        #expect(intel.apply(leaf: 0x8000_0008, subleaf: 0, (0x3030, 0, 0, 0)) == (0x3030, 0, 0, 0))
        #expect(CPUTopology.isAMD(vendorEBX: 0x6874_7541))
        #expect(!CPUTopology.isAMD(vendorEBX: 0x756E_6547))
    }
}
