// 32-bit protected mode as a Multiboot kernel (what `qemu-system-x86_64 -kernel` boots): its own GDT with ring-0 and
// ring-3 segments and a TSS, an IDT of 386 gates, then one line per group — MOV moffs32, segment PUSH/POP and
// LFS/LGS/LSS, PUSHAD/POPAD, far CALL/RET, SMSW, the instructions CPUID gates (RDTSCP/RDPID with TSC_AUX, RDRAND,
// RDSEED, CLAC/STAC, XGETBV: each does what CPUID says, or raises #UD when CPUID does not list it), the x87 FOP/FIP/FDP
// that FXSAVE stores, a trip to ring 3 and back (IRET outward, INT 0x80 inward on the TSS's stack, #GP for a ring-0
// gate and for CLI, IOPL kept by POPF and IRET at CPL 3, data segments nulled on the way out), INTO/BOUND, AAM/AAD,
// DAA/DAS/AAA/AAS, INT1/SALC, and segment loads at ring 0 against the SDM's checks, with an LDT
// (include/segment-checks32.inc). A CPU that cannot run a group stops after the previous line.
// format: elf32
#include "platform.inc"
#include "cpuid-gated.inc"
.set MB_MAGIC, 0x1BADB002
.set MB_FLAGS, 0x00000003
.set KERNEL_CODE, 0x08
.set KERNEL_DATA, 0x10
.set USER_CODE, 0x1B
.set USER_DATA, 0x23
.set TSS_SELECTOR, 0x28
.set STACK_TOP, 0x90000
.set KERNEL_STACK, 0x8F000              // ESP0 in the TSS
.set USER_STACK, 0x8E000

.macro SAY text
    mov $\text, %esi
    call puts32
.endm

.code32
.section .text.start
.balign 4
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)
.global _start
_start:
    cli
    mov $STACK_TOP, %esp
    lgdt gdt_descriptor
    ljmp $KERNEL_CODE, $1f
1:  mov $KERNEL_DATA, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %fs
    mov %eax, %gs
    mov %eax, %ss
    call fill_tss_descriptor
    mov $TSS_SELECTOR, %ax
    ltr %ax
    call fill_idt
    lidt idt_descriptor
    call fill_ldt_descriptor
    mov $0x30, %ax
    lldt %ax

    SAY s_moffs
    movb $0x5A, byte_cell
    xor %eax, %eax
    .byte 0xA0                           // mov byte_cell, %al
    .long byte_cell
    call put32
    mov $0xC0DEF00D, %eax
    .byte 0xA3                           // mov %eax, dword_cell
    .long dword_cell
    .byte 0xA2                           // mov %al, byte_cell
    .long byte_cell
    xor %eax, %eax
    .byte 0xA1                           // mov dword_cell, %eax
    .long dword_cell
    call put32
    movzbl byte_cell, %eax
    call put32
    call newline

    // PUSH/POP of segment registers move 4 bytes in 32-bit code; LFS/LGS/LSS load a far pointer.
    SAY s_segments
    mov %esp, %ebx
    push %ds
    sub %esp, %ebx
    mov %ebx, %eax
    call put32
    pop %fs
    mov %fs, %eax
    call put32
    push %cs
    pop %eax
    movzwl %ax, %eax                     // a 32-bit push of CS may write only 16 bits (SDM: PUSH)
    call put32
    lfs far_pointer, %eax
    mov %fs, %ecx
    call put32
    mov %ecx, %eax
    call put32
    lgs far_pointer, %eax
    mov %gs, %eax
    call put32
    mov %esp, %ebx
    lss stack_pointer, %esp
    mov %esp, %eax
    mov %ebx, %esp
    call put32
    mov $KERNEL_DATA, %eax
    mov %eax, %fs
    mov %eax, %gs
    call newline

    SAY s_pushad
    mov %esp, saved_esp
    mov $0x11111111, %eax
    mov $0x22222222, %ecx
    mov $0x33333333, %edx
    mov $0x44444444, %ebx
    mov $0x55555555, %ebp
    mov $0x66666666, %esi
    mov $0x77777777, %edi
    pushal
    mov 12(%esp), %eax                   // the ESP that PUSHAD stored
    sub saved_esp, %eax
    mov %eax, pushed_esp_delta
    xor %eax, %eax
    mov %eax, %ecx
    mov %eax, %edx
    mov %eax, %ebx
    mov %eax, %ebp
    mov %eax, %esi
    mov %eax, %edi
    popal
    add %ecx, %eax
    add %edx, %eax
    add %ebx, %eax
    add %ebp, %eax
    add %esi, %eax
    add %edi, %eax
    mov %eax, %ecx
    mov pushed_esp_delta, %eax
    call put32
    mov %ecx, %eax
    call put32
    mov %esp, %eax
    sub saved_esp, %eax
    call put32
    call newline

    SAY s_far
    xor %edx, %edx
    lcall $KERNEL_CODE, $far_procedure
    mov %edx, %eax
    call put32
    xor %edx, %edx
    lcall *far_target
    mov %edx, %eax
    call put32
    mov %esp, %ebx
    push $0x11111111
    push $0x22222222
    lcall $KERNEL_CODE, $far_procedure_pops_8
    sub %esp, %ebx
    mov %ebx, %eax
    call put32
    call newline

    SAY s_msw
    xor %eax, %eax
    smsw %ax
    call put32
    call newline

    // After the groups this host's KVM runs: its instruction emulator cannot return from the fault handlers (a
    // protected-mode IRET at CPL 0), and stops there.
    SAY s_segment_checks
    call segment_checks_ring0
    call newline

    SAY s_cpuid_gated
    call cpuid_gated
    call newline

    SAY s_fxsave
    call x87_last_instruction
    call newline

    SAY s_ring3
    call ring3_round_trip
    call newline

    SAY s_into_bound
    movl $0, overflow_count
    mov $0x7F, %al
    add $1, %al
    into
    mov $1, %al
    add $1, %al
    into
    mov overflow_count, %eax
    call put32
    movl $0, bound_count
    mov $15, %eax
    bound %eax, bounds
    mov $25, %eax
    bound %eax, bounds
    mov %eax, %ecx
    mov bound_count, %eax
    call put32
    mov %ecx, %eax
    call put32
    call newline

    SAY s_aam
    mov $0x4F, %eax
    aam
    call put_result
    mov $0x0709, %eax
    aad
    call put_result
    movl $0, divide_count
    .byte 0xD4, 0x00                     // aam 0: #DE, stepped over by the handler
    mov divide_count, %eax
    call put32
    call newline

    SAY s_daa
    mov $0x79, %eax
    add $0x35, %al
    daa
    call put_result
    mov $0x35, %eax
    sub $0x79, %al
    das
    call put_result
    mov $0x0009, %eax
    add $0x05, %al
    aaa
    call put_result
    mov $0x0203, %eax
    sub $0x05, %al
    aas
    call put_result
    call newline

    SAY s_icebp
    movl $0, debug_count
    .byte 0xF1
    mov debug_count, %eax
    call put32
    stc
    .byte 0xD6
    mov %al, %ah
    clc
    .byte 0xD6
    movzwl %ax, %eax
    call put32
    call newline

    SAY s_done
    xor %eax, %eax
    out %eax, $DEBUG_EXIT
    hlt

