// A 16-bit real-mode guest: checks that segment:offset addressing computes segment*16 + offset, writing through one
// segment register and reading the same byte back through another.
// format: flat
#include "platform.inc"
.code16
.section .text.start
.global _start
_start:
    cli
    xor %ax, %ax
    mov %ax, %ds
    mov %ax, %ss
    mov $0x7000, %sp
    mov $greeting, %si
    call puts16
    // 0x1000:0x0010 and 0x1001:0x0000 are both physical 0x10010.
    mov $0x1000, %ax
    mov %ax, %es
    movw $0xBEEF, %es:0x10
    mov $0x1001, %ax
    mov %ax, %ds
    cmpw $0xBEEF, %ds:0
    jne failed
    xor %ax, %ax
    mov %ax, %ds
    mov $passed, %si
    call puts16
    xor %ax, %ax
    out %ax, $DEBUG_EXIT
    hlt
failed:
    mov $1, %ax
    out %ax, $DEBUG_EXIT
    hlt

#include "serial16.inc"

greeting: .asciz "real mode: hello from 16 bits\n"
passed: .asciz "real mode: segment arithmetic ok\n"
