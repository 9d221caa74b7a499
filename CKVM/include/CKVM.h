// CKVM: the kernel interface only. Typed wrappers around the KVM ioctls (whose request macros do not import into
// Swift), helpers for KVM's flexible-array structs, and kvm_run accessors. No policy lives here.
#pragma once

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

// ---- system fd (/dev/kvm) ----
int ckvm_get_api_version(int kvm_fd);
int ckvm_check_extension(int kvm_fd, long capability);
int ckvm_create_vm(int kvm_fd);
int ckvm_get_vcpu_mmap_size(int kvm_fd);
int ckvm_get_supported_cpuid(int kvm_fd, struct kvm_cpuid2 *cpuid);
int ckvm_get_msr_index_list(int kvm_fd, struct kvm_msr_list *list);

// ---- VM fd ----
int ckvm_create_vcpu(int vm_fd, unsigned long vcpu_id);
int ckvm_set_user_memory_region(int vm_fd, const struct kvm_userspace_memory_region *region);
int ckvm_enable_split_irqchip(int vm_fd, uint64_t ioapic_pins);
int ckvm_irqfd(int vm_fd, const struct kvm_irqfd *irqfd);
int ckvm_ioeventfd(int vm_fd, const struct kvm_ioeventfd *ioeventfd);
// The eventfd(2) that KVM_IOEVENTFD signals and KVM_IRQFD listens on: non-blocking, close-on-exec, counter 0.
int ckvm_eventfd(void);
int ckvm_signal_msi(int vm_fd, const struct kvm_msi *msi);
int ckvm_get_dirty_log(int vm_fd, uint32_t slot, void *bitmap);
int ckvm_set_tss_addr(int vm_fd, unsigned long address);
int ckvm_set_identity_map_addr(int vm_fd, uint64_t address);
int ckvm_get_clock(int vm_fd, struct kvm_clock_data *clock);
int ckvm_set_clock(int vm_fd, const struct kvm_clock_data *clock);
// KVM_SET_GSI_ROUTING with `count` MSI routes: GSI i sends (address_lo[i], address_hi[i], data[i]). Replaces the
// whole table.
int ckvm_set_msi_routing(int vm_fd, uint32_t count, const uint32_t *address_lo, const uint32_t *address_hi,
                         const uint32_t *data);

// ---- vCPU fd ----
int ckvm_run(int vcpu_fd);
// KVM_INTERRUPT: queues an external interrupt vector (with a split irqchip: the 8259A's ExtINT through LINT0).
int ckvm_interrupt(int vcpu_fd, uint32_t vector);
int ckvm_get_regs(int vcpu_fd, struct kvm_regs *regs);
int ckvm_set_regs(int vcpu_fd, const struct kvm_regs *regs);
int ckvm_get_sregs(int vcpu_fd, struct kvm_sregs *sregs);
int ckvm_set_sregs(int vcpu_fd, const struct kvm_sregs *sregs);
int ckvm_get_fpu(int vcpu_fd, struct kvm_fpu *fpu);
int ckvm_set_fpu(int vcpu_fd, const struct kvm_fpu *fpu);
int ckvm_get_xsave(int vcpu_fd, struct kvm_xsave *xsave);
int ckvm_set_xsave(int vcpu_fd, const struct kvm_xsave *xsave);
// KVM_GET_XSAVE2: like KVM_GET_XSAVE into a buffer of KVM_CHECK_EXTENSION(KVM_CAP_XSAVE2) bytes (>= 4096).
int ckvm_get_xsave2(int vcpu_fd, void *xsave);
// KVM_SET_XSAVE with a buffer of that same size.
int ckvm_set_xsave_sized(int vcpu_fd, const void *xsave);
int ckvm_get_xcrs(int vcpu_fd, struct kvm_xcrs *xcrs);
int ckvm_set_xcrs(int vcpu_fd, const struct kvm_xcrs *xcrs);
int ckvm_get_lapic(int vcpu_fd, struct kvm_lapic_state *lapic);
int ckvm_set_lapic(int vcpu_fd, const struct kvm_lapic_state *lapic);
int ckvm_get_msrs(int vcpu_fd, struct kvm_msrs *msrs);
int ckvm_set_msrs(int vcpu_fd, const struct kvm_msrs *msrs);
int ckvm_set_cpuid2(int vcpu_fd, const struct kvm_cpuid2 *cpuid);
int ckvm_get_vcpu_events(int vcpu_fd, struct kvm_vcpu_events *events);
int ckvm_set_vcpu_events(int vcpu_fd, const struct kvm_vcpu_events *events);
int ckvm_get_mp_state(int vcpu_fd, struct kvm_mp_state *state);
int ckvm_set_mp_state(int vcpu_fd, const struct kvm_mp_state *state);

