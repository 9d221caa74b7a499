// A Multiboot (v1) kernel as `qemu-system-x86_64 -kernel` boots it: checks the loader's magic, prints what the
// Multiboot information holds (flags, command line, loader name, memory sizes, memory map, each module's string,
// size and first line) and what QEMU's fw_cfg device reports (signature, ID, RAM size, CPU count, command line, file
// directory), then exits through the debug-exit port with the number of modules.
// format: elf32
#include "platform.inc"
.set MB_MAGIC, 0x1BADB002
.set MB_FLAGS, 0x00000003              // modules on page boundaries; memory information required
.set MB_LOADER_MAGIC, 0x2BADB002
.set FW_CFG_SELECTOR, 0x510
.set FW_CFG_DATA, 0x511

.code32
.section .text.start
.balign 4
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)
.global _start
_start:
    mov $0x80000, %esp                 // Multiboot leaves ESP undefined
    mov %ebx, %ebp                     // the information structure, kept in EBP throughout
    cmp $MB_LOADER_MAGIC, %eax
    je 1f
    mov $s_bad_magic, %esi
    call puts32
    mov $0xFF, %eax
    out %eax, $DEBUG_EXIT
    hlt
1:  pushl 20(%ebp)                    // mods_count: the result code
    mov $s_flags, %esi
    call puts32
    mov (%ebp), %eax
    call put_hex32
    mov $s_cmdline, %esi
    call puts32
    mov 16(%ebp), %esi
    call puts32
    mov $s_loader, %esi
    call puts32
    mov 64(%ebp), %esi
    call puts32
    mov $s_mem_lower, %esi
    call puts32
    mov 4(%ebp), %eax
    call put_hex32
    mov $s_mem_upper, %esi
    call puts32
    mov 8(%ebp), %eax
    call put_hex32
    call newline

    // The memory map: each entry is preceded by its size, which does not count itself.
    mov 48(%ebp), %edi
    mov 44(%ebp), %ebx
    add %edi, %ebx
2:  cmp %ebx, %edi
    jae 3f
    mov $s_mmap, %esi
    call puts32
    mov 8(%edi), %eax
    call put_hex32
    mov 4(%edi), %eax
    call put_hex32
    mov $s_length, %esi
    call puts32
    mov 16(%edi), %eax
    call put_hex32
    mov 12(%edi), %eax
    call put_hex32
    mov $s_type, %esi
    call puts32
    mov 20(%edi), %eax
    call put_hex32
    call newline
    mov (%edi), %eax
    lea 4(%edi,%eax), %edi
    jmp 2b

    // Modules: start, end, string, reserved.
3:  mov 20(%ebp), %ebx
    mov 24(%ebp), %edi
4:  test %ebx, %ebx
    jz 7f
    mov $s_module, %esi
    call puts32
    mov 8(%edi), %esi
    call puts32
    mov $s_module_size, %esi
    call puts32
    mov 4(%edi), %eax
    sub (%edi), %eax
    call put_hex32
    mov (%edi), %eax
    and $0xFFF, %eax
    mov $s_aligned, %esi
    jz 5f
    mov $s_unaligned, %esi
5:  call puts32
    mov (%edi), %esi                   // the first line, at most 32 bytes
    mov 4(%edi), %ecx
    sub %esi, %ecx
    cmp $32, %ecx
    jbe 6f
    mov $32, %ecx
6:  jecxz 8f
9:  lodsb
    cmp $10, %al
    je 8f
    call putc32
    loop 9b
8:  mov $s_quote, %esi
    call puts32
    add $16, %edi
    dec %ebx
    jmp 4b

    // fw_cfg: pick an item with a 16-bit write to 0x510, read its bytes from 0x511.
7:  mov $s_signature, %esi
    call puts32
    mov $0x00, %eax
    call fw_select
    mov $4, %ecx
1:  call fw_read8
    call putc32
    loop 1b
    mov $s_id, %esi
    call puts32
    mov $0x01, %eax
    call fw_select
    call fw_read_le32
    call put_hex32
    mov $s_ram, %esi
    call puts32
    mov $0x03, %eax
    call fw_select
    call fw_read_le32
    mov %eax, %ebx
    call fw_read_le32
    call put_hex32
    mov %ebx, %eax
    call put_hex32
    mov $s_cpus, %esi
    call puts32
    mov $0x05, %eax
    call fw_select
    call fw_read_le32                  // a 16-bit item: the bytes past its end read as zero
    call put_hex32
    mov $s_fw_cmdline, %esi
    call puts32
    mov $0x15, %eax
    call fw_select
