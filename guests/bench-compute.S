// The software-CPU benchmark's compute loop (bench/softcpu): six instructions per iteration (ALU, one store and one
// load through a 2 MiB page), `iterations` times, then a line on COM1 and the debug exit with 0.
// Boots as ELF32 on Apus and as a Multiboot kernel under QEMU (benchentry.inc), so both run the same bytes.
// format: elf32
#include "platform.inc"
#include "benchentry.inc"
BENCH_ENTRY compute

.code64
compute:
    mov iterations(%rip), %rcx
    test %ecx, %ecx
    jz 2f
1:  add %rcx, %rax                     // the timed loop: 6 instructions per iteration
    xor %rax, %rdx
    mov %rdx, 0x200000
    mov 0x200000, %rbx
    dec %ecx
    jnz 1b
2:  lea message(%rip), %rsi
    call puts64
    xor %eax, %eax
    jmp exit64

#include "modeswitch.inc"
#include "serial64.inc"

.section .rodata
message: .asciz "bench-compute: done\n"
