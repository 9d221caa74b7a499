// Prints through the 16550A mapped at guest-physical 0xD0000000 (MMIO, registers at stride 1) and checks that MMIO
// reads return what the device holds, using the UART's scratch register.
// format: elf64
#include "platform.inc"
.code64
.section .text.start
.global _start
_start:
    mov $MMIO_UART, %rbx
    movb $0xA5, 7(%rbx)          // scratch register
    cmpb $0xA5, 7(%rbx)
    mov $1, %eax
    jne exit64
    movb $0x5A, 7(%rbx)
    movzbl 7(%rbx), %ecx
    cmp $0x5A, %ecx
    mov $2, %eax
    jne exit64
    lea message(%rip), %rsi
1:  lodsb
    test %al, %al
    jz 3f
2:  testb $LSR_THR_EMPTY, 5(%rbx)
    jz 2b
    mov %al, (%rbx)
    jmp 1b
3:  xor %eax, %eax
    jmp exit64

#include "serial64.inc"

.section .rodata
message: .asciz "mmio: hello through a memory-mapped UART\n"
