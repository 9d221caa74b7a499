// Starts in real mode and switches itself to protected mode and then to 64-bit long mode with its own 4-level page
// tables, printing from each mode; checks a 2 MiB page and an alias mapping (one physical page at two addresses).
// format: flat
#include "platform.inc"
#include "climb.inc"
.code16
.section .text.start
.global _start
_start:
    CLIMB_TO_LONG_MODE in_real, in_protected, long

.code64
long:
    mov $in_long, %rsi
    call puts64
    movl $0x12345678, ALIAS_PHYSICAL
    cmpl $0x12345678, ALIAS_VIRTUAL      // the same bytes through the alias page
    mov $1, %eax
    jne exit64
    movl $0xCAFEF00D, ALIAS_VIRTUAL + 4
    cmpl $0xCAFEF00D, ALIAS_PHYSICAL + 4
    mov $2, %eax
    jne exit64
    movabs $0x1122334455667788, %rbx     // inside the 2 MiB page
    mov %rbx, 0x3FF000
    cmp 0x3FF000, %rbx
    mov $3, %eax
    jne exit64
    mov $paging_ok, %rsi
    call puts64
    xor %eax, %eax
    jmp exit64

#include "serial16.inc"
#include "serial32.inc"
#include "serial64.inc"
#include "modeswitch.inc"

in_real: .asciz "longmode: real mode\n"
in_protected: .asciz "longmode: protected mode\n"
in_long: .asciz "longmode: long mode\n"
paging_ok: .asciz "longmode: 4 KiB, 2 MiB and alias mappings ok\n"
