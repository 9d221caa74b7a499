// Exercises the interrupt controllers and prints what it observes, so the output is the same on KVM (the kernel's
// local APIC; the VMM's IOAPIC on the split irqchip) and on the software CPU (Apus's own): self-IPIs taken in priority
// order, the TPR holding back a lower class, the LAPIC timer in one-shot, periodic and TSC-deadline modes, and IOAPIC
// pin 4 (the UART's THRE interrupt) edge-triggered, masked, and level-triggered with re-delivery after each EOI while
// the line stays high, and how many level handler calls found their vector in service (ISR set, as it must be until
// the handler's EOI). Needs a machine with an interrupt controller (docs/GUEST-ABI.md).
// format: elf64
#include "platform.inc"
.set APIC, 0xFEE00000                 // kept in %r15: above 2 GiB, so not a sign-extended disp32
.set APIC_TPR, 0x80
.set APIC_EOI, 0xB0
.set APIC_ISR_52, 0x120                // ISR bits 64-95
.set APIC_SVR, 0xF0
.set APIC_ICR_LOW, 0x300
.set APIC_LVT_TIMER, 0x320
.set APIC_LVT_LINT0, 0x350
.set APIC_TIMER_INITIAL, 0x380
.set APIC_TIMER_CURRENT, 0x390
.set APIC_TIMER_DIVIDE, 0x3E0
.set IOAPIC, 0xFEC00000               // kept in %r14
.set IOAPIC_SELECT, 0x00
.set IOAPIC_WINDOW, 0x10
.set PIN4_LOW, 0x18
.set PIN4_HIGH, 0x19
.set COM1_IER, 0x3F9
.set COM1_IIR, 0x3FA
.set COM1_MCR, 0x3FC
.set SELF_IPI, 0x44000                 // ICR: shorthand self, level assert, fixed
.set TIMER_VECTOR, 0x30
.set TPR_VECTOR, 0x45
.set EDGE_VECTOR, 0x50
.set LEVEL_VECTOR, 0x52
.set TSC_DEADLINE_MSR, 0x6E0
.code64
.section .text.start
.global _start
_start:
    mov $APIC, %r15d
    mov $IOAPIC, %r14d
    lea timer_handler(%rip), %rax
    mov $TIMER_VECTOR, %ecx
    call set_gate
    lea ipi41(%rip), %rax
    mov $0x41, %ecx
    call set_gate
    lea ipi51(%rip), %rax
    mov $0x51, %ecx
    call set_gate
    lea ipi61(%rip), %rax
    mov $0x61, %ecx
    call set_gate
    lea tpr_handler(%rip), %rax
    mov $TPR_VECTOR, %ecx
    call set_gate
    lea edge_handler(%rip), %rax
    mov $EDGE_VECTOR, %ecx
    call set_gate
    lea level_handler(%rip), %rax
    mov $LEVEL_VECTOR, %ecx
    call set_gate
    lea spurious_handler(%rip), %rax
    mov $0xFF, %ecx
    call set_gate
    lidt idt_descriptor(%rip)

    // Mask both 8259As and LINT0 (the virtual wire): only the APICs deliver from here on.
    mov $0xFF, %al
    out %al, $0x21
    out %al, $0xA1
    movl $0x10700, APIC_LVT_LINT0(%r15)
    movl $0x1FF, APIC_SVR(%r15)              // software enable, spurious vector 0xFF
    movl $0, APIC_TPR(%r15)

    // Three self-IPIs sent with interrupts off are taken highest class first.
    movl $SELF_IPI | 0x41, APIC_ICR_LOW(%r15)
    movl $SELF_IPI | 0x61, APIC_ICR_LOW(%r15)
    movl $SELF_IPI | 0x51, APIC_ICR_LOW(%r15)
    call open_window
    lea msg_order(%rip), %rsi
    call puts64
    movzbl order(%rip), %eax
    call puthex8
    movzbl order + 1(%rip), %eax
    call puthex8
    movzbl order + 2(%rip), %eax
    call puthex8
    call newline

    // TPR class 5 holds back vector 0x45 until the TPR drops.
    movl $0x50, APIC_TPR(%r15)
    movl $SELF_IPI | TPR_VECTOR, APIC_ICR_LOW(%r15)
    call open_window
    lea msg_tpr(%rip), %rsi
    call puts64
    mov tpr_hits(%rip), %eax
    call puthex8
    movl $0, APIC_TPR(%r15)
    call open_window
    mov tpr_hits(%rip), %eax
    call puthex8
    call newline

    // One-shot: 100,000 counts at divide-by-1, then the current count reads 0.
    movl $0xB, APIC_TIMER_DIVIDE(%r15)
    movl $TIMER_VECTOR, APIC_LVT_TIMER(%r15)
    movl $100000, APIC_TIMER_INITIAL(%r15)
    mov $1, %ebx
    call wait_for_ticks
    lea msg_oneshot(%rip), %rsi
    call puts64
    mov ticks(%rip), %eax
    call puthex8
    mov APIC_TIMER_CURRENT(%r15), %eax
    call puthex8
    call newline

    // Periodic: five interrupts, then the timer is stopped and anything left over is drained.
    movl $0, ticks(%rip)
    movl $0x20000 | TIMER_VECTOR, APIC_LVT_TIMER(%r15)
    movl $200000, APIC_TIMER_INITIAL(%r15)
    mov $5, %ebx
    call wait_for_ticks
    movl $0, APIC_TIMER_INITIAL(%r15)
    movl $0x10000 | TIMER_VECTOR, APIC_LVT_TIMER(%r15)
    call open_window
    lea msg_periodic(%rip), %rsi
    call puts64
    mov $5, %eax                       // at least five arrived (more may land while the loop compares)
    call puthex8
    call newline

    // TSC deadline, if CPUID offers it: fires once, and the MSR reads 0 afterwards.
    lea msg_deadline(%rip), %rsi
    call puts64
    mov $1, %eax
    cpuid
    bt $24, %ecx
    jnc no_deadline
    movl $0, ticks(%rip)
    movl $0x40000 | TIMER_VECTOR, APIC_LVT_TIMER(%r15)
    rdtsc
    shl $32, %rdx
    or %rdx, %rax
    add $200000, %rax
    mov %rax, %rdx
    shr $32, %rdx
    mov $TSC_DEADLINE_MSR, %ecx
    wrmsr
    mov $1, %ebx
    call wait_for_ticks
    mov $TSC_DEADLINE_MSR, %ecx
    rdmsr
    or %edx, %eax
    push %rax
    mov ticks(%rip), %eax
    call puthex8
    pop %rax
    call puthex8
    jmp deadline_done
