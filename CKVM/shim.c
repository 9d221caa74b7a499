#define _GNU_SOURCE
#include "CKVM.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>

int ckvm_get_api_version(int fd) { return ioctl(fd, KVM_GET_API_VERSION, 0); }
int ckvm_check_extension(int fd, long capability) { return ioctl(fd, KVM_CHECK_EXTENSION, capability); }
int ckvm_create_vm(int fd) { return ioctl(fd, KVM_CREATE_VM, 0); }
int ckvm_get_vcpu_mmap_size(int fd) { return ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0); }
int ckvm_get_supported_cpuid(int fd, struct kvm_cpuid2 *cpuid) { return ioctl(fd, KVM_GET_SUPPORTED_CPUID, cpuid); }
int ckvm_get_msr_index_list(int fd, struct kvm_msr_list *list) { return ioctl(fd, KVM_GET_MSR_INDEX_LIST, list); }

int ckvm_create_vcpu(int fd, unsigned long id) { return ioctl(fd, KVM_CREATE_VCPU, id); }
int ckvm_set_user_memory_region(int fd, const struct kvm_userspace_memory_region *region) {
    return ioctl(fd, KVM_SET_USER_MEMORY_REGION, region);
}
int ckvm_enable_split_irqchip(int fd, uint64_t pins) {
    struct kvm_enable_cap cap = {.cap = KVM_CAP_SPLIT_IRQCHIP, .args = {pins}};
    return ioctl(fd, KVM_ENABLE_CAP, &cap);
}
int ckvm_irqfd(int fd, const struct kvm_irqfd *irqfd) { return ioctl(fd, KVM_IRQFD, irqfd); }
int ckvm_ioeventfd(int fd, const struct kvm_ioeventfd *ioeventfd) { return ioctl(fd, KVM_IOEVENTFD, ioeventfd); }
int ckvm_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }
int ckvm_signal_msi(int fd, const struct kvm_msi *msi) { return ioctl(fd, KVM_SIGNAL_MSI, msi); }
int ckvm_get_dirty_log(int fd, uint32_t slot, void *bitmap) {
    struct kvm_dirty_log log = {.slot = slot, .dirty_bitmap = bitmap};
    return ioctl(fd, KVM_GET_DIRTY_LOG, &log);
}
int ckvm_set_tss_addr(int fd, unsigned long address) { return ioctl(fd, KVM_SET_TSS_ADDR, address); }
int ckvm_set_identity_map_addr(int fd, uint64_t address) { return ioctl(fd, KVM_SET_IDENTITY_MAP_ADDR, &address); }
int ckvm_get_clock(int fd, struct kvm_clock_data *clock) { return ioctl(fd, KVM_GET_CLOCK, clock); }
int ckvm_set_clock(int fd, const struct kvm_clock_data *clock) { return ioctl(fd, KVM_SET_CLOCK, clock); }
int ckvm_set_msi_routing(int fd, uint32_t count, const uint32_t *address_lo, const uint32_t *address_hi,
                         const uint32_t *data) {
    struct kvm_irq_routing *table = calloc(1, sizeof(*table) + count * sizeof(struct kvm_irq_routing_entry));
    if (!table) {
        errno = ENOMEM;
        return -1;
    }
    table->nr = count;
    for (uint32_t gsi = 0; gsi < count; gsi++) {
        struct kvm_irq_routing_entry *entry = &table->entries[gsi];
        entry->gsi = gsi;
        entry->type = KVM_IRQ_ROUTING_MSI;
        entry->u.msi.address_lo = address_lo[gsi];
        entry->u.msi.address_hi = address_hi[gsi];
        entry->u.msi.data = data[gsi];
    }
    int result = ioctl(fd, KVM_SET_GSI_ROUTING, table);
    int saved = errno;
    free(table);
    errno = saved;
    return result;
}

