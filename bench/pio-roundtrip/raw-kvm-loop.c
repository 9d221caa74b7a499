// The reference for the PIO benchmark: the same guest, the same KVM setup, and nothing but KVM_RUN in a loop.
// Usage: raw-kvm-loop GUEST_IMAGE EXITS   (the image is loaded at 0x8000 and entered in real mode at 0:0x8000)
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s GUEST_IMAGE EXITS\n", argv[0]); return 2; }
    long exits = atol(argv[2]);
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) die("/dev/kvm");
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0) die("KVM_CREATE_VM");
    // The same VM setup as KVMMachine: TSS and identity-map pages just below 4 GiB.
    if (ioctl(vm, KVM_SET_TSS_ADDR, 0xFFFBD000) < 0) die("KVM_SET_TSS_ADDR");
    uint64_t identity_map = 0xFFFBC000;
    if (ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, &identity_map) < 0) die("KVM_SET_IDENTITY_MAP_ADDR");
    size_t size = 2 << 20;
    uint8_t *memory = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (memory == MAP_FAILED) die("mmap guest memory");
    struct kvm_userspace_memory_region region = {.slot = 0, .guest_phys_addr = 0, .memory_size = size,
                                                  .userspace_addr = (uint64_t)memory};
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) die("KVM_SET_USER_MEMORY_REGION");
    FILE *image = fopen(argv[1], "rb");
    if (!image) die(argv[1]);
    if (fread(memory + 0x8000, 1, 0x78000, image) == 0) { fprintf(stderr, "%s: empty image\n", argv[1]); return 1; }
    fclose(image);
    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    if (vcpu < 0) die("KVM_CREATE_VCPU");
    struct kvm_sregs sregs;
    if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) die("KVM_GET_SREGS");
    sregs.cs.base = 0; sregs.cs.selector = 0;
    sregs.ds.base = 0; sregs.ds.selector = 0;
    sregs.ss.base = 0; sregs.ss.selector = 0;
    if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) die("KVM_SET_SREGS");
    struct kvm_regs regs = {.rip = 0x8000, .rflags = 2};
    if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) die("KVM_SET_REGS");
    int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size <= 0) die("KVM_GET_VCPU_MMAP_SIZE");
    struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED) die("mmap kvm_run");
    for (int i = 0; i < 1000; i++) ioctl(vcpu, KVM_RUN, 0);  // warm up, as the Swift side does
    double start = now_ns();
    for (long i = 0; i < exits; i++) {
        if (ioctl(vcpu, KVM_RUN, 0) < 0 || run->exit_reason != KVM_EXIT_IO) die("KVM_RUN");
    }
    double elapsed = now_ns() - start;
    printf("raw:  %ld exits, %.1f ns per round trip\n", exits, elapsed / exits);
    return 0;
}
