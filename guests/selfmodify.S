// Self-modifying code, as Linux does while booting (alternatives, static keys): each check runs a loop that rewrites
// code it is about to execute, so a CPU that caches decoded instructions must notice every kind of store. Prints
// "selfmodify: 4 checks passed" and reports 0, or names the first failing check and reports its number.
// format: elf64
#include "platform.inc"
.code64
.section .text.start
.global _start
_start:
    // 1. A plain store over the immediate of the very next instruction, a new value every iteration.
    xor %ecx, %ecx
1:  mov %ecx, next_immediate(%rip)
    .byte 0xBB                         // mov $imm32, %ebx
next_immediate:
    .long 0xFFFFFFFF
    mov $1, %eax
    cmp %ecx, %ebx
    jne failed
    inc %ecx
    cmp $100, %ecx
    jne 1b

    // 2. A loop body flipped between add and sub (ModRM C0 <-> E8) between iterations by a read-modify-write.
    xor %eax, %eax
    xor %ecx, %ecx
2:  .byte 0x83, 0xC0, 0x05             // add $5, %eax, then sub $5, %eax, alternately
    xorb $0x28, 2b+1(%rip)
    inc %ecx
    cmp $10, %ecx
    jne 2b
    mov $2, %edx
    test %eax, %eax                    // +5 -5 ... ten times: 0 (a stale decode gives 50)
    jnz failed_edx

    // 3. rep movsb copies one of two instruction templates over the loop body, alternately.
    xor %eax, %eax
    xor %r8d, %r8d
3:  lea template_one(%rip), %rsi
    test $1, %r8d
    jz 4f
    lea template_two(%rip), %rsi
4:  lea copied_body(%rip), %rdi
    mov $5, %ecx
    cld
    rep movsb
copied_body:
    .byte 0x90, 0x90, 0x90, 0x90, 0x90 // becomes add $1, %eax or add $100, %eax
    inc %r8d
    cmp $6, %r8d
    jne 3b
    mov $3, %edx
    cmp $303, %eax                     // 1 + 100 + 1 + 100 + 1 + 100
    jne failed_edx

    // 4. Atomics: xchg and lock cmpxchg write the immediate of an instruction further down the loop.
    xor %ecx, %ecx
    xor %r9d, %r9d
5:  mov %ecx, %eax
    xchg %eax, atomic_immediate(%rip)
    lea 7(%rcx), %edx
    mov %ecx, %eax
    lock cmpxchg %edx, atomic_immediate(%rip)
    .byte 0x41, 0xB8                   // mov $imm32, %r8d
atomic_immediate:
    .long 0
    add %r8d, %r9d
    inc %ecx
    cmp $8, %ecx
    jne 5b
    mov $4, %edx
    cmp $84, %r9d                      // sum of (n + 7) for n = 0..7
    jne failed_edx

    lea passed(%rip), %rsi
    call puts64
    xor %eax, %eax
    jmp exit64

failed:
    mov %eax, %edx
failed_edx:
    push %rdx
    lea failure(%rip), %rsi
    call puts64
    pop %rax
    push %rax
    add $'0', %al
    call putc64
    mov $'\n', %al
    call putc64
    pop %rax
    jmp exit64

template_one: .byte 0x83, 0xC0, 0x01, 0x90, 0x90          // add $1, %eax; nop; nop
template_two: .byte 0x83, 0xC0, 0x64, 0x90, 0x90          // add $100, %eax; nop; nop

#include "serial64.inc"

.section .rodata
passed: .asciz "selfmodify: 4 checks passed\n"
failure: .asciz "selfmodify: failed check "