int ckvm_run(int fd) { return ioctl(fd, KVM_RUN, 0); }
int ckvm_interrupt(int fd, uint32_t vector) {
    struct kvm_interrupt request = {.irq = vector};
    return ioctl(fd, KVM_INTERRUPT, &request);
}
int ckvm_get_regs(int fd, struct kvm_regs *regs) { return ioctl(fd, KVM_GET_REGS, regs); }
int ckvm_set_regs(int fd, const struct kvm_regs *regs) { return ioctl(fd, KVM_SET_REGS, regs); }
int ckvm_get_sregs(int fd, struct kvm_sregs *sregs) { return ioctl(fd, KVM_GET_SREGS, sregs); }
int ckvm_set_sregs(int fd, const struct kvm_sregs *sregs) { return ioctl(fd, KVM_SET_SREGS, sregs); }
int ckvm_get_fpu(int fd, struct kvm_fpu *fpu) { return ioctl(fd, KVM_GET_FPU, fpu); }
int ckvm_set_fpu(int fd, const struct kvm_fpu *fpu) { return ioctl(fd, KVM_SET_FPU, fpu); }
int ckvm_get_xsave(int fd, struct kvm_xsave *xsave) { return ioctl(fd, KVM_GET_XSAVE, xsave); }
int ckvm_set_xsave(int fd, const struct kvm_xsave *xsave) { return ioctl(fd, KVM_SET_XSAVE, xsave); }
int ckvm_get_xsave2(int fd, void *xsave) { return ioctl(fd, KVM_GET_XSAVE2, xsave); }
int ckvm_set_xsave_sized(int fd, const void *xsave) { return ioctl(fd, KVM_SET_XSAVE, xsave); }
int ckvm_get_xcrs(int fd, struct kvm_xcrs *xcrs) { return ioctl(fd, KVM_GET_XCRS, xcrs); }
int ckvm_set_xcrs(int fd, const struct kvm_xcrs *xcrs) { return ioctl(fd, KVM_SET_XCRS, xcrs); }
int ckvm_get_lapic(int fd, struct kvm_lapic_state *lapic) { return ioctl(fd, KVM_GET_LAPIC, lapic); }
int ckvm_set_lapic(int fd, const struct kvm_lapic_state *lapic) { return ioctl(fd, KVM_SET_LAPIC, lapic); }
int ckvm_get_msrs(int fd, struct kvm_msrs *msrs) { return ioctl(fd, KVM_GET_MSRS, msrs); }
int ckvm_set_msrs(int fd, const struct kvm_msrs *msrs) { return ioctl(fd, KVM_SET_MSRS, msrs); }
int ckvm_set_cpuid2(int fd, const struct kvm_cpuid2 *cpuid) { return ioctl(fd, KVM_SET_CPUID2, cpuid); }
int ckvm_get_vcpu_events(int fd, struct kvm_vcpu_events *events) { return ioctl(fd, KVM_GET_VCPU_EVENTS, events); }
int ckvm_set_vcpu_events(int fd, const struct kvm_vcpu_events *events) { return ioctl(fd, KVM_SET_VCPU_EVENTS, events); }
int ckvm_get_mp_state(int fd, struct kvm_mp_state *state) { return ioctl(fd, KVM_GET_MP_STATE, state); }
int ckvm_set_mp_state(int fd, const struct kvm_mp_state *state) { return ioctl(fd, KVM_SET_MP_STATE, state); }

struct kvm_cpuid2 *ckvm_cpuid2_alloc(uint32_t capacity) {
    struct kvm_cpuid2 *cpuid = calloc(1, sizeof(*cpuid) + capacity * sizeof(struct kvm_cpuid_entry2));
    if (cpuid) cpuid->nent = capacity;
    return cpuid;
}
struct kvm_cpuid_entry2 *ckvm_cpuid2_entry(struct kvm_cpuid2 *cpuid, uint32_t index) { return &cpuid->entries[index]; }
struct kvm_msrs *ckvm_msrs_alloc(uint32_t capacity) {
    struct kvm_msrs *msrs = calloc(1, sizeof(*msrs) + capacity * sizeof(struct kvm_msr_entry));
    if (msrs) msrs->nmsrs = capacity;
    return msrs;
}
struct kvm_msr_entry *ckvm_msrs_entry(struct kvm_msrs *msrs, uint32_t index) { return &msrs->entries[index]; }
struct kvm_msr_list *ckvm_msr_list_alloc(uint32_t capacity) {
    struct kvm_msr_list *list = calloc(1, sizeof(*list) + capacity * sizeof(uint32_t));
    if (list) list->nmsrs = capacity;
    return list;
}
uint32_t ckvm_msr_list_index(const struct kvm_msr_list *list, uint32_t index) { return list->indices[index]; }
void ckvm_free(void *pointer) { free(pointer); }

int ckvm_sigrtmin(void) { return SIGRTMIN; }
int ckvm_kick_signal(void) { return ckvm_sigrtmin() + 1; }

static void ckvm_ignore_kick(int signal) { (void)signal; }

int ckvm_install_kick_handler(void) {
    struct sigaction action = {0};
    action.sa_handler = ckvm_ignore_kick;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;  // no SA_RESTART: a blocked KVM_RUN must return EINTR
    return sigaction(ckvm_kick_signal(), &action, NULL);
}

int ckvm_unblock_kick_signal(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, ckvm_kick_signal());
    return pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}
