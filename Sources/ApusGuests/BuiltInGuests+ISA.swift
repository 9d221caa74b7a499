/// What the isa-* guests print on a CPU that runs every group (the software CPU; KVM up to its emulator's limits). The
/// values were worked out from the SDM's definitions before they were recorded: DAA of 79h + 35h is 14h with CF, AF
/// and PF; DAS of 35h - 79h is 56h with CF, AF and PF; AAA of 9 + 5 is 0104h and AAS of 0203h - 5 is 0108h, both with
/// AF and CF; AAM of 4Fh is 0709h (040Fh in base 16) and AAD of 0709h is 004Fh (0047h from 0407h in base 16); AAM 0
/// raises #DE once; BOUND 25 in [10, 20] faults once; FOP of FDIV m64 with ModRM 05h/35h is 0435h; a DPL-0 gate
/// named by INT 0x81 at CPL 3 gives #GP(040Ah) and CLI at CPL 3 #GP(0).
extension BuiltInGuests {
    static let isaRealOutput = """
        isa-real: moffs 005a c0de 00de
        isa-real: push/pop es cs ss ds 1234 0000 0000 0000
        isa-real: pusha/popa 0000 dddc 0000
        isa-real: les/lds 2000 beef 3000 4321
        isa-real: far call/ret face face 0000
        isa-real: smsw/lmsw 0010 0012
        isa-real: aam/aad 0709 0004 040f 0004 004f 0000 0047 0004 0001
        isa-real: into 0001
        isa-real: daa das aaa aas 0014 0015 0056 0015 0104 0011 0108 0011
        isa-real: int1/salc 0001 ff00
        isa-real: bound 0001 0014
        isa-real: done

        """

    static let isaProtected16Output = """
        isa-pm16: smsw 0011
        isa-pm16: moffs 005a c0de 00de
        isa-pm16: push/pop es cs, les 001b 0008 001b 1234
        isa-pm16: pusha/popa 0000 dddc 0000
        isa-pm16: far call/ret face face 0000
        isa-pm16: lar lsl verr verw f300 0040 ffff 0040 0040 0040
        isa-pm16: arpl 001b 0040 001b 0000
        isa-pm16: aam/aad 0709 0004 040f 0004 004f 0000 0047 0004 0001
        isa-pm16: into 0001
        isa-pm16: daa das aaa aas 0014 0015 0056 0015 0104 0011 0108 0011
        isa-pm16: int1/salc 0001 ff00
        isa-pm16: bound 0001 0014
        isa-pm16: done

        """

    static let isaProtected32Output = """
        isa-pm32: moffs 0000005a c0def00d 0000000d
        isa-pm32: push/pop ds cs, lfs lgs lss 00000004 00000010 00000008 12345678 00000010 00000010 00087654
        isa-pm32: pushad/popad 00000000 dddddddc 00000000
        isa-pm32: far call/ret faceb00c faceb00c 00000000
        isa-pm32: smsw 00000033
        isa-pm32: segment loads at ring 0 (vector << 16 | error) 000d0f00 000d0028 000d0024 00000000 00000093 000b000c 000d0014 000d0010 000d0000 000d0020 000d0038 000c000c 000d0010 00000000 000d0010 00000000 000c000c 000d0028 000d0034 000b0040 00000000 000d001c 00000000 00000030 00000000
        isa-pm32: rdtscp rdpid rdrand rdseed clac xgetbv as CPUID says 111111
        isa-pm32: fxsave fop fip fdp fsw 00000435 00000000 00000000 00000081
        isa-pm32: ring 3 cs, int 0x80 cs ss, fs nulled, #GP codes, iopl after popf and iret 0000001b 00000008 00000010 00000000 040a0000 00000000 00000000
        isa-pm32: into/bound 00000001 00000001 00000014
        isa-pm32: aam/aad 00000709 00000004 0000004f 00000000 00000001
        isa-pm32: daa das aaa aas 00000014 00000015 00000056 00000015 00000104 00000011 00000108 00000011
        isa-pm32: int1/salc 00000001 0000ff00
        isa-pm32: done

        """

    static let isaLongOutput = """
        isa-long: moffs64 000000000000005a 0123456789abcdef 00000000000000ef 0000000089abcdef
        isa-long: smsw 0000000000000033
        isa-long: segment loads at ring 0 (vector << 16 | error) 000d0f00 000d0028 000d0024 00000000 00000093 000b000c 000d0014 000d0010 000d0018 000d0048 000d0010 000c000c 00000000 000d0014 00000000 000d0028 000d003c 000b0050 00000000 000d001c 00000000 00000038 00000000
        isa-long: opcodes #UD in 64-bit mode 0000000000000014
        isa-long: rdtscp rdpid rdrand rdseed clac xgetbv as CPUID says 111111
        isa-long: fxsave64/fxsave fop fip fdp fip32 fdp32 fsw 0000000000000435 0000000000000000 0000000000000000 0000000000000000 0000000000000000 0000000000000081
        isa-long: int1 0000000000000001
        isa-long: ring 3 cs, int 0x80 cs ss, ds nulled, #GP codes, iopl after popf and iretq 0000000000000023 0000000000000008 0000000000000000 0000000000000000 00000000040a0000 0000000000000000 0000000000000000
        isa-long: segment loads at ring 3 (vector << 16 | error) 000d0010 00000000 000d0004 000d0010 000d0000 000d0000
        isa-long: done

        """
}
