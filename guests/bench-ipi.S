// The interrupt-delivery benchmark (bench/ipi): `iterations` self-IPIs through the local APIC, each one waited for
// before the next is sent, spinning or (with `halting` set) in HLT. One round trip is the ICR write, the APIC's acceptance, delivery through the IDT, the
// handler's count and EOI write, and IRETQ back into the wait loop. Then a line on COM1 and the debug exit with 0.
// Needs a machine with an interrupt controller (docs/GUEST-ABI.md).
// format: elf64
#include "platform.inc"
.set APIC, 0xFEE00000                 // kept in %r15
.set APIC_EOI, 0xB0
.set APIC_SVR, 0xF0
.set APIC_ICR_LOW, 0x300
.set APIC_LVT_LINT0, 0x350
.set SELF_IPI, 0x44000                 // ICR: shorthand self, level assert, fixed
.set IPI_VECTOR, 0x40
.code64
.section .text.start
.global _start
_start:
    mov $APIC, %r15d
    lea idt(%rip), %rdi
    lea ipi_handler(%rip), %rax
    mov %ax, IPI_VECTOR * 16(%rdi)     // 64-bit interrupt gate, code selector 0x08, DPL 0
    movw $0x08, IPI_VECTOR * 16 + 2(%rdi)
    movw $0x8E00, IPI_VECTOR * 16 + 4(%rdi)
    shr $16, %rax
    mov %ax, IPI_VECTOR * 16 + 6(%rdi)
    shr $16, %rax
    mov %eax, IPI_VECTOR * 16 + 8(%rdi)
    lidt idt_descriptor(%rip)

    // Only the local APIC delivers: both 8259As and the virtual wire masked, the APIC software-enabled.
    mov $0xFF, %al
    out %al, $0x21
    out %al, $0xA1
    movl $0x10700, APIC_LVT_LINT0(%r15)
    movl $0x1FF, APIC_SVR(%r15)

    mov iterations(%rip), %rcx
    xor %ebx, %ebx
    test %rcx, %rcx
    jz 3f
    mov halting(%rip), %rdx
1:  inc %ebx                           // the timed loop: one self-IPI, waited for with interrupts on
    movl $SELF_IPI | IPI_VECTOR, APIC_ICR_LOW(%r15)
    test %rdx, %rdx
    jnz 4f
    sti                                // spinning: the receiver is running when the IPI arrives
2:  cmp %ebx, taken(%rip)
    jne 2b
    cli
    jmp 5f
4:  sti                                // halting: the receiver sleeps in HLT (the interrupt ends it)
    hlt
    cli
    cmp %ebx, taken(%rip)
    jne 4b
5:  dec %rcx
    jnz 1b
3:  lea message(%rip), %rsi
    call puts64
    xor %eax, %eax
    jmp exit64

ipi_handler:
    incl taken(%rip)
    movl $0, APIC_EOI(%r15)
    iretq

#include "serial64.inc"

.section .rodata
message: .asciz "bench-ipi: done\n"

.section .data
// The iteration count: a quadword right after the marker "ApusIter", which apus-bench-ipi patches in a copy of the
// image (the built-in default keeps the guest short for the test suite).
.balign 8
    .ascii "ApusIter"
iterations:
    .quad 100
// Nonzero: wait for each IPI in HLT instead of spinning (patched the same way, after the marker "ApusHalt").
    .ascii "ApusHalt"
halting:
    .quad 0
idt_descriptor:
    .word 256 * 16 - 1
    .quad idt

.section .bss
.balign 16
idt: .skip 256 * 16
taken: .skip 4