// ---- flexible-array structs (Swift cannot size or index them) ----
struct kvm_cpuid2 *ckvm_cpuid2_alloc(uint32_t capacity);
struct kvm_cpuid_entry2 *ckvm_cpuid2_entry(struct kvm_cpuid2 *cpuid, uint32_t index);
struct kvm_msrs *ckvm_msrs_alloc(uint32_t capacity);
struct kvm_msr_entry *ckvm_msrs_entry(struct kvm_msrs *msrs, uint32_t index);
struct kvm_msr_list *ckvm_msr_list_alloc(uint32_t capacity);
uint32_t ckvm_msr_list_index(const struct kvm_msr_list *list, uint32_t index);
void ckvm_free(void *pointer);

// ---- kvm_run ----
static inline uint8_t *ckvm_run_io_data(struct kvm_run *run) { return (uint8_t *)run + run->io.data_offset; }
static inline void ckvm_run_set_immediate_exit(struct kvm_run *run, uint8_t value) {
    __atomic_store_n(&run->immediate_exit, value, __ATOMIC_SEQ_CST);
}
static inline uint8_t *ckvm_run_mmio_data(struct kvm_run *run) { return run->mmio.data; }
static inline uint64_t ckvm_run_internal_data(const struct kvm_run *run, uint32_t index) {
    return index < 16 ? run->internal.data[index] : 0;
}
static inline uint32_t ckvm_run_exit_reason(const struct kvm_run *run) { return run->exit_reason; }
static inline uint8_t ckvm_run_ready_for_interrupt_injection(const struct kvm_run *run) {
    return run->ready_for_interrupt_injection;
}
static inline void ckvm_run_set_request_interrupt_window(struct kvm_run *run, uint8_t value) {
    run->request_interrupt_window = value;
}
// The vector of a KVM_EXIT_IOAPIC_EOI.
static inline uint8_t ckvm_run_eoi_vector(const struct kvm_run *run) { return run->eoi.vector; }

// ---- flag values whose macros are built from enums or shifts Swift does not import ----
static const uint32_t CKVM_MEM_LOG_DIRTY_PAGES = KVM_MEM_LOG_DIRTY_PAGES;
static const uint32_t CKVM_IRQFD_FLAG_DEASSIGN = KVM_IRQFD_FLAG_DEASSIGN;
static const uint32_t CKVM_IOEVENTFD_FLAG_DATAMATCH = KVM_IOEVENTFD_FLAG_DATAMATCH;
static const uint32_t CKVM_IOEVENTFD_FLAG_PIO = KVM_IOEVENTFD_FLAG_PIO;
static const uint32_t CKVM_IOEVENTFD_FLAG_DEASSIGN = KVM_IOEVENTFD_FLAG_DEASSIGN;

// ---- signals used to kick a vCPU out of KVM_RUN ----
// SIGRTMIN is a libc function call in C, so Swift cannot see it as a constant.
int ckvm_sigrtmin(void);
// The real-time signal Apus uses for kicks (SIGRTMIN + 1: glibc's NPTL reserves the ones below SIGRTMIN).
int ckvm_kick_signal(void);
// Installs a handler that does nothing, without SA_RESTART, so a blocked KVM_RUN returns EINTR.
int ckvm_install_kick_handler(void);
// Unblocks the kick signal on the calling thread (libdispatch worker threads block signals by default).
int ckvm_unblock_kick_signal(void);
