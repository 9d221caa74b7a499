// Host atomics on guest RAM for the software CPU's vCPU threads. Swift's Synchronization module works only on its
// own Atomic storage, not on raw guest memory, so these take raw pointers. Every function is static inline: the Swift
// compiler inlines them and each compiles to the single x86-64 instruction named beside it.
//
// Why acquire loads and release stores for every guest access (x86-TSO): the host is x86-64, whose hardware already
// keeps loads in order, stores in order and loads before later stores; but the C/Swift optimiser may reorder,
// merge or split plain accesses through raw pointers. An acquire load cannot move after a later access and a
// release store cannot move before an earlier one, which leaves exactly TSO's one relaxation (a later load passing
// an earlier store). On x86-64 both are plain MOVs. Accesses are single-copy atomic when aligned (one MOV); an
// unaligned pointer still compiles to one MOV (x86 makes it atomic within a cache line, as for a guest).
#ifndef CGUESTATOMICS_H
#define CGUESTATOMICS_H

#include <stdint.h>
#include <stdbool.h>

static inline uint8_t guest_load8(const void *p) { return __atomic_load_n((const uint8_t *)p, __ATOMIC_ACQUIRE); }
static inline uint16_t guest_load16(const void *p) { return __atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE); }
static inline uint32_t guest_load32(const void *p) { return __atomic_load_n((const uint32_t *)p, __ATOMIC_ACQUIRE); }
static inline uint64_t guest_load64(const void *p) { return __atomic_load_n((const uint64_t *)p, __ATOMIC_ACQUIRE); }

static inline void guest_store8(void *p, uint8_t v) { __atomic_store_n((uint8_t *)p, v, __ATOMIC_RELEASE); }
static inline void guest_store16(void *p, uint16_t v) { __atomic_store_n((uint16_t *)p, v, __ATOMIC_RELEASE); }
static inline void guest_store32(void *p, uint32_t v) { __atomic_store_n((uint32_t *)p, v, __ATOMIC_RELEASE); }
static inline void guest_store64(void *p, uint64_t v) { __atomic_store_n((uint64_t *)p, v, __ATOMIC_RELEASE); }

// LOCK CMPXCHG: stores `desired` if the bytes still hold `expected`; returns the bytes that were there (equal to
// `expected` exactly when it stored). A full barrier (seq_cst), as every locked instruction is on x86.
#define GUEST_CMPXCHG(bits) \
    static inline uint##bits##_t guest_cmpxchg##bits(void *p, uint##bits##_t expected, uint##bits##_t desired) { \
        __atomic_compare_exchange_n((uint##bits##_t *)p, &expected, desired, false, __ATOMIC_SEQ_CST, \
                                    __ATOMIC_SEQ_CST); \
        return expected; \
    }
GUEST_CMPXCHG(8)
GUEST_CMPXCHG(16)
GUEST_CMPXCHG(32)
GUEST_CMPXCHG(64)
#undef GUEST_CMPXCHG

// LOCK CMPXCHG16B on a 16-byte aligned pointer (the guest's #GP check guarantees the guest address is; guest RAM is
// page-aligned on the host). Returns whether it stored; *low/*high receive the bytes that were there either way.
static inline bool guest_cas128(void *p, uint64_t *low, uint64_t *high, uint64_t newLow, uint64_t newHigh) {
    bool stored;
    __asm__ __volatile__("lock cmpxchg16b %1\n\tsete %0"
                         : "=q"(stored), "+m"(*(unsigned __int128 *)p), "+a"(*low), "+d"(*high)
                         : "b"(newLow), "c"(newHigh)
                         : "memory", "cc");
    return stored;
}

// XCHG with memory (implicitly locked): returns the old bytes.
static inline uint8_t guest_exchange8(void *p, uint8_t v) { return __atomic_exchange_n((uint8_t *)p, v, __ATOMIC_SEQ_CST); }
static inline uint16_t guest_exchange16(void *p, uint16_t v) { return __atomic_exchange_n((uint16_t *)p, v, __ATOMIC_SEQ_CST); }
static inline uint32_t guest_exchange32(void *p, uint32_t v) { return __atomic_exchange_n((uint32_t *)p, v, __ATOMIC_SEQ_CST); }
static inline uint64_t guest_exchange64(void *p, uint64_t v) { return __atomic_exchange_n((uint64_t *)p, v, __ATOMIC_SEQ_CST); }

// MFENCE (and what a locked instruction implies): a sequentially consistent fence.
static inline void guest_full_fence(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

// The decode cache's per-page states, shared by a machine's vCPUs: relaxed (plain MOVs; a stale read costs at most a
// re-decode or is closed by the protocol DecodeCache describes) and an atomic OR to mark a page as holding code.
static inline uint64_t shared_load_relaxed64(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void shared_store_relaxed64(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
static inline uint64_t shared_fetch_or64(uint64_t *p, uint64_t v) { return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST); }
static inline uint64_t shared_fetch_add64(uint64_t *p, uint64_t v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }

#endif
