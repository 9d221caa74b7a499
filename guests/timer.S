// Takes timer interrupts: programs the 8259A pair (IRQ 0 at vector 0x20, everything else masked) and the 8254
// (channel 0, rate generator, 1 kHz), then sleeps in HLT until ten interrupts have arrived. Needs a machine with an
// interrupt controller (docs/GUEST-ABI.md); proves external interrupts, IDT delivery and HLT wake-up on a backend.
// format: elf64
#include "platform.inc"
.set PIC_MASTER, 0x20
.set PIC_SLAVE, 0xA0
.set PIT_CHANNEL0, 0x40
.set PIT_CONTROL, 0x43
.set TIMER_VECTOR, 0x20
.set SPURIOUS_VECTOR, 0x27
.set TICKS_WANTED, 10
.code64
.section .text.start
.global _start
_start:
    lea timer_handler(%rip), %rax
    mov $TIMER_VECTOR, %ecx
    call set_gate
    lea spurious_handler(%rip), %rax
    mov $SPURIOUS_VECTOR, %ecx
    call set_gate
    lidt idt_descriptor(%rip)

    // ICW1-4 for both chips (edge-triggered, cascade on IRQ 2, 8086 mode), then the masks.
    mov $0x11, %al
    out %al, $PIC_MASTER
    out %al, $PIC_SLAVE
    mov $TIMER_VECTOR, %al
    out %al, $PIC_MASTER + 1
    mov $0x28, %al
    out %al, $PIC_SLAVE + 1
    mov $0x04, %al
    out %al, $PIC_MASTER + 1
    mov $0x02, %al
    out %al, $PIC_SLAVE + 1
    mov $0x01, %al
    out %al, $PIC_MASTER + 1
    out %al, $PIC_SLAVE + 1
    mov $0xFE, %al
    out %al, $PIC_MASTER + 1
    mov $0xFF, %al
    out %al, $PIC_SLAVE + 1

    // Channel 0, low then high byte, mode 2, 1193 ticks of 1.193182 MHz: one interrupt per millisecond.
    mov $0x34, %al
    out %al, $PIT_CONTROL
    mov $1193 & 0xFF, %al
    out %al, $PIT_CHANNEL0
    mov $1193 >> 8, %al
    out %al, $PIT_CHANNEL0

wait_for_ticks:
    sti
    hlt                                // STI's one-instruction shadow makes sti; hlt sleep without a lost wake-up
    cli
    cmpl $TICKS_WANTED, ticks(%rip)
    jb wait_for_ticks

    lea message(%rip), %rsi
    call puts64
    xor %eax, %eax
    jmp exit64

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
    push %rax
    incl ticks(%rip)
    mov $0x20, %al                     // non-specific EOI
    out %al, $PIC_MASTER
    pop %rax
    iretq

spurious_handler:                      // IRQ 7 with nothing in service: no EOI
    iretq

#include "serial64.inc"

.section .rodata
message: .asciz "timer: 10 interrupts taken\n"

.section .data
.balign 8
idt_descriptor:
    .word 256 * 16 - 1
    .quad idt

.section .bss
.balign 16
idt: .skip 256 * 16
ticks: .skip 4
