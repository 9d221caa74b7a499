// Crashes on purpose: with an empty IDT, the #UD from ud2 cannot be delivered (#GP), nor can that fault (#DF), and
// the CPU shuts down — a triple fault. The VMM must report it as such instead of hanging.
// format: elf64
.code64
.section .text.start
.global _start
_start:
    lidt empty_idt(%rip)
    ud2

.section .rodata
.balign 8
empty_idt:
    .word 0
    .quad 0
