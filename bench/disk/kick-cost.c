// What a virtqueue kick costs the vCPU on this host's KVM, with and without an ioeventfd: a real-mode guest does N
// 2-byte MMIO writes of 0 to one address (as Linux's vp_notify writes a queue index), then HLT. Without an ioeventfd
// each write leaves KVM_RUN and the loop re-enters (what Apus's exit path does before any device work); with one,
// KVM signals an eventfd that another thread reads (QueueNotifyOffload's shape) and the vCPU runs on. Prints the
// wall time per kick of each and the ratio. The same VM setup as KVMMachine (TSS and identity-map pages).
// Usage: kick-cost KICKS
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) { perror(what); exit(1); }

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

enum { NOTIFY = 0xE0003000 };
static volatile int stop_reader;
static volatile uint64_t signalled;

static void *reader(void *argument) {
    int fd = *(int *)argument;
    while (!stop_reader) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) > 0) {
            uint64_t count;
            if (read(fd, &count, 8) == 8) signalled += count;
        }
    }
    return NULL;
}

// One VM, one vCPU, the loop guest at 0x8000: returns ns per kick. With `eventfd` >= 0 the address is an ioeventfd.
static double measure(int kvm, long kicks, int with_eventfd, long *exits_out) {
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0) die("KVM_CREATE_VM");
    if (ioctl(vm, KVM_SET_TSS_ADDR, 0xFFFBD000) < 0) die("KVM_SET_TSS_ADDR");
    uint64_t identity = 0xFFFBC000;
    if (ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0) die("KVM_SET_IDENTITY_MAP_ADDR");
    size_t size = 2 << 20;
    uint8_t *ram = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ram == MAP_FAILED) die("mmap");
    // mov ecx, KICKS; again: mov word [fs:0], 0; dec ecx; jnz again; hlt
    uint8_t code[] = {0x66, 0xB9, 0, 0, 0, 0, 0x64, 0xC7, 0x06, 0x00, 0x00, 0x00, 0x00, 0x66, 0x49, 0x75, 0xF5, 0xF4};
    uint32_t count = (uint32_t)kicks;
    memcpy(code + 2, &count, 4);
    memcpy(ram + 0x8000, code, sizeof code);
    struct kvm_userspace_memory_region region = {.slot = 0, .memory_size = size, .userspace_addr = (uint64_t)ram};
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) die("KVM_SET_USER_MEMORY_REGION");
    int efd = -1;
    pthread_t thread;
    if (with_eventfd) {
        efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        struct kvm_ioeventfd event = {.addr = NOTIFY, .len = 2, .fd = efd, .flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
                                      .datamatch = 0};
        if (ioctl(vm, KVM_IOEVENTFD, &event) < 0) die("KVM_IOEVENTFD");
        stop_reader = 0;
        signalled = 0;
        pthread_create(&thread, NULL, reader, &efd);
    }
    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    if (vcpu < 0) die("KVM_CREATE_VCPU");
    int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED) die("mmap kvm_run");
    struct kvm_sregs sregs;
    if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) die("KVM_GET_SREGS");
    sregs.cs.base = 0; sregs.cs.selector = 0;
    sregs.ds.base = 0; sregs.ds.selector = 0;
    sregs.fs.base = NOTIFY; sregs.fs.selector = 0;
    if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) die("KVM_SET_SREGS");
    struct kvm_regs regs = {.rip = 0x8000, .rsp = 0x7000, .rflags = 2};
    if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) die("KVM_SET_REGS");
    long exits = 0;
    double start = now_ns();
    for (;;) {
        if (ioctl(vcpu, KVM_RUN, 0) < 0) die("KVM_RUN");
        if (run->exit_reason == KVM_EXIT_HLT) break;
        if (run->exit_reason != KVM_EXIT_MMIO) { fprintf(stderr, "unexpected exit %u\n", run->exit_reason); exit(1); }
        exits++;
    }
    double elapsed = now_ns() - start;
    if (with_eventfd) {
        while (signalled < (uint64_t)kicks && now_ns() - start < 60e9) usleep(1000);
        stop_reader = 1;
        pthread_join(thread, NULL);
        if (signalled != (uint64_t)kicks) fprintf(stderr, "eventfd counted %lu of %ld kicks\n", signalled, kicks);
        close(efd);
    }
    *exits_out = exits;
    close(vcpu);
    close(vm);
    munmap(ram, size);
    return elapsed / kicks;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s KICKS\n", argv[0]); return 2; }
    long kicks = atol(argv[1]);
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) die("/dev/kvm");
    if (ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD) <= 0) { printf("no KVM_CAP_IOEVENTFD here\n"); return 0; }
    long exit_count, eventfd_exits;
    double exit_ns = measure(kvm, kicks, 0, &exit_count);
    double eventfd_ns = measure(kvm, kicks, 1, &eventfd_exits);
    printf("%ld kicks: exit to user space %.0f ns/kick (%ld exits), ioeventfd %.0f ns/kick (%ld exits), "
           "ioeventfd/exit %.2f\n", kicks, exit_ns, exit_count, eventfd_ns, eventfd_exits, eventfd_ns / exit_ns);
    return 0;
}
