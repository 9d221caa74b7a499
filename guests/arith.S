// Checks integer arithmetic and the flags it sets against values fixed by the Intel SDM's definitions. Each check
// has a number; the first that fails is reported through the debug-exit port (0 = all passed).
// Flags compared: CF PF AF ZF SF OF (mask 0x8D5), minus any the SDM leaves undefined for that instruction.
// format: elf64
#include "platform.inc"
.set ARITH_FLAGS, 0x8D5
.set ARITH_FLAGS_NO_AF, 0x8C5

// FLAGS n, expected, mask: compare the flags saved in %r8 (by pushfq/pop) with `expected` under `mask`.
.macro FLAGS n, expected, mask=ARITH_FLAGS
    mov %r8, %rax
    and $\mask, %eax
    cmp $\expected, %eax
    mov $\n, %edi
    jne failed
.endm

// VALUE n, register, expected: compare a 64-bit register with a constant.
.macro VALUE n, reg, expected
    movabs $\expected, %rax
    cmp %rax, \reg
    mov $\n, %edi
    jne failed
.endm

.macro SAVE_FLAGS
    pushfq
    pop %r8
.endm

.code64
.section .text.start
.global _start
_start:
    // 1: 0x7FFFFFFF + 1 overflows into the sign bit: OF SF AF PF.
    mov $0x7FFFFFFF, %ecx
    add $1, %ecx
    SAVE_FLAGS
    VALUE 1, %rcx, 0x80000000
    FLAGS 1, 0x894
    // 2: 0xFFFFFFFF + 1 wraps to zero: CF ZF AF PF.
    mov $0xFFFFFFFF, %ecx
    add $1, %ecx
    SAVE_FLAGS
    VALUE 2, %rcx, 0
    FLAGS 2, 0x55
    // 3: 0 - 1 borrows: CF SF AF PF.
    xor %ecx, %ecx
    sub $1, %ecx
    SAVE_FLAGS
    VALUE 3, %rcx, 0xFFFFFFFF
    FLAGS 3, 0x95
    // 4: 5 + 3 + carry = 9: only PF.
    mov $5, %ecx
    stc
    adc $3, %ecx
    SAVE_FLAGS
    VALUE 4, %rcx, 9
    FLAGS 4, 0x04
    // 5: neg 0x80 overflows: CF OF SF.
    mov $0x80, %cl
    neg %cl
    SAVE_FLAGS
    movzbl %cl, %ecx
    VALUE 5, %rcx, 0x80
    FLAGS 5, 0x881
    // 6: 0x10000 * 0x10000 = 2^32 in EDX:EAX; CF and OF say the high half is used.
    mov $0x10000, %eax
    mov $0x10000, %ecx
    mul %ecx
    SAVE_FLAGS
    mov %rax, %rbx
    VALUE 6, %rbx, 0
    VALUE 6, %rdx, 1
    FLAGS 6, 0x801, 0x801
    // 7: three-operand imul with a negative result.
    mov $-3, %rcx
    imul $7, %rcx, %rbx
    VALUE 7, %rbx, -21
    // 8: unsigned divide: 100 / 7 = 14 remainder 2.
    xor %edx, %edx
    mov $100, %eax
    mov $7, %ecx
    div %ecx
    mov %rax, %rbx
    VALUE 8, %rbx, 14
    VALUE 8, %rdx, 2
    // 9: signed divide truncates toward zero: -100 / 7 = -14 remainder -2.
    mov $-100, %eax
    cdq
    mov $7, %ecx
    idiv %ecx
    movslq %eax, %rbx
    movslq %edx, %rdx
    VALUE 9, %rbx, -14
    VALUE 9, %rdx, -2
    // 10: shl moves the top bit into CF.
    mov $0x80000001, %ecx
    shl $1, %ecx
    SAVE_FLAGS
    VALUE 10, %rcx, 2
    FLAGS 10, 0x01, 0x01
    // 11: shr moves the bottom bit into CF.
    mov $3, %ecx
    shr $1, %ecx
    SAVE_FLAGS
    VALUE 11, %rcx, 1
    FLAGS 11, 0x01, 0x01
    // 12: rol carries the top bit around and into CF.
    mov $0x80000000, %ecx
    rol $1, %ecx
    SAVE_FLAGS
    VALUE 12, %rcx, 1
    FLAGS 12, 0x01, 0x01
    // 13: sar keeps the sign.
    mov $-8, %ecx
    sar $2, %ecx
    movslq %ecx, %rcx
    VALUE 13, %rcx, -2
    // 14: bt copies the bit to CF; bts sets it and reports its old value.
    mov $0x10, %ecx
    bt $4, %ecx
    SAVE_FLAGS
    FLAGS 14, 0x01, 0x01
    bts $0, %ecx
    SAVE_FLAGS
    VALUE 14, %rcx, 0x11
    FLAGS 14, 0x00, 0x01
    // 15: bsf and bsr find the lowest and highest set bits.
    mov $0x50, %ecx
    bsf %ecx, %ebx
    bsr %ecx, %edx
    VALUE 15, %rbx, 4
    VALUE 15, %rdx, 6
    // 16: setcc and cmovcc after a signed compare.
    mov $5, %ecx
    xor %ebx, %ebx
    cmp $7, %ecx
    setl %bl
    mov $9, %edx
    cmovl %edx, %ecx
    VALUE 16, %rbx, 1
    VALUE 16, %rcx, 9
    // 17: inc leaves CF alone: CF stays set, and 0xFF + 1 gives ZF AF PF.
    mov $0xFF, %cl
    stc
    inc %cl
    SAVE_FLAGS
    FLAGS 17, 0x55
    // 18: cmp 1, 2 borrows: CF SF AF PF.
    mov $1, %ecx
    cmp $2, %ecx
    SAVE_FLAGS
    FLAGS 18, 0x95
    // 19: 10 - 3 - borrow = 6: only PF.
    mov $10, %ecx
    stc
    sbb $3, %ecx
    SAVE_FLAGS
    VALUE 19, %rcx, 6
    FLAGS 19, 0x04
    // 20: and clears CF and OF; AF is undefined after logic instructions.
    mov $0xF0, %ecx
    and $0x0F, %ecx
    SAVE_FLAGS
    VALUE 20, %rcx, 0
    FLAGS 20, 0x44, ARITH_FLAGS_NO_AF

    lea passed(%rip), %rsi
    call puts64
    xor %eax, %eax
    jmp exit64

failed:
    lea failure(%rip), %rsi
    call puts64
    mov %edi, %eax
    jmp exit64

#include "serial64.inc"

.section .rodata
passed: .asciz "arith: 20 checks passed\n"
failure: .asciz "arith: a check failed\n"