no_deadline:
    lea msg_absent(%rip), %rsi
    call puts64
deadline_done:
    call newline

    // IOAPIC pin 4, edge-triggered: the UART's THRE interrupt arrives once. MCR.OUT2 gates the UART's IRQ on a PC.
    mov $0x08, %al
    mov $COM1_MCR, %dx
    out %al, %dx
    movl $PIN4_HIGH, IOAPIC_SELECT(%r14)
    movl $0, IOAPIC_WINDOW(%r14)             // destination APIC 0
    movl $PIN4_LOW, IOAPIC_SELECT(%r14)
    movl $EDGE_VECTOR, IOAPIC_WINDOW(%r14)
    mov $0x02, %al
    mov $COM1_IER, %dx
    out %al, %dx
    call open_window
    xor %al, %al
    mov $COM1_IER, %dx
    out %al, %dx
    lea msg_edge(%rip), %rsi
    call puts64
    mov edge_hits(%rip), %eax
    call puthex8

    // Masked: the edge is lost, and unmasking does not bring it back.
    movl $PIN4_LOW, IOAPIC_SELECT(%r14)
    movl $0x10000 | EDGE_VECTOR, IOAPIC_WINDOW(%r14)
    mov $0x02, %al
    mov $COM1_IER, %dx
    out %al, %dx
    call open_window
    movl $PIN4_LOW, IOAPIC_SELECT(%r14)
    movl $EDGE_VECTOR, IOAPIC_WINDOW(%r14)
    call open_window
    xor %al, %al
    mov $COM1_IER, %dx
    out %al, %dx
    mov edge_hits(%rip), %eax
    call puthex8
    call newline

    // Level-triggered: while the line stays high every EOI brings the interrupt back; the third handler call
    // masks the pin, and the line is dropped afterwards.
    movl $PIN4_LOW, IOAPIC_SELECT(%r14)
    movl $0x8000 | LEVEL_VECTOR, IOAPIC_WINDOW(%r14)
    mov $0x02, %al
    mov $COM1_IER, %dx
    out %al, %dx
    call open_window
    xor %al, %al
    mov $COM1_IER, %dx
    out %al, %dx
    lea msg_level(%rip), %rsi
    call puts64
    mov level_hits(%rip), %eax
    call puthex8
    call newline
    lea msg_in_service(%rip), %rsi
    call puts64
    mov level_in_service(%rip), %eax
    call puthex8
    call newline

    lea msg_done(%rip), %rsi
    call puts64
    xor %eax, %eax
    jmp exit64

