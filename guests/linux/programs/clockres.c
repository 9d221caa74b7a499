// apus-clockres: prints what clock_getres(2) says for CLOCK_MONOTONIC and CLOCK_REALTIME, one line each:
//   APUS-CLOCK-RES <clock> <seconds> <nanoseconds>
// A guest kernel running on a clock it trusts (TSC + high-resolution timers) answers 0 1; on jiffies it answers a
// tick (0 4000000 at HZ=250). Freestanding (raw system calls, no libc) so fetch.sh builds it with the toolchain's
// clang alone: clang -O2 -static -nostdlib -ffreestanding.

typedef unsigned long size_t;
struct timespec_raw { long seconds; long nanoseconds; };

enum { SYS_write = 1, SYS_exit = 60, SYS_clock_getres = 229 };
enum { CLOCK_REALTIME = 0, CLOCK_MONOTONIC = 1 };

static long system_call(long number, long a, long b, long c) {
    long result;
    __asm__ volatile("syscall" : "=a"(result) : "a"(number), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return result;
}

static size_t append(char *out, size_t at, const char *text) {
    while (*text) out[at++] = *text++;
    return at;
}

static size_t append_number(char *out, size_t at, long value) {
    char digits[24];
    int count = 0;
    if (value < 0) { out[at++] = '-'; value = -value; }
    do { digits[count++] = (char)('0' + value % 10); value /= 10; } while (value);
    while (count) out[at++] = digits[--count];
    return at;
}

static int report(int clock, const char *name) {
    struct timespec_raw resolution = { -1, -1 };
    long result = system_call(SYS_clock_getres, clock, (long)&resolution, 0);
    char line[96];
    size_t length = append(line, 0, "APUS-CLOCK-RES ");
    length = append(line, length, name);
    if (result != 0) {
        length = append(line, length, " error ");
        length = append_number(line, length, -result);
    } else {
        line[length++] = ' ';
        length = append_number(line, length, resolution.seconds);
        line[length++] = ' ';
        length = append_number(line, length, resolution.nanoseconds);
    }
    line[length++] = '\n';
    system_call(SYS_write, 1, (long)line, (long)length);
    return result == 0 ? 0 : 1;
}

// The kernel enters _start with RSP 16-byte aligned and no return address: realign as a called function expects.
__attribute__((noreturn, force_align_arg_pointer)) void _start(void) {
    int failures = report(CLOCK_MONOTONIC, "CLOCK_MONOTONIC") + report(CLOCK_REALTIME, "CLOCK_REALTIME");
    system_call(SYS_exit, failures, 0, 0);
    __builtin_unreachable();
}