cpuid_gated:
    CPUID_GATED_CHECKS %eax, %ecx
    ret
took_ud:
    mov ud_count, %eax
    movl $0, ud_count
    ret
put_digit:
    and $1, %eax
    add $'0', %al
    jmp putc32

// FXSAVE stores the last x87 instruction's opcode (FOP), its address (FIP) and its operand's (FDP). An unmasked
// invalid-operation exception is left pending so every vendor stores them (some store them only then).
x87_last_instruction:
    fninit
    fldcw control_invalid_unmasked
    fldz
last_x87:
    fdivl zero                           // 0 / 0: invalid operation, pending until the next waiting x87 instruction
    fxsave fxsave_area
    fninit
    movzwl fxsave_area + 6, %eax         // FOP: 11 bits
    call put32
    mov fxsave_area + 8, %eax            // FIP
    sub $last_x87, %eax
    call put32
    mov fxsave_area + 16, %eax           // FDP
    sub $zero, %eax
    call put32
    movzwl fxsave_area + 2, %eax         // FSW: ES and IE set
    and $0x0081, %eax
    call put32
    ret

// Ring 3 and back. The kernel's stack pointer is kept so the last system call can return here directly.
ring3_round_trip:
    mov %esp, kernel_esp
    mov $USER_DATA, %eax
    mov %eax, %ds
    mov %eax, %es
    mov $KERNEL_DATA, %eax               // FS keeps a ring-0 segment: IRET to ring 3 must null it
    mov %eax, %fs
    push $USER_DATA
    push $USER_STACK
    push $0x00000002                     // IF = 0, IOPL = 0
    push $USER_CODE
    push $user_code
    iret
back_in_ring0:                           // reached from the exit system call with the kernel's stack
    mov $KERNEL_DATA, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %fs
    mov kernel_esp, %esp
    mov user_cs, %eax                    // what INT 0x80 saw
    call put32
    mov syscall_cs, %eax
    call put32
    mov syscall_ss, %eax
    call put32
    mov user_fs, %eax
    call put32
    mov gp_errors, %eax
    call put32
    mov user_iopl_after_popf, %eax
    call put32
    mov user_iopl_after_iret, %eax
    call put32
    ret

