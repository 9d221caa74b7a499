// Writes to port 0x1234, where no device lives: the run must end with an error naming the port.
// format: flat
.code16
.section .text.start
.global _start
_start:
    mov $0x1234, %dx
    mov $0x55, %al
    out %al, %dx
    xor %ax, %ax
    out %ax, $0xF4
    hlt