// open_window: interrupts on for a bounded spin, then off again.
open_window:
    mov $20000, %ecx
    sti
1:  dec %ecx
    jnz 1b
    cli
    ret

// wait_for_ticks: halt until `ticks` reaches %ebx.
wait_for_ticks:
    sti
    hlt
    cli
    cmp %ebx, ticks(%rip)
    jb wait_for_ticks
    ret

// set_gate: IDT entry %ecx -> handler %rax (64-bit interrupt gate, code selector 0x08, DPL 0).
set_gate:
    lea idt(%rip), %rdi
    shl $4, %rcx
    add %rcx, %rdi
    mov %ax, (%rdi)
    movw $0x08, 2(%rdi)
    movw $0x8E00, 4(%rdi)
    shr $16, %rax
    mov %ax, 6(%rdi)
    shr $16, %rax
    mov %eax, 8(%rdi)
    movl $0, 12(%rdi)
    ret

timer_handler:
    incl ticks(%rip)
    movl $0, APIC_EOI(%r15)
    iretq

ipi41:
    push %rax
    mov $0x41, %al
    jmp record_ipi
ipi51:
    push %rax
    mov $0x51, %al
    jmp record_ipi
ipi61:
    push %rax
    mov $0x61, %al
record_ipi:
    push %rbx
    mov order_length(%rip), %ebx
    and $3, %ebx
    lea order(%rip), %rdx
    mov %al, (%rdx, %rbx)
    incl order_length(%rip)
    pop %rbx
    pop %rax
    movl $0, APIC_EOI(%r15)
    iretq

tpr_handler:
    incl tpr_hits(%rip)
    movl $0, APIC_EOI(%r15)
    iretq

edge_handler:
    push %rax
    push %rdx
    mov $COM1_IIR, %dx
    in %dx, %al                        // reading IIR clears the THRE interrupt
    incl edge_hits(%rip)
    movl $0, APIC_EOI(%r15)
    pop %rdx
    pop %rax
    iretq

level_handler:
    push %rax
    push %rdx
    incl level_hits(%rip)
    mov APIC_ISR_52(%r15), %eax        // the vector must be in service until the EOI below
    bt $LEVEL_VECTOR - 64, %eax
    jnc 2f
    incl level_in_service(%rip)
2:
    cmpl $3, level_hits(%rip)
    jb 1f
    movl $PIN4_LOW, IOAPIC_SELECT(%r14)
    movl $0x18000 | LEVEL_VECTOR, IOAPIC_WINDOW(%r14)   // masked: the EOI below brings nothing back
1:  movl $0, APIC_EOI(%r15)
    pop %rdx
    pop %rax
    iretq

spurious_handler:
    iretq

// puthex8: " " then the low byte of %eax in hex. Clobbers %rax, %rcx, %rdx.
puthex8:
    mov %eax, %ecx
    mov $' ', %al
    call putc64
    mov %ecx, %eax
    shr $4, %al
    and $0xF, %al
    call hexdigit
    mov %ecx, %eax
    and $0xF, %al
    call hexdigit
    ret
hexdigit:
    add $'0', %al
    cmp $'9', %al
    jbe 1f
    add $'a' - '9' - 1, %al
1:  jmp putc64

newline:
    mov $'\n', %al
    jmp putc64

#include "serial64.inc"

.section .rodata
msg_order: .asciz "apic: self-IPI order"
msg_tpr: .asciz "apic: TPR 0x50 holds 0x45, then"
msg_oneshot: .asciz "apic: one-shot ticks, count after"
msg_periodic: .asciz "apic: periodic ticks at least"
msg_deadline: .asciz "apic: TSC-deadline ticks, MSR after"
msg_absent: .asciz " not offered"
msg_edge: .asciz "ioapic: pin 4 edge hits, then masked"
msg_level: .asciz "ioapic: pin 4 level deliveries"
msg_in_service: .asciz "ioapic: pin 4 level in service in its handler"
msg_done: .asciz "apic: done\n"

.section .data
.balign 8
idt_descriptor:
    .word 256 * 16 - 1
    .quad idt

.section .bss
.balign 16
idt: .skip 256 * 16
ticks: .skip 4
order_length: .skip 4
order: .skip 4
tpr_hits: .skip 4
edge_hits: .skip 4
level_hits: .skip 4
level_in_service: .skip 4