user_code:
    mov %fs, %eax
    mov %eax, user_fs
    mov $1, %eax
    int $0x80                            // inward through a DPL-3 gate, on ESP0 from the TSS
    int $0x81                            // a DPL-0 gate: #GP(0x81 * 8 + 2)
    cli                                  // CPL 3 > IOPL 0: #GP(0)
    pushf
    orl $0x3000, (%esp)
    popf                                 // IOPL stays 0 at CPL 3
    pushf
    pop %eax
    and $0x3000, %eax
    mov %eax, user_iopl_after_popf
    pushf
    orl $0x3000, (%esp)
    push $USER_CODE
    push $1f
    iret                                 // same level: pops no stack, and still keeps IOPL
1:  pushf
    pop %eax
    and $0x3000, %eax
    mov %eax, user_iopl_after_iret
    mov $2, %eax
    int $0x80                            // exit to ring 0
    jmp .

on_syscall:                              // INT 0x80: EAX 1 records the frame, 2 goes back to the kernel
    cmp $2, %eax
    je back_in_ring0
    mov 4(%esp), %eax                    // the frame: EIP, CS, EFLAGS, ESP, SS of ring 3
    mov %eax, user_cs
    mov %cs, %eax
    mov %eax, syscall_cs
    mov %ss, %eax
    mov %eax, syscall_ss
    iret
on_general_protection:                   // from ring 3: record the error code, step over INT n (2) or CLI (1)
    cmpl $0, seg_resume
    jne seg_fault_13
    pop %eax
    mov gp_errors, %ecx
    shl $16, %ecx
    or %eax, %ecx
    mov %ecx, gp_errors
    test %eax, %eax
    jz 1f
    addl $1, (%esp)
1:  addl $1, (%esp)
    iret
on_invalid_opcode:
    push %eax
    mov ud_skip, %eax
    add %eax, 4(%esp)
    movl $1, ud_count
    pop %eax
    iret
on_divide_error:
    addl $2, (%esp)
    incl divide_count
    iret
on_debug:
    incl debug_count
    iret
on_overflow:
    incl overflow_count
    iret
on_bound:
    incl bound_count
    mov bounds + 4, %eax
    iret

far_procedure:
    mov $0xFACEB00C, %edx
    lret
far_procedure_pops_8:
    lret $8

fill_tss_descriptor:
    mov $tss, %eax
    mov %ax, gdt + TSS_SELECTOR + 2
    shr $16, %eax
    mov %al, gdt + TSS_SELECTOR + 4
    mov %ah, gdt + TSS_SELECTOR + 7
    movl $KERNEL_STACK, tss + 4
    movl $KERNEL_DATA, tss + 8
    ret
fill_idt:
    mov $0, %ebx
    mov $on_divide_error, %eax
    call set_kernel_gate
    mov $1, %ebx
    mov $on_debug, %eax
    call set_kernel_gate
    mov $4, %ebx
    mov $on_overflow, %eax
    call set_kernel_gate
    mov $5, %ebx
    mov $on_bound, %eax
    call set_kernel_gate
    mov $6, %ebx
    mov $on_invalid_opcode, %eax
    call set_kernel_gate
    mov $13, %ebx
    mov $on_general_protection, %eax
    call set_kernel_gate
    mov $0x81, %ebx
    mov $on_syscall, %eax
    call set_kernel_gate
    mov $0x80, %ebx
    mov $on_syscall, %eax
    call set_kernel_gate
    movb $0xEE, idt + 0x80 * 8 + 5       // DPL 3: ring 3 may INT 0x80
    mov $11, %ebx
    mov $seg_fault_11, %eax
    call set_kernel_gate
    mov $12, %ebx
    mov $seg_fault_12, %eax
    call set_kernel_gate
    ret
// set_kernel_gate: vector %ebx gets a 386 interrupt gate (DPL 0) to KERNEL_CODE:%eax.
set_kernel_gate:
    mov %ax, idt(, %ebx, 8)
    movw $KERNEL_CODE, idt + 2(, %ebx, 8)
    movw $0x8E00, idt + 4(, %ebx, 8)
    shr $16, %eax
    mov %ax, idt + 6(, %ebx, 8)
    ret

// put_result: %eax, then the flags the instruction before the call left (SF ZF AF PF CF).
put_result:
    pushf
    call put32
    pop %eax
    and $0xD5, %eax
    jmp put32
// put32: a space, then %eax as eight hex digits. Keeps every register and the flags.
put32:
    pushf
    push %eax
    push %ebx
    push %ecx
    mov %eax, %ebx
    mov $' ', %al
    call putc32
    mov $8, %ecx
