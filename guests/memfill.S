// Dirties guest RAM from 2 MiB to 250 MiB (one distinct, non-zero quadword in every 4 KiB page), says so on COM1,
// then spins. The daemon benchmark suspends and resumes it as a 256 MiB guest whose memory is really in use, so the
// suspend writes all of it (zero pages would be skipped as holes). Needs at least 256 MiB of guest memory.
// format: elf64
#include "platform.inc"
.code64
.section .text.start
.global _start
_start:
    mov $0x200000, %rdi                // the first 2 MiB hold the loader's tables and this image
    mov $0xFA00000, %rcx               // 250 MiB: stays inside a 256 MiB guest
    mov $0x9E3779B97F4A7C15, %rdx      // a golden-ratio step, so every page holds a different value
    mov %rdx, %rax
1:  mov %rax, (%rdi)
    add %rdx, %rax
    add $4096, %rdi
    cmp %rcx, %rdi
    jb 1b
    lea message(%rip), %rsi
    call puts64
2:  pause
    jmp 2b

#include "serial64.inc"

.section .rodata
message: .asciz "memfill: 248 MiB dirtied\n"
