// smp: several vCPUs. The bootstrap processor (BSP) copies a start-up trampoline below 1 MiB and starts every
// application processor (AP) with INIT and two start-up IPIs, as the MP specification's universal algorithm does.
// Each AP climbs real -> protected -> long mode on the BSP's page tables, checks that its CPUID.1:EBX[31:24] is its
// local APIC's ID, marks that ID in a shared bitmap with LOCK BTS, and then every CPU (the BSP too) adds 1 to one
// shared counter ADDS times with LOCK XADD. The BSP prints the CPU count (fw_cfg item 0x05, as kernels made for
// qemu -kernel read it), the APIC IDs seen and the counter, and exits with 0, or 1 when something disagreed.
// Needs the interrupt-controller platform; runs with any number of vCPUs up to 64 (BuiltInGuests gives it 4).
// format: elf64
#include "platform.inc"
.set APIC, 0xFEE00000
.set APIC_ID, 0x20
.set APIC_SVR, 0xF0
.set APIC_ICR_LOW, 0x300
.set APIC_ICR_HIGH, 0x310
.set ICR_PENDING, 1 << 12
.set INIT_ALL_BUT_SELF, 0xC4500         // shorthand all-excluding-self, level assert, INIT
.set SIPI_ALL_BUT_SELF, 0xC4600         // the same, start-up; ORed with the vector
.set TRAMPOLINE, 0x10000                // start-up vector 0x10: an AP starts at 1000:0000
.set FW_CFG_SELECTOR, 0x510
.set FW_CFG_DATA, 0x511
.set FW_CFG_NB_CPUS, 0x05
.set ADDS, 100000
.set MAX_CPUS, 64
.set STACK_SIZE, 4096
.set ARRIVAL_TIMEOUT_TSC, 1 << 36       // tens of seconds at any TSC rate: an AP that never comes is reported
.set EFER, 0xC0000080

.code64
.section .text.start
.global _start
_start:
    mov $APIC, %r15d
    mov $FW_CFG_NB_CPUS, %ax
    mov $FW_CFG_SELECTOR, %dx
    out %ax, %dx
    mov $FW_CFG_DATA, %dx
    in %dx, %al
    movzbl %al, %ebx
    in %dx, %al
    movzbl %al, %eax
    shl $8, %eax
    or %eax, %ebx
    mov %ebx, cpu_count(%rip)
    mov APIC_ID(%r15), %eax
    shr $24, %eax
    lock bts %rax, seen(%rip)
    movl $0x1FF, APIC_SVR(%r15)          // software-enable the local APIC, spurious vector 0xFF
    cmpl $1, cpu_count(%rip)
    jbe all_arrived

    // The trampoline, then what it needs from us: CR3 and the 64-bit entry.
    lea trampoline(%rip), %rsi
    mov $TRAMPOLINE, %edi
    mov $(trampoline_end - trampoline), %ecx
    rep movsb
    mov %cr3, %rax
    mov %eax, TRAMPOLINE + (t_cr3 - trampoline)
    lea ap_main(%rip), %rax
    mov %rax, TRAMPOLINE + (t_entry - trampoline)

    movl $0, APIC_ICR_HIGH(%r15)
    movl $INIT_ALL_BUT_SELF, APIC_ICR_LOW(%r15)
    call wait_icr
    movl $SIPI_ALL_BUT_SELF | (TRAMPOLINE >> 12), APIC_ICR_LOW(%r15)
    call wait_icr
    // The second start-up IPI of the universal algorithm; an AP already running ignores it.
    movl $SIPI_ALL_BUT_SELF | (TRAMPOLINE >> 12), APIC_ICR_LOW(%r15)
    call wait_icr

    call read_tsc
    mov %rax, %r14
1:  mov arrived(%rip), %eax
    inc %eax
    cmp cpu_count(%rip), %eax
    jae all_arrived
    pause
    call read_tsc
    sub %r14, %rax
    mov $ARRIVAL_TIMEOUT_TSC, %rcx
    cmp %rcx, %rax
    jb 1b
    movl $1, failed(%rip)
all_arrived:
    movl $1, go(%rip)
    call add_many
2:  mov finished(%rip), %eax
    cmp arrived(%rip), %eax
    jae report
    pause
    jmp 2b

report:
    lea m_cpus(%rip), %rsi
    call puts64
    mov cpu_count(%rip), %eax
    call putdec64
    lea m_ids(%rip), %rsi
    call puts64
    xor %ebx, %ebx
3:  bt %rbx, seen(%rip)
    jnc 4f
    mov $' ', %al
    call putc64
    mov %ebx, %eax
    call putdec64