1:  rol $4, %ebx
    mov %ebx, %eax
    and $0xF, %eax
    mov hex_digits(%eax), %al
    call putc32
    loop 1b
    pop %ecx
    pop %ebx
    pop %eax
    popf
    ret
newline:
    mov $10, %al
// putc32: %al on COM1. Keeps every register.
putc32:
    push %edx
    push %eax
    mov $COM1_LSR, %dx
1:  in %dx, %al
    test $LSR_THR_EMPTY, %al
    jz 1b
    pop %eax
    mov $COM1_DATA, %dx
    out %al, %dx
    pop %edx
    ret

#include "serial32.inc"
#include "segment-checks32.inc"

.section .data
.balign 8
gdt:
    .quad 0
    .quad 0x00CF9A000000FFFF             // KERNEL_CODE: flat, 32-bit, DPL 0
    .quad 0x00CF92000000FFFF             // KERNEL_DATA
    .quad 0x00CFFA000000FFFF             // USER_CODE: DPL 3
    .quad 0x00CFF2000000FFFF             // USER_DATA: DPL 3
    .quad 0x0000890000000067             // TSS_SELECTOR: a 32-bit TSS, base filled in at start
    .quad 0x000082000000001F             // 0x30: the LDT (four entries), base filled in at start
    .quad 0x00CF90000000FFFF             // 0x38: read-only data, DPL 0
    .quad 0x000002000000001F             // 0x40: an LDT descriptor marked not present
gdt_end:
gdt_descriptor:
    .word gdt_end - gdt - 1
    .long gdt
idt_descriptor:
    .word 256 * 8 - 1
    .long idt
.balign 8
idt: .fill 256, 8, 0
tss: .fill 104, 1, 0
.balign 16
fxsave_area: .fill 512, 1, 0
zero: .double 0.0
control_invalid_unmasked: .word 0x037E   // every exception masked but invalid operation
far_pointer: .long 0x12345678
    .word KERNEL_DATA
stack_pointer: .long 0x00087654
    .word KERNEL_DATA
far_target: .long far_procedure
    .word KERNEL_CODE
bounds: .long 10, 20
byte_cell: .byte 0
.balign 4
dword_cell: .long 0
saved_esp: .long 0
pushed_esp_delta: .long 0
kernel_esp: .long 0
ud_skip: .long 0
ud_count: .long 0
overflow_count: .long 0
bound_count: .long 0
debug_count: .long 0
divide_count: .long 0
user_cs: .long 0
syscall_cs: .long 0
syscall_ss: .long 0
user_fs: .long 0xFFFFFFFF
gp_errors: .long 0
user_iopl_after_popf: .long 0xFFFFFFFF
user_iopl_after_iret: .long 0xFFFFFFFF
hex_digits: .ascii "0123456789abcdef"
.balign 8
seg_ldt:
    .quad 0x00CF92000000FFFF             // 0x04: writable data, DPL 0, not yet accessed
    .quad 0x00CF12000000FFFF             // 0x0C: writable data, not present
    .quad 0x00CF98000000FFFF             // 0x14: execute-only code
    .quad 0x00CFF2000000FFFF             // 0x1C: writable data, DPL 3
seg_pointer: .long 0x12345678, 0         // m16:32 for LDS/LES/LSS: offset, then the selector the case writes
seg_resume: .long 0
seg_saved_esp: .long 0
seg_result: .long 0
seg_count: .long 0
seg_results: .fill 32, 4, 0

s_moffs: .asciz "isa-pm32: moffs"
s_segments: .asciz "isa-pm32: push/pop ds cs, lfs lgs lss"
s_segment_checks: .asciz "isa-pm32: segment loads at ring 0 (vector << 16 | error)"
s_pushad: .asciz "isa-pm32: pushad/popad"
s_far: .asciz "isa-pm32: far call/ret"
s_msw: .asciz "isa-pm32: smsw"
s_cpuid_gated: .asciz "isa-pm32: rdtscp rdpid rdrand rdseed clac xgetbv as CPUID says "
s_fxsave: .asciz "isa-pm32: fxsave fop fip fdp fsw"
s_ring3: .asciz "isa-pm32: ring 3 cs, int 0x80 cs ss, fs nulled, #GP codes, iopl after popf and iret"
s_into_bound: .asciz "isa-pm32: into/bound"
s_aam: .asciz "isa-pm32: aam/aad"
s_daa: .asciz "isa-pm32: daa das aaa aas"
s_icebp: .asciz "isa-pm32: int1/salc"
s_done: .asciz "isa-pm32: done\n"