1:  call fw_read8
    test %al, %al
    jz 2f
    call putc32
    jmp 1b
2:  mov $s_files, %esi
    call puts32
    mov $0x19, %eax
    call fw_select
    call fw_read_be32
    mov %eax, %ebx
    call put_hex32
    call newline
3:  test %ebx, %ebx
    jz 6f
    call fw_read_be32                  // size
    mov %eax, %edi
    call fw_read_be32                  // selector (high half), reserved (low half)
    shr $16, %eax
    mov %eax, %ebp
    mov $s_file, %esi
    call puts32
    mov $56, %ecx                      // the name, NUL-padded
4:  call fw_read8
    test %al, %al
    jz 5f
    call putc32
5:  loop 4b
    mov $s_select, %esi
    call puts32
    mov %ebp, %eax
    call put_hex32
    mov $s_size, %esi
    call puts32
    mov %edi, %eax
    call put_hex32
    call newline
    dec %ebx
    jmp 3b
6:  pop %eax
    out %eax, $DEBUG_EXIT
    hlt

// fw_select: item %ax. Clobbers %edx.
fw_select:
    mov $FW_CFG_SELECTOR, %dx
    out %ax, %dx
    ret
// fw_read8: the next byte in %al. Clobbers %edx.
fw_read8:
    mov $FW_CFG_DATA, %dx
    in %dx, %al
    ret
// fw_read_le32 / fw_read_be32: the next four bytes as one number. Clobbers %edx.
fw_read_le32:
    push %ecx
    mov $4, %ecx
1:  call fw_read8
    ror $8, %eax                       // each byte enters at the top and moves down
    loop 1b
    pop %ecx
    ret
fw_read_be32:
    push %ecx
    push %ebx
    xor %ebx, %ebx
    mov $4, %ecx
1:  shl $8, %ebx
    call fw_read8
    mov %al, %bl
    loop 1b
    mov %ebx, %eax
    pop %ebx
    pop %ecx
    ret

// put_hex32: %eax as eight hex digits. Clobbers %eax, %edx.
put_hex32:
    push %ebx
    push %ecx
    mov %eax, %ebx
    mov $8, %ecx
1:  rol $4, %ebx
    mov %ebx, %eax
    and $0xF, %eax
    mov hex_digits(%eax), %al
    call putc32
    loop 1b
    pop %ecx
    pop %ebx
    ret
newline:
    mov $10, %al
// putc32: %al on COM1. Clobbers %edx.
putc32:
    push %eax
    mov $COM1_LSR, %dx
1:  in %dx, %al
    test $LSR_THR_EMPTY, %al
    jz 1b
    pop %eax
    mov $COM1_DATA, %dx
    out %al, %dx
    ret

#include "serial32.inc"

.section .rodata
hex_digits: .ascii "0123456789abcdef"
s_bad_magic: .asciz "multiboot: EAX does not hold the loader magic\n"
s_flags: .asciz "multiboot: flags "
s_cmdline: .asciz "\nmultiboot: cmdline '"
s_loader: .asciz "'\nmultiboot: loader "
s_mem_lower: .asciz "\nmultiboot: mem_lower "
s_mem_upper: .asciz " mem_upper "
s_mmap: .asciz "multiboot: mmap "
s_length: .asciz " length "
s_type: .asciz " type "
s_module: .asciz "multiboot: module '"
s_size: .asciz " size "
s_module_size: .asciz "' size "
s_aligned: .asciz " page-aligned '"
s_unaligned: .asciz " NOT page-aligned '"
s_quote: .asciz "'\n"
s_signature: .asciz "fw_cfg: signature "
s_id: .asciz "\nfw_cfg: id "
s_ram: .asciz "\nfw_cfg: ram "
s_cpus: .asciz "\nfw_cfg: cpus "
s_fw_cmdline: .asciz "\nfw_cfg: cmdline '"
s_files: .asciz "'\nfw_cfg: files "
s_file: .asciz "fw_cfg: file "
s_select: .asciz " select "
