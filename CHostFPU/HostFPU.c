#include "CHostFPU.h"
#include <string.h>

// Every asm statement is volatile, so none moves across the MXCSR / control-word switches around it.

static uint32_t enter_sse(uint32_t guest) {
    // The guest's RC, DAZ and FTZ; all masked; no flags. With underflow unmasked the hardware never flushes (it
    // traps instead), so FTZ is dropped and `unmasked_underflow` looks at the unflushed result.
    uint32_t host, mode = (guest & ((guest & 0x0800u) ? 0xE040u : 0x6040u)) | 0x1F80u;
    __asm__ volatile("stmxcsr %0" : "=m"(host));
    __asm__ volatile("ldmxcsr %0" : : "m"(mode));
    return host;
}

static uint32_t leave_sse(uint32_t host) {
    uint32_t after;
    __asm__ volatile("stmxcsr %0" : "=m"(after));
    __asm__ volatile("ldmxcsr %0" : : "m"(host));
    return after & 0x3Fu;
}

/// With underflow unmasked, hardware raises it for every tiny result, exact or not; masked, only for inexact ones.
static uint32_t unmasked_underflow(uint32_t guest, int single, uint64_t bits, uint32_t flags) {
    if (guest & 0x0800u) return flags;
    int tiny = single ? ((bits & 0x7F800000u) == 0 && (bits & 0x7FFFFFu) != 0)
                      : ((bits & 0x7FF0000000000000ull) == 0 && (bits & 0xFFFFFFFFFFFFFull) != 0);
    return tiny ? (flags | 0x10u) : flags;
}

static float single_of(uint64_t bits) { uint32_t low = (uint32_t)bits; float value; memcpy(&value, &low, 4); return value; }
static double double_of(uint64_t bits) { double value; memcpy(&value, &bits, 8); return value; }
static uint64_t bits_of_single(float value) { uint32_t low; memcpy(&low, &value, 4); return low; }
static uint64_t bits_of_double(double value) { uint64_t bits; memcpy(&bits, &value, 8); return bits; }

#define SINGLE(instruction) __asm__ volatile(instruction " %1, %0" : "+x"(x) : "x"(y))
#define DOUBLE(instruction) __asm__ volatile(instruction " %1, %0" : "+x"(u) : "x"(v))

uint32_t apus_sse_arithmetic(int operation, int single, uint64_t a, uint64_t b, uint32_t mxcsr, uint64_t *result) {
    float x = single_of(a), y = single_of(b);
    double u = double_of(a), v = double_of(b);
    uint32_t host = enter_sse(mxcsr);
    if (single) {
        switch (operation) {
        case APUS_SSE_ADD: SINGLE("addss"); break;
        case APUS_SSE_SUB: SINGLE("subss"); break;
        case APUS_SSE_MUL: SINGLE("mulss"); break;
        case APUS_SSE_DIV: SINGLE("divss"); break;
        case APUS_SSE_MIN: SINGLE("minss"); break;
        case APUS_SSE_MAX: SINGLE("maxss"); break;
        case APUS_SSE_SQRT: SINGLE("sqrtss"); break;
        case APUS_SSE_RCP: SINGLE("rcpss"); break;
        case APUS_SSE_RSQRT: SINGLE("rsqrtss"); break;
        }
    } else {
        switch (operation) {
        case APUS_SSE_ADD: DOUBLE("addsd"); break;
        case APUS_SSE_SUB: DOUBLE("subsd"); break;
        case APUS_SSE_MUL: DOUBLE("mulsd"); break;
        case APUS_SSE_DIV: DOUBLE("divsd"); break;
        case APUS_SSE_MIN: DOUBLE("minsd"); break;
        case APUS_SSE_MAX: DOUBLE("maxsd"); break;
        case APUS_SSE_SQRT: DOUBLE("sqrtsd"); break;
        default: break;   // no double RCP/RSQRT
        }
    }
    uint32_t flags = leave_sse(host);
    *result = single ? bits_of_single(x) : bits_of_double(u);
    return operation == APUS_SSE_MIN || operation == APUS_SSE_MAX ? flags
        : unmasked_underflow(mxcsr, single, *result, flags);
}

#define COMPARE_SINGLE(p) case p: __asm__ volatile("cmpss $" #p ", %1, %0" : "+x"(x) : "x"(y)); break
#define COMPARE_DOUBLE(p) case p: __asm__ volatile("cmpsd $" #p ", %1, %0" : "+x"(u) : "x"(v)); break

