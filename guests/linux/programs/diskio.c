// apus-diskio DEVICE MIB OPS: in-guest block-device figures with O_DIRECT (the page cache never answers), timed
// with CLOCK_MONOTONIC inside the guest so boot time does not count. One line per test:
//   APUS-DISKIO <test> <bytes> <operations> <nanoseconds>
// seq-write: MIB x 1 MiB writes from offset 0, then fsync; seq-read: the same range read back and checked;
// rand-read / rand-write: OPS 4 KiB requests at random 4 KiB-aligned offsets inside that range (rand-write ends
// with an fsync; rand-read checks every block it reads). Every 4 KiB block carries its own index, so a read that
// returns the wrong block (or nothing) is reported as APUS-DISKIO-MISMATCH and the exit status is 1.
// Freestanding (raw system calls, no libc) like clockres.c: clang -O2 -static -nostdlib -ffreestanding.

typedef unsigned long size_t;
typedef unsigned long u64;
struct timespec_raw { long seconds; long nanoseconds; };

enum { SYS_read = 0, SYS_write = 1, SYS_open = 2, SYS_close = 3, SYS_pread64 = 17, SYS_pwrite64 = 18,
       SYS_fsync = 74, SYS_exit = 60, SYS_clock_gettime = 228 };
enum { O_RDWR = 2, O_DIRECT = 040000, CLOCK_MONOTONIC = 1 };
enum { BLOCK = 4096, CHUNK = 1 << 20 };

static long system_call(long number, long a, long b, long c, long d) {
    long result;
    register long r10 __asm__("r10") = d;
    __asm__ volatile("syscall" : "=a"(result) : "a"(number), "D"(a), "S"(b), "d"(c), "r"(r10)
                     : "rcx", "r11", "memory");
    return result;
}

// O_DIRECT needs buffers aligned to the logical block size; a page covers every device.
static unsigned char buffer[CHUNK] __attribute__((aligned(4096)));

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

static void say(const char *first, const char *second, long number) {
    char line[160];
    size_t length = append(line, 0, first);
    if (second) length = append(line, length, second);
    if (number >= 0) { line[length++] = ' '; length = append_number(line, length, number); }
    line[length++] = '\n';
    system_call(SYS_write, 1, (long)line, (long)length, 0);
}

static void report(const char *test, u64 bytes, u64 operations, long nanoseconds) {
    char line[160];
    size_t length = append(line, 0, "APUS-DISKIO ");
    length = append(line, length, test);
    line[length++] = ' ';
    length = append_number(line, length, (long)bytes);
    line[length++] = ' ';
    length = append_number(line, length, (long)operations);
    line[length++] = ' ';
    length = append_number(line, length, nanoseconds);
    line[length++] = '\n';
    system_call(SYS_write, 1, (long)line, (long)length, 0);
}

static long now(void) {
    struct timespec_raw time = { 0, 0 };
    system_call(SYS_clock_gettime, CLOCK_MONOTONIC, (long)&time, 0, 0);
    return time.seconds * 1000000000L + time.nanoseconds;
}

static long parse(const char *text) {
    long value = 0;
    if (!*text) return -1;
    for (; *text; text++) {
        if (*text < '0' || *text > '9') return -1;
        value = value * 10 + (*text - '0');
    }
    return value;
}

// Each 4 KiB block starts with its index and its complement, so a misplaced or stale block is caught.
static void stamp(unsigned char *block, u64 index) {
    u64 *words = (u64 *)block;
    words[0] = index;
    words[1] = ~index;
    for (int i = 2; i < BLOCK / 8; i++) words[i] = index * 0x9E3779B97F4A7C15UL + (u64)i;
}

static int stamped(const unsigned char *block, u64 index) {
    const u64 *words = (const u64 *)block;
    return words[0] == index && words[1] == ~index && words[BLOCK / 8 - 1] == index * 0x9E3779B97F4A7C15UL
        + (u64)(BLOCK / 8 - 1);
}

