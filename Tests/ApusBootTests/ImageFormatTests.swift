import ApusBoot
import Testing

@Suite struct ImageFormatTests {
    @Test func detectsEachFormatByItsMagic() {
        var elf32 = ELFBuilder(); elf32.is64Bit = false
        #expect(ImageFormat.detect(ELFBuilder().build()) == .elf64)
        #expect(ImageFormat.detect(elf32.build()) == .elf32)
        #expect(ImageFormat.detect(BzImageBuilder().build()) == .bzImage)
        #expect(ImageFormat.detect([0xFA, 0xF4]) == .flat)
        #expect(ImageFormat.detect([]) == .flat)
        // The ELF magic alone still reads as ELF, so the parser can say what is missing.
        #expect(ImageFormat.detect([0x7F, 0x45, 0x4C, 0x46]) == .elf32)
        var noSignature = BzImageBuilder().build()
        noSignature[0x202] = 0
        #expect(ImageFormat.detect(noSignature) == .flat)
    }
}