uint32_t apus_sse_compare(int predicate, int single, uint64_t a, uint64_t b, uint32_t mxcsr, uint64_t *result) {
    float x = single_of(a), y = single_of(b);
    double u = double_of(a), v = double_of(b);
    uint32_t host = enter_sse(mxcsr);
    if (single) {
        switch (predicate & 7) {
        COMPARE_SINGLE(0); COMPARE_SINGLE(1); COMPARE_SINGLE(2); COMPARE_SINGLE(3);
        COMPARE_SINGLE(4); COMPARE_SINGLE(5); COMPARE_SINGLE(6); COMPARE_SINGLE(7);
        }
    } else {
        switch (predicate & 7) {
        COMPARE_DOUBLE(0); COMPARE_DOUBLE(1); COMPARE_DOUBLE(2); COMPARE_DOUBLE(3);
        COMPARE_DOUBLE(4); COMPARE_DOUBLE(5); COMPARE_DOUBLE(6); COMPARE_DOUBLE(7);
        }
    }
    uint32_t flags = leave_sse(host);
    *result = single ? bits_of_single(x) : bits_of_double(u);
    return flags;
}

uint32_t apus_sse_ordered_compare(int signaling, int single, uint64_t a, uint64_t b, uint32_t mxcsr, uint64_t *eflags) {
    float x = single_of(a), y = single_of(b);
    double u = double_of(a), v = double_of(b);
    uint8_t zf, pf, cf;
    uint32_t host = enter_sse(mxcsr);
    if (single && signaling)
        __asm__ volatile("comiss %4, %3\n\tsetz %0\n\tsetp %1\n\tsetc %2" : "=q"(zf), "=q"(pf), "=q"(cf) : "x"(x), "x"(y));
    else if (single)
        __asm__ volatile("ucomiss %4, %3\n\tsetz %0\n\tsetp %1\n\tsetc %2" : "=q"(zf), "=q"(pf), "=q"(cf) : "x"(x), "x"(y));
    else if (signaling)
        __asm__ volatile("comisd %4, %3\n\tsetz %0\n\tsetp %1\n\tsetc %2" : "=q"(zf), "=q"(pf), "=q"(cf) : "x"(u), "x"(v));
    else
        __asm__ volatile("ucomisd %4, %3\n\tsetz %0\n\tsetp %1\n\tsetc %2" : "=q"(zf), "=q"(pf), "=q"(cf) : "x"(u), "x"(v));
    uint32_t flags = leave_sse(host);
    *eflags = (uint64_t)cf | (uint64_t)pf << 2 | (uint64_t)zf << 6;
    return flags;
}