static u64 random_state = 0x2545F4914F6CDD1DUL;
static u64 next_random(void) {  // xorshift64: a fixed sequence, so every run touches the same blocks
    random_state ^= random_state << 13;
    random_state ^= random_state >> 7;
    random_state ^= random_state << 17;
    return random_state;
}

static int run(const char *device, long mib, long operations) {
    long fd = system_call(SYS_open, (long)device, O_RDWR | O_DIRECT, 0, 0);
    if (fd < 0) { say("APUS-DISKIO-ERROR open ", device, -fd); return 1; }
    u64 blocks = (u64)mib * (CHUNK / BLOCK);
    int failures = 0;

    long start = now();
    for (long chunk = 0; chunk < mib; chunk++) {
        for (int b = 0; b < CHUNK / BLOCK; b++) stamp(buffer + b * BLOCK, (u64)chunk * (CHUNK / BLOCK) + b);
        long done = system_call(SYS_pwrite64, fd, (long)buffer, CHUNK, chunk * (long)CHUNK);
        if (done != CHUNK) { say("APUS-DISKIO-ERROR seq-write", 0, -done); return 1; }
    }
    long synced = system_call(SYS_fsync, fd, 0, 0, 0);
    if (synced != 0) { say("APUS-DISKIO-ERROR fsync", 0, -synced); return 1; }
    report("seq-write", (u64)mib * CHUNK, (u64)mib, now() - start);

    start = now();
    for (long chunk = 0; chunk < mib; chunk++) {
        long done = system_call(SYS_pread64, fd, (long)buffer, CHUNK, chunk * (long)CHUNK);
        if (done != CHUNK) { say("APUS-DISKIO-ERROR seq-read", 0, -done); return 1; }
        // Checking only the first block of each chunk keeps the check out of the timed figure's way.
        if (!stamped(buffer, (u64)chunk * (CHUNK / BLOCK))) failures++;
    }
    report("seq-read", (u64)mib * CHUNK, (u64)mib, now() - start);

    start = now();
    for (long op = 0; op < operations; op++) {
        u64 index = next_random() % blocks;
        long done = system_call(SYS_pread64, fd, (long)buffer, BLOCK, (long)(index * BLOCK));
        if (done != BLOCK) { say("APUS-DISKIO-ERROR rand-read", 0, -done); return 1; }
        if (!stamped(buffer, index)) failures++;
    }
    report("rand-read", (u64)operations * BLOCK, (u64)operations, now() - start);

    start = now();
    for (long op = 0; op < operations; op++) {
        u64 index = next_random() % blocks;
        stamp(buffer, index);  // rewrite the block's own content: later reads still check out
        long done = system_call(SYS_pwrite64, fd, (long)buffer, BLOCK, (long)(index * BLOCK));
        if (done != BLOCK) { say("APUS-DISKIO-ERROR rand-write", 0, -done); return 1; }
    }
    synced = system_call(SYS_fsync, fd, 0, 0, 0);
    if (synced != 0) { say("APUS-DISKIO-ERROR fsync", 0, -synced); return 1; }
    report("rand-write", (u64)operations * BLOCK, (u64)operations, now() - start);

    system_call(SYS_close, fd, 0, 0, 0);
    if (failures) { say("APUS-DISKIO-MISMATCH", 0, failures); return 1; }
    say("APUS-DISKIO-DONE", 0, -1);
    return 0;
}

// The kernel enters _start with RSP pointing at argc, then argv: read them before realigning the stack.
__attribute__((noreturn, naked)) void _start(void) {
    __asm__ volatile("mov %rsp, %rdi\n and $-16, %rsp\n call start_with_stack\n ud2");
}

__attribute__((noreturn, used)) void start_with_stack(long *stack) {
    long argc = stack[0];
    char **argv = (char **)(stack + 1);
    long mib = argc > 2 ? parse(argv[2]) : -1;
    long operations = argc > 3 ? parse(argv[3]) : -1;
    int status = 1;
    if (argc != 4 || mib <= 0 || operations < 0) say("usage: apus-diskio DEVICE MIB OPS", 0, -1);
    else status = run(argv[1], mib, operations);
    system_call(SYS_exit, status, 0, 0, 0);
    __builtin_unreachable();
}