4:  inc %ebx
    cmp $MAX_CPUS, %ebx
    jb 3b
    lea m_newline(%rip), %rsi
    call puts64

    cmpl $0, mismatches(%rip)
    jne 5f
    lea m_match(%rip), %rsi
    call puts64
    jmp 6f
5:  movl $1, failed(%rip)
    lea m_mismatch(%rip), %rsi
    call puts64
    mov mismatches(%rip), %eax
    call putdec64
    lea m_newline(%rip), %rsi
    call puts64

6:  lea m_counter(%rip), %rsi
    call puts64
    mov counter(%rip), %eax
    call putdec64
    lea m_expected(%rip), %rsi
    call puts64
    mov cpu_count(%rip), %eax
    imul $ADDS, %eax
    mov %eax, %ebx
    call putdec64
    lea m_newline(%rip), %rsi
    call puts64
    cmp counter(%rip), %ebx
    je 7f
    movl $1, failed(%rip)
7:  mov failed(%rip), %eax
    jmp exit64

// Every AP arrives here in long mode, interrupts off, on the trampoline's GDT.
ap_main:
    mov $1, %eax
    lock xadd %eax, next_stack(%rip)
    inc %eax
    imul $STACK_SIZE, %eax
    lea ap_stacks(%rip), %rsp
    add %rax, %rsp
    mov $1, %eax
    cpuid
    shr $24, %ebx
    mov $APIC, %r15d
    mov APIC_ID(%r15), %eax
    shr $24, %eax
    cmp %eax, %ebx
    je 1f
    lock incl mismatches(%rip)
1:  lock bts %rax, seen(%rip)
    lock incl arrived(%rip)
2:  cmpl $0, go(%rip)
    jne 3f
    pause
    jmp 2b
3:  call add_many
    lock incl finished(%rip)
4:  cli
    hlt
    jmp 4b

// add_many: ADDS times one LOCK XADD of 1 to the shared counter. Clobbers %eax, %ecx.
add_many:
    mov $ADDS, %ecx
1:  mov $1, %eax
    lock xadd %eax, counter(%rip)
    dec %ecx
    jnz 1b
    ret

// wait_icr: until the local APIC has sent the last IPI.
wait_icr:
1:  testl $ICR_PENDING, APIC_ICR_LOW(%r15)
    jz 2f
    pause
    jmp 1b
2:  ret

// read_tsc: the time-stamp counter in %rax. Clobbers %rdx.
read_tsc:
    rdtsc
    shl $32, %rdx
    or %rdx, %rax
    ret

#include "serial64.inc"

// The start-up trampoline, copied to TRAMPOLINE: real mode -> 32-bit protected mode -> long mode, then a jump to
// t_entry. Position-dependent on TRAMPOLINE only.
.balign 16
trampoline:
.code16
    cli
    mov %cs, %ax
    mov %ax, %ds
    lgdtl t_gdtr - trampoline
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl $0x18, $(TRAMPOLINE + t_protected - trampoline)
.code32
t_protected:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov TRAMPOLINE + (t_cr3 - trampoline), %eax
    mov %eax, %cr3
    mov %cr4, %eax
    or $0x20, %eax                      // PAE
    mov %eax, %cr4
    mov $EFER, %ecx
    rdmsr
    or $0x100, %eax                     // LME
    wrmsr
    mov %cr0, %eax
    or $0x80000000, %eax                // PG: long mode
    mov %eax, %cr0
    ljmp $0x08, $(TRAMPOLINE + t_long - trampoline)
.code64
t_long:
    jmp *(TRAMPOLINE + t_entry - trampoline)
.balign 8
t_gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF            // 0x08: 64-bit code
    .quad 0x00CF92000000FFFF            // 0x10: data, 4 GiB
    .quad 0x00CF9A000000FFFF            // 0x18: 32-bit code, 4 GiB
t_gdt_end:
t_gdtr:
    .word t_gdt_end - t_gdt - 1
    .long TRAMPOLINE + (t_gdt - trampoline)
.balign 8
t_entry: .quad 0
t_cr3: .long 0
trampoline_end:

.section .rodata
m_cpus: .asciz "smp: CPU count "
m_ids: .asciz ", APIC IDs"
m_match: .asciz "smp: every AP's CPUID.1 APIC ID is its local APIC's ID\n"
m_mismatch: .asciz "smp: CPUID.1 and the local APIC disagree on APs: "
m_counter: .asciz "smp: counter "
m_expected: .asciz ", expected "
m_newline: .asciz "\n"

.section .data
.balign 8
seen: .quad 0
cpu_count: .long 0
arrived: .long 0
finished: .long 0
go: .long 0
counter: .long 0
mismatches: .long 0
failed: .long 0
next_stack: .long 0

.section .bss
.balign 4096
ap_stacks: .skip MAX_CPUS * STACK_SIZE