uint32_t apus_sse_convert(int conversion, uint64_t value, uint32_t mxcsr, uint64_t *result) {
    float x = single_of(value), fr = 0;
    double u = double_of(value), dr = 0;
    int32_t i32 = (int32_t)(uint32_t)value, r32 = 0;
    int64_t i64 = (int64_t)value, r64 = 0;
    int kind = 0;   // 0: single result, 1: double, 2: int32, 3: int64
    uint32_t host = enter_sse(mxcsr);
    switch (conversion) {
    case APUS_CVT_INT32_TO_SINGLE: __asm__ volatile("cvtsi2ssl %1, %0" : "+x"(fr) : "r"(i32)); kind = 0; break;
    case APUS_CVT_INT32_TO_DOUBLE: __asm__ volatile("cvtsi2sdl %1, %0" : "+x"(dr) : "r"(i32)); kind = 1; break;
    case APUS_CVT_INT64_TO_SINGLE: __asm__ volatile("cvtsi2ssq %1, %0" : "+x"(fr) : "r"(i64)); kind = 0; break;
    case APUS_CVT_INT64_TO_DOUBLE: __asm__ volatile("cvtsi2sdq %1, %0" : "+x"(dr) : "r"(i64)); kind = 1; break;
    case APUS_CVT_SINGLE_TO_INT32: __asm__ volatile("cvtss2si %1, %0" : "=r"(r32) : "x"(x)); kind = 2; break;
    case APUS_CVT_DOUBLE_TO_INT32: __asm__ volatile("cvtsd2si %1, %0" : "=r"(r32) : "x"(u)); kind = 2; break;
    case APUS_CVT_SINGLE_TO_INT64: __asm__ volatile("cvtss2si %1, %0" : "=r"(r64) : "x"(x)); kind = 3; break;
    case APUS_CVT_DOUBLE_TO_INT64: __asm__ volatile("cvtsd2si %1, %0" : "=r"(r64) : "x"(u)); kind = 3; break;
    case APUS_CVTT_SINGLE_TO_INT32: __asm__ volatile("cvttss2si %1, %0" : "=r"(r32) : "x"(x)); kind = 2; break;
    case APUS_CVTT_DOUBLE_TO_INT32: __asm__ volatile("cvttsd2si %1, %0" : "=r"(r32) : "x"(u)); kind = 2; break;
    case APUS_CVTT_SINGLE_TO_INT64: __asm__ volatile("cvttss2si %1, %0" : "=r"(r64) : "x"(x)); kind = 3; break;
    case APUS_CVTT_DOUBLE_TO_INT64: __asm__ volatile("cvttsd2si %1, %0" : "=r"(r64) : "x"(u)); kind = 3; break;
    case APUS_CVT_SINGLE_TO_DOUBLE: __asm__ volatile("cvtss2sd %1, %0" : "+x"(dr) : "x"(x)); kind = 1; break;
    case APUS_CVT_DOUBLE_TO_SINGLE: __asm__ volatile("cvtsd2ss %1, %0" : "+x"(fr) : "x"(u)); kind = 0; break;
    }
    uint32_t flags = leave_sse(host);
    if (conversion == APUS_CVT_DOUBLE_TO_SINGLE) flags = unmasked_underflow(mxcsr, 1, bits_of_single(fr), flags);
    switch (kind) {
    case 0: *result = bits_of_single(fr); break;
    case 1: *result = bits_of_double(dr); break;
    case 2: *result = (uint32_t)r32; break;
    default: *result = (uint64_t)r64; break;
    }
    return flags;
}

// x87: a clean host stack with the guest's control word (all exceptions masked), and the host's control word back.

static uint16_t enter_x87(uint16_t control) {
    uint16_t host, mode = (uint16_t)(control | 0x3Fu);
    __asm__ volatile("fnstcw %0" : "=m"(host));
    __asm__ volatile("fninit");
    __asm__ volatile("fldcw %0" : : "m"(mode));
    return host;
}

static void leave_x87(uint16_t host) {
    __asm__ volatile("fninit");
    __asm__ volatile("fldcw %0" : : "m"(host));
}

static uint16_t status_word(void) {
    uint16_t status;
    __asm__ volatile("fnstsw %0" : "=m"(status));
    return status;
}

