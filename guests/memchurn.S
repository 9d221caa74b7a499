// Rewrites guest RAM from 2 MiB to 34 MiB forever: one quadword in every 4 KiB page, a new value on every pass, so
// all 8,192 pages are dirtied again and again while the VMM copies them. Live-snapshot and migration tests take its
// memory while it runs; whatever they copy must equal the memory at the moment the guest was paused.
// format: elf64
#include "platform.inc"
.code64
.section .text.start
.global _start
_start:
    mov $0x9E3779B97F4A7C15, %rdx      // a golden-ratio step: every page and every pass gets a different value
    xor %rax, %rax
pass:
    mov $0x200000, %rdi                // the first 2 MiB hold the loader's tables and this image
1:  add %rdx, %rax
    mov %rax, (%rdi)
    add $4096, %rdi
    cmp $0x2200000, %rdi
    jb 1b
    jmp pass
