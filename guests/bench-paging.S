// The software-CPU benchmark's paging- and memory-heavy loop (bench/softcpu): a read-modify-write of one quadword in
// a 32 MiB buffer mapped with 4 KiB pages, stepping 4 KiB + 8 bytes each time, so every iteration lands on a new page
// (8192 pages: far more than any TLB here holds). Seven instructions per iteration, `iterations` times, then a line on
// COM1 and the debug exit with 0. Needs 48 MiB of RAM. Boots on Apus (ELF32) and under QEMU (Multiboot) alike.
// format: elf32
#include "platform.inc"
#include "benchentry.inc"
BENCH_ENTRY paging

.set BUFFER, 0x1000000                 // virtual = physical 16 MiB .. 48 MiB
.set BUFFER_MASK, 0x1FFFFF8            // 32 MiB, kept 8-byte aligned
.set BUFFER_TABLES, 0x40000            // 16 page tables, 0x40000-0x4FFFF
.set STRIDE, 4104

.code64
paging:
    // Map the buffer with 4 KiB pages: 16 page tables under page-directory entries 8-23 of modeswitch.inc's PD.
    mov $BUFFER_TABLES, %rdi
    mov $(BUFFER | 3), %rax
    mov $(16 * 512), %ecx
1:  mov %rax, (%rdi)
    add $8, %rdi
    add $0x1000, %rax
    dec %ecx
    jnz 1b
    mov $(PD + 8 * 8), %rdi
    mov $(BUFFER_TABLES | 3), %rax
    mov $16, %ecx
2:  mov %rax, (%rdi)
    add $8, %rdi
    add $0x1000, %rax
    dec %ecx
    jnz 2b
    mov %cr3, %rax
    mov %rax, %cr3
    mov $BUFFER, %rbx
    xor %edi, %edi
    mov $0x9E3779B97F4A7C15, %rdx
    mov $BUFFER_MASK, %r8
    mov iterations(%rip), %rcx
    test %rcx, %rcx
    jz 4f
3:  mov (%rbx,%rdi), %rax              // the timed loop: 7 instructions per iteration
    add %rdx, %rax
    mov %rax, (%rbx,%rdi)
    add $STRIDE, %rdi
    and %r8, %rdi
    dec %rcx
    jnz 3b
4:  lea message(%rip), %rsi
    call puts64
    xor %eax, %eax
    jmp exit64

#include "modeswitch.inc"
#include "serial64.inc"

.section .rodata
message: .asciz "bench-paging: done\n"
