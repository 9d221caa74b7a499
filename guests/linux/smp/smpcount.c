// apus-smpcount [THREADS]: THREADS threads (default 4, at most 16) each add 1 to one shared 64-bit counter 1,000,000
// times with LOCK XADD, then it prints
//   APUS-SMPCOUNT threads <n> total <sum> expected <n * 1000000> milliseconds <wall time>
// and exits with 0 when the total is exact. Threads are clone(2)d by hand: freestanding (raw system calls, no libc),
// so it builds with the toolchain's clang alone: clang -O2 -static -nostdlib -ffreestanding -fno-stack-protector.
// LinuxSMPSoftCPUTests builds it and appends it to the initramfs (not in ../programs, whose digest versions the
// shared initramfs cache).

typedef unsigned long size_t;
struct timespec_raw { long seconds; long nanoseconds; };

enum { SYS_write = 1, SYS_sched_yield = 24, SYS_clone = 56, SYS_exit = 60, SYS_clock_gettime = 228,
       SYS_exit_group = 231 };
enum { CLOCK_MONOTONIC = 1 };
enum { ADDS = 1000000, MAX_THREADS = 16, STACK_BYTES = 65536 };
// CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM: a thread of this process.
#define THREAD_FLAGS 0x50F00L

static long system_call(long number, long a, long b, long c) {
    long result;
    __asm__ volatile("syscall" : "=a"(result) : "a"(number), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return result;
}

static unsigned long counter;
static int finished;
static char stacks[MAX_THREADS][STACK_BYTES] __attribute__((aligned(16)));

// Runs on a new thread's own stack; never returns.
__attribute__((noreturn, used)) void apus_thread_main(void) {
    for (long i = 0; i < ADDS; i++) {
        unsigned long one = 1;
        __asm__ volatile("lock xaddq %0, %1" : "+r"(one), "+m"(counter) : : "memory");
    }
    __atomic_fetch_add(&finished, 1, __ATOMIC_SEQ_CST);
    system_call(SYS_exit, 0, 0, 0);
    __builtin_unreachable();
}

// clone(2) with a new stack: the child returns from the system call on that stack and calls apus_thread_main.
static long spawn(char *stack_top) {
    long result;
    register long tls __asm__("r10") = 0;
    register long child_tid __asm__("r8") = 0;
    __asm__ volatile("syscall\n\t"
                     "test %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     "call apus_thread_main\n\t"
                     "1:"
                     : "=a"(result)
                     : "a"(SYS_clone), "D"(THREAD_FLAGS), "S"(stack_top), "d"(0), "r"(tls), "r"(child_tid)
                     : "rcx", "r11", "memory");
    return result;
}

static long milliseconds(void) {
    struct timespec_raw now = { 0, 0 };
    system_call(SYS_clock_gettime, CLOCK_MONOTONIC, (long)&now, 0);
    return now.seconds * 1000 + now.nanoseconds / 1000000;
}

static size_t append(char *out, size_t at, const char *text) {
    while (*text) out[at++] = *text++;
    return at;
}

static size_t append_number(char *out, size_t at, unsigned long value) {
    char digits[24];
    int count = 0;
    do { digits[count++] = (char)('0' + value % 10); value /= 10; } while (value);
    while (count) out[at++] = digits[--count];
    return at;
}

__attribute__((noreturn, used)) void apus_main(long *stack) {
    long argc = stack[0];
    char **argv = (char **)(stack + 1);
    long threads = 4;
    if (argc > 1) {
        threads = 0;
        for (const char *c = argv[1]; *c >= '0' && *c <= '9'; c++) threads = threads * 10 + (*c - '0');
        if (threads < 1 || threads > MAX_THREADS) threads = 4;
    }
    long start = milliseconds();
    long started = 0;
    for (long t = 0; t < threads; t++) {
        if (spawn(stacks[t] + STACK_BYTES) > 0) started++;
    }
    while (__atomic_load_n(&finished, __ATOMIC_SEQ_CST) < started) system_call(SYS_sched_yield, 0, 0, 0);
    long elapsed = milliseconds() - start;
    unsigned long expected = (unsigned long)threads * ADDS;
    char line[160];
    size_t length = append(line, 0, "APUS-SMPCOUNT threads ");
    length = append_number(line, length, (unsigned long)threads);
    length = append(line, length, " total ");
    length = append_number(line, length, __atomic_load_n(&counter, __ATOMIC_SEQ_CST));
    length = append(line, length, " expected ");
    length = append_number(line, length, expected);
    length = append(line, length, " milliseconds ");
    length = append_number(line, length, (unsigned long)elapsed);
    line[length++] = '\n';
    system_call(SYS_write, 1, (long)line, (long)length);
    system_call(SYS_exit_group, counter == expected ? 0 : 1, 0, 0);
    __builtin_unreachable();
}

// The kernel enters _start with RSP at argc, 16-byte aligned, and no return address.
__asm__(".globl _start\n_start:\n\tmov %rsp, %rdi\n\tand $-16, %rsp\n\tcall apus_main\n\thlt\n");
