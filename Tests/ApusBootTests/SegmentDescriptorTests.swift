import ApusBoot
import ApusCore
import Testing

@Suite struct SegmentDescriptorTests {
    @Test func encodesTheClassicFlatDescriptors() {
        #expect(SegmentDescriptor.flatCode(longMode: true).low == 0x00AF_9B00_0000_FFFF)
        #expect(SegmentDescriptor.flatCode(longMode: false).low == 0x00CF_9B00_0000_FFFF)
        #expect(SegmentDescriptor.flatData.low == 0x00CF_9300_0000_FFFF)
        let tss = SegmentDescriptor.busyTSS(base: 0x1234_5678_9ABC_DEF0, limit: 0x67)
        #expect(tss.low == 0x9A00_8BBC_DEF0_0067 && tss.high == 0x1234_5678)
    }

    @Test func decodingInvertsEncoding() {
        let samples = [
            SegmentDescriptor(base: 0xFEDC_BA98, limit: 0xABCDE, type: 0x7, s: true, dpl: 3, present: true,
                              avl: true, l: false, db: true, g: false),
            SegmentDescriptor.flatCode(longMode: true),
            SegmentDescriptor.busyTSS(base: 0xFFFF_8000_0000_1000, limit: 0x2067),
        ]
        for sample in samples { #expect(SegmentDescriptor(low: sample.low, high: sample.high) == sample) }
    }

    @Test func theHiddenPartScalesTheLimitWithGranularity() {
        #expect(SegmentDescriptor.flatData.segment(selector: 0x10).limit == 0xFFFF_FFFF)
        let small = SegmentDescriptor(base: 0x600, limit: 0x67, type: 0xB, s: false, db: false, g: false)
        #expect(small.segment(selector: 0x18) == Segment(base: 0x600, limit: 0x67, selector: 0x18, type: 0xB,
                                                          s: false))
    }
}
