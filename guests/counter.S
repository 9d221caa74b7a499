// Counts forever on COM1: "1\n2\n3\n...", with a short busy-wait between numbers. Suspend/resume tests use it: after a
// resume the next number must follow the last one printed, proving the guest continued rather than rebooted.
// format: elf64
#include "platform.inc"
.code64
.section .text.start
.global _start
_start:
    mov $1, %r12                       // the counter lives in a register, so only a faithful resume keeps it
next:
    mov %r12, %rax
    call putdec64
    mov $'\n', %al
    call putc64
    inc %r12
    mov $20000, %ecx
2:  dec %ecx
    jnz 2b
    jmp next

#include "serial64.inc"
