// A 32-bit protected-mode guest, entered with flat segments and paging off: sums a table and checks the total.
// format: elf32
#include "platform.inc"
.code32
.section .text.start
.global _start
_start:
    mov $greeting, %esi
    call puts32
    xor %eax, %eax
    mov $table, %esi
    mov $(table_end - table) / 4, %ecx
1:  add (%esi), %eax
    add $4, %esi
    loop 1b
    cmp $0x10101011, %eax       // 0x01010101 + 0x02020202 + ... as listed below
    jne failed
    mov $passed, %esi
    call puts32
    xor %eax, %eax
    out %eax, $DEBUG_EXIT
    hlt
failed:
    mov $1, %eax
    out %eax, $DEBUG_EXIT
    hlt

#include "serial32.inc"

.section .rodata
table: .long 0x01010101, 0x02020202, 0x03030303, 0x04040404, 0x05050505, 0x01010101, 0x00000001, 0x00000000
table_end:
greeting: .asciz "protected mode: hello from 32 bits\n"
passed: .asciz "protected mode: checksum ok\n"