uint16_t apus_x87_operate(int operation, const apus_float80 *a, const apus_float80 *b, uint16_t control,
                          apus_float80 *result, apus_float80 *second) {
    uint16_t host = enter_x87(control);
    __asm__ volatile("fldt %0" : : "m"(*b));
    __asm__ volatile("fldt %0" : : "m"(*a));   // ST(0) = a, ST(1) = b
    __asm__ volatile("fnclex");
    int results = 1;
    switch (operation) {
    case APUS_X87_ADD: __asm__ volatile("fadd %st(1), %st"); break;
    case APUS_X87_MUL: __asm__ volatile("fmul %st(1), %st"); break;
    case APUS_X87_SUB: __asm__ volatile("fsub %st(1), %st"); break;
    case APUS_X87_SUBR: __asm__ volatile("fsubr %st(1), %st"); break;
    case APUS_X87_DIV: __asm__ volatile("fdiv %st(1), %st"); break;
    case APUS_X87_DIVR: __asm__ volatile("fdivr %st(1), %st"); break;
    case APUS_X87_SQRT: __asm__ volatile("fsqrt"); break;
    case APUS_X87_RNDINT: __asm__ volatile("frndint"); break;
    case APUS_X87_SCALE: __asm__ volatile("fscale"); break;
    case APUS_X87_PREM: __asm__ volatile("fprem"); break;
    case APUS_X87_PREM1: __asm__ volatile("fprem1"); break;
    case APUS_X87_XTRACT: __asm__ volatile("fxtract"); results = 2; break;
    case APUS_X87_F2XM1: __asm__ volatile("f2xm1"); break;
    case APUS_X87_YL2X: __asm__ volatile("fyl2x"); break;   // ST(1) * log2(ST(0)), popped
    case APUS_X87_YL2XP1: __asm__ volatile("fyl2xp1"); break;
    case APUS_X87_PATAN: __asm__ volatile("fpatan"); break;   // atan(ST(1) / ST(0)), popped
    case APUS_X87_PTAN: __asm__ volatile("fptan"); results = 2; break;
    case APUS_X87_SIN: __asm__ volatile("fsin"); break;
    case APUS_X87_COS: __asm__ volatile("fcos"); break;
    case APUS_X87_SINCOS: __asm__ volatile("fsincos"); results = 2; break;
    case APUS_X87_COMPARE: __asm__ volatile("fcom %st(1)"); results = 0; break;
    case APUS_X87_UCOMPARE: __asm__ volatile("fucom %st(1)"); results = 0; break;
    case APUS_X87_TST: __asm__ volatile("ftst"); results = 0; break;
    case APUS_X87_XAM: __asm__ volatile("fxam"); results = 0; break;
    case APUS_X87_LD1: __asm__ volatile("fld1"); break;
    case APUS_X87_LDL2T: __asm__ volatile("fldl2t"); break;
    case APUS_X87_LDL2E: __asm__ volatile("fldl2e"); break;
    case APUS_X87_LDPI: __asm__ volatile("fldpi"); break;
    case APUS_X87_LDLG2: __asm__ volatile("fldlg2"); break;
    case APUS_X87_LDLN2: __asm__ volatile("fldln2"); break;
    case APUS_X87_LDZ: __asm__ volatile("fldz"); break;
    }
    uint16_t status = status_word();
    // The two-result forms leave nothing pushed when they fail to reduce (C2 set): the one result is ST(0) then.
    if ((operation == APUS_X87_PTAN || operation == APUS_X87_SINCOS) && (status & 0x0400)) results = 1;
    if (results >= 1) __asm__ volatile("fstpt %0" : "=m"(*result));
    if (results == 2) __asm__ volatile("fstpt %0" : "=m"(*second));
    leave_x87(host);
    return status;
}

uint16_t apus_x87_load(int format, const void *source, uint16_t control, apus_float80 *result) {
    float f; double d; int16_t i16; int32_t i32; int64_t i64; apus_float80 bcd;
    uint16_t host = enter_x87(control);
    switch (format) {
    case APUS_X87_BCD: memcpy(&bcd, source, 10); __asm__ volatile("fbld %0" : : "m"(bcd)); break;
    case APUS_X87_M32: memcpy(&f, source, 4); __asm__ volatile("flds %0" : : "m"(f)); break;
    case APUS_X87_M64: memcpy(&d, source, 8); __asm__ volatile("fldl %0" : : "m"(d)); break;
    case APUS_X87_I16: memcpy(&i16, source, 2); __asm__ volatile("filds %0" : : "m"(i16)); break;
    case APUS_X87_I32: memcpy(&i32, source, 4); __asm__ volatile("fildl %0" : : "m"(i32)); break;
    default: memcpy(&i64, source, 8); __asm__ volatile("fildll %0" : : "m"(i64)); break;
    }
    uint16_t status = status_word();
    __asm__ volatile("fstpt %0" : "=m"(*result));
    leave_x87(host);
    return status;
}

uint16_t apus_x87_store(int format, const apus_float80 *value, uint16_t control, void *destination) {
    float f; double d; int16_t i16; int32_t i32; int64_t i64; apus_float80 bcd;
    uint16_t host = enter_x87(control);
    __asm__ volatile("fldt %0" : : "m"(*value));
    __asm__ volatile("fnclex");
    switch (format) {
    case APUS_X87_BCD: __asm__ volatile("fbstp %0" : "=m"(bcd)); memcpy(destination, &bcd, 10); break;
    case APUS_X87_M32: __asm__ volatile("fstps %0" : "=m"(f)); memcpy(destination, &f, 4); break;
    case APUS_X87_M64: __asm__ volatile("fstpl %0" : "=m"(d)); memcpy(destination, &d, 8); break;
    case APUS_X87_I16: __asm__ volatile("fistps %0" : "=m"(i16)); memcpy(destination, &i16, 2); break;
    case APUS_X87_I32: __asm__ volatile("fistpl %0" : "=m"(i32)); memcpy(destination, &i32, 4); break;
    default: __asm__ volatile("fistpll %0" : "=m"(i64)); memcpy(destination, &i64, 8); break;
    }
    uint16_t status = status_word();
    leave_x87(host);
    return status;
}
