// Real-address mode: the legacy instructions small 16-bit kernels use, each group on its own line with what it left
// in registers and the flags the SDM defines for it, so another CPU running the same image must print the same text.
// A CPU that cannot run a group stops after the previous line; the groups the host's KVM emulator is known to run come
// first. Groups: MOV moffs (A0-A3), PUSH/POP of segment registers, PUSHA/POPA, LES/LDS, far CALL/RET, SMSW/LMSW,
// AAM/AAD (AAM 0 raises #DE), INTO, DAA/DAS/AAA/AAS, INT1/SALC, BOUND.
// format: flat
#include "platform.inc"
#include "isa16-macros.inc"
.code16
.section .text.start
.global _start
_start:
    cli
    xor %ax, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $0x7000, %sp
    movw $on_divide_error, 0 * 4         // the vector table at 0:0
    movw $0, 0 * 4 + 2
    movw $on_debug, 1 * 4
    movw $0, 1 * 4 + 2
    movw $on_overflow, 4 * 4
    movw $0, 4 * 4 + 2
    movw $on_bound, 5 * 4
    movw $0, 5 * 4 + 2

    SAY s_moffs
    call moffs_forms
    call newline16

    SAY s_segments
    mov $0x1234, %ax
    mov %ax, %es
    push %es
    pop %fs
    mov %fs, %ax
    call put16
    push %cs
    pop %ax
    call put16
    push %ss
    pop %gs
    mov %gs, %ax
    call put16
    push %ds
    pop %es
    mov %es, %ax
    call put16
    call newline16

    SAY s_pusha
    call pusha_round_trip
    call newline16

    // LES/LDS load a far pointer: the offset first, then the segment.
    SAY s_les
    les far_pointer, %bx
    mov %es, %ax
    call put16
    mov %bx, %ax
    call put16
    lds far_pointer_2, %si
    mov %ds, %cx
    xor %ax, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %cx, %ax
    call put16
    mov %si, %ax
    call put16
    call newline16

    SAY s_far
    xor %cx, %cx
    call far_transfers
    call newline16

    // SMSW reads CR0's low word; LMSW sets MP (and could not clear PE).
    SAY s_msw
    smsw %ax
    call put16
    or $0x0002, %ax
    lmsw %ax
    smsw %ax
    call put16
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

#include "isa16.inc"

far_pointer: .word 0xBEEF, 0x2000
far_pointer_2: .word 0x4321, 0x3000

s_moffs: .asciz "isa-real: moffs"
s_segments: .asciz "isa-real: push/pop es cs ss ds"
s_pusha: .asciz "isa-real: pusha/popa"
s_les: .asciz "isa-real: les/lds"
s_far: .asciz "isa-real: far call/ret"
s_msw: .asciz "isa-real: smsw/lmsw"
s_aam: .asciz "isa-real: aam/aad"
s_into: .asciz "isa-real: into"
s_bound: .asciz "isa-real: bound"
s_icebp: .asciz "isa-real: int1/salc"
s_daa: .asciz "isa-real: daa das aaa aas"
s_done: .asciz "isa-real: done\n"
