// The port-I/O round-trip benchmark guest: one OUT to the POST-code port, forever. Each OUT is one exit.
// format: flat
.code16
.section .text.start
.global _start
_start:
1:  out %al, $0x80
    jmp 1b
