// The smallest useful guest: entered in 64-bit long mode, prints one line, reports success.
// format: elf64
#include "platform.inc"
.code64
.section .text.start
.global _start
_start:
    lea message(%rip), %rsi
    call puts64
    xor %eax, %eax
    jmp exit64

#include "serial64.inc"

.section .rodata
message: .asciz "Hello from an Apus guest!\n"
