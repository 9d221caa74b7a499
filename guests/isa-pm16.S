// 16-bit protected mode: the image starts in real mode, loads a GDT of 16-bit segments and an IDT of 286 interrupt
// gates, sets CR0.PE and runs the 16-bit groups of isa-real with selectors, plus ARPL, LAR, LSL, VERR and VERW. Each
// group prints one line; a CPU that cannot run a group stops after the previous line, so the groups the host's KVM
// emulator is known to run come first.
// format: flat
#include "platform.inc"
#include "isa16-macros.inc"
.set CODE16, 0x08
.set DATA16, 0x10
.set DATA16_DPL3, 0x1B                   // base 0x20000, DPL 3, requested with RPL 3

.code16
.section .text.start
.global _start
_start:
    cli
    xor %ax, %ax
    mov %ax, %ds
    mov %ax, %ss
    mov $0x7000, %sp
    mov $0, %bx
    mov $on_divide_error, %ax
    call set_gate
    mov $1, %bx
    mov $on_debug, %ax
    call set_gate
    mov $4, %bx
    mov $on_overflow, %ax
    call set_gate
    mov $5, %bx
    mov $on_bound, %ax
    call set_gate
    lgdt gdt_descriptor
    lidt idt_descriptor
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmp $CODE16, $protected16
protected16:
    mov $DATA16, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov %ax, %fs
    mov %ax, %gs

    SAY s_msw
    smsw %ax
    call put16
    call newline16

    SAY s_moffs
    call moffs_forms
    call newline16

    // Selectors through PUSH/POP and LES: the DPL-3 data segment is loadable at CPL 0.
    SAY s_segments
    mov $DATA16_DPL3, %ax
    mov %ax, %es
    push %es
    pop %fs
    mov %fs, %ax
    call put16
    push %cs
    pop %ax
    call put16
    les far_pointer, %di
    mov %es, %ax
    call put16
    mov %di, %ax
    call put16
    mov $DATA16, %ax
    mov %ax, %es
    mov %ax, %fs
    call newline16

    SAY s_pusha
    call pusha_round_trip
    call newline16

    SAY s_far
    mov $CODE16, %cx
    call far_transfers
    call newline16

    // LAR and LSL read a descriptor's access rights and limit (ZF = 1); VERR and VERW check it.
    SAY s_descriptors
    mov $DATA16_DPL3, %cx
    lar %cx, %ax
    RESULT FLAGS_ZF
    lsl %cx, %ax
    RESULT FLAGS_ZF
    verr %cx
    FLAGS_OF_LAST FLAGS_ZF
    verw %cx
    FLAGS_OF_LAST FLAGS_ZF
    call newline16

    // ARPL raises a selector's RPL to the source's (ZF = 1), or leaves it (ZF = 0).
    SAY s_arpl
    mov $0x0018, %ax
    mov $0x0003, %bx
    arpl %bx, %ax
    RESULT FLAGS_ZF
    mov $0x001B, %ax
    arpl %bx, %ax
    RESULT FLAGS_ZF
    call newline16

    SAY s_aam
    call ascii_adjust_multiply
    call newline16

    SAY s_into
    call overflow_trap
    call newline16

    SAY s_daa
    call decimal_adjust
    call newline16

    SAY s_icebp
    call icebp_and_salc
    call newline16

    SAY s_bound
    call bound_check
    call newline16

    SAY s_done
    xor %ax, %ax
    out %ax, $DEBUG_EXIT
    hlt

// set_gate: vector %bx gets a 286 interrupt gate to CODE16:%ax. Clobbers %bx.
set_gate:
    shl $3, %bx
    mov %ax, idt(%bx)
    movw $CODE16, idt + 2(%bx)
    movw $0x8600, idt + 4(%bx)
    movw $0, idt + 6(%bx)
    ret

#include "isa16.inc"

.balign 8
gdt:
    .quad 0
    .quad 0x00009A000000FFFF             // CODE16: base 0, limit 64 KiB, 16-bit
    .quad 0x000092000000FFFF             // DATA16
    .quad 0x0000F2020000FFFF             // DPL 3 data at 0x20000
gdt_end:
gdt_descriptor:
    .word gdt_end - gdt - 1
    .long gdt
idt_descriptor:
    .word 6 * 8 - 1
    .long idt
.balign 8
idt: .fill 6, 8, 0
far_pointer: .word 0x1234, DATA16_DPL3

s_msw: .asciz "isa-pm16: smsw"
s_moffs: .asciz "isa-pm16: moffs"
s_segments: .asciz "isa-pm16: push/pop es cs, les"
s_pusha: .asciz "isa-pm16: pusha/popa"
s_far: .asciz "isa-pm16: far call/ret"
s_descriptors: .asciz "isa-pm16: lar lsl verr verw"
s_arpl: .asciz "isa-pm16: arpl"
s_aam: .asciz "isa-pm16: aam/aad"
s_into: .asciz "isa-pm16: into"
s_daa: .asciz "isa-pm16: daa das aaa aas"
s_icebp: .asciz "isa-pm16: int1/salc"
s_bound: .asciz "isa-pm16: bound"
s_done: .asciz "isa-pm16: done\n"
