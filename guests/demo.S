// The built-in demo (`apus run` with no arguments): boots like a tiny OS, climbing from real mode through protected
// mode to 64-bit long mode with paging, then draws the Mandelbrot set in ASCII with fixed-point integer arithmetic.
// format: flat
#include "platform.inc"
#include "climb.inc"
.set FIXED_ONE, 4096                   // 12 fractional bits
.set COLUMNS, 40
.set ROWS, 12
.set MAX_ITERATIONS, 30

.code16
.section .text.start
.global _start
_start:
    mov $banner, %si
    call puts16
    CLIMB_TO_LONG_MODE in_real, in_protected, long

.code64
long:
    mov $in_long, %rsi
    call puts64
    xor %r9, %r9                       // row
row:
    imul $745, %r9, %r11               // cy = -1.0 + row * 0.182
    sub $FIXED_ONE, %r11
    xor %r10, %r10                     // column
column:
    mov %r10, %r12                     // cx = -2.0 + column * 0.0625
    shl $8, %r12
    sub $(2 * FIXED_ONE), %r12
    xor %r13, %r13                     // zr
    xor %r14, %r14                     // zi
    xor %ecx, %ecx                     // iterations
iterate:
    mov %r13, %rbx
    imul %r13, %rbx
    sar $12, %rbx                      // zr^2
    mov %r14, %rdx
    imul %r14, %rdx
    sar $12, %rdx                      // zi^2
    lea (%rbx, %rdx), %rax
    cmp $(4 * FIXED_ONE), %rax         // |z|^2 > 4: escaped
    jg escaped
    mov %r13, %rax
    imul %r14, %rax
    sar $11, %rax                      // 2 * zr * zi
    add %r11, %rax
    mov %rax, %r14
    mov %rbx, %rax
    sub %rdx, %rax
    add %r12, %rax
    mov %rax, %r13
    inc %ecx
    cmp $MAX_ITERATIONS, %ecx
    jl iterate
escaped:
    mov %ecx, %eax
    xor %edx, %edx
    mov $3, %esi
    div %esi
    lea palette(%rip), %rsi
    movzbl (%rsi, %rax), %eax
    call putc64
    inc %r10
    cmp $COLUMNS, %r10
    jl column
    mov $'\n', %al
    call putc64
    inc %r9
    cmp $ROWS, %r9
    jl row
    mov $done, %rsi
    call puts64
    xor %eax, %eax
    jmp exit64

#include "serial16.inc"
#include "serial32.inc"
#include "serial64.inc"
#include "modeswitch.inc"

banner: .asciz "Apus demo guest: a tiny OS booting on your hypervisor\n"
in_real: .asciz "[real mode]      16-bit, segments of 64 KiB\n"
in_protected: .asciz "[protected mode] 32-bit, flat 4 GiB segments\n"
in_long: .asciz "[long mode]      64-bit, 4-level paging on; drawing the Mandelbrot set:\n"
palette: .ascii " .,:-=+*#%@"
done: .asciz "demo: done, reporting result code 0\n"
