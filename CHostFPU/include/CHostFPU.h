#ifndef APUS_CHOSTFPU_H
#define APUS_CHOSTFPU_H

#include <stdint.h>

// The host's SSE unit running one guest floating-point operation: the software CPU keeps the guest's registers and
// MXCSR and decides what reaches the guest; the arithmetic itself (results, rounding, DAZ/FTZ, exception flags) is
// the host executing the same instruction under the guest's MXCSR with every exception masked, so it is bit-exact.
// The host's own MXCSR is restored before returning.

enum apus_sse_operation {
    APUS_SSE_ADD, APUS_SSE_SUB, APUS_SSE_MUL, APUS_SSE_DIV, APUS_SSE_MIN, APUS_SSE_MAX, APUS_SSE_SQRT,
    APUS_SSE_RCP, APUS_SSE_RSQRT,
};

/// One scalar lane: `single` selects float (low 32 bits of a and b) or double. Returns the exception flags (MXCSR
/// bits 0-5) the operation raised; `*result` gets the lane's result.
uint32_t apus_sse_arithmetic(int operation, int single, uint64_t a, uint64_t b, uint32_t mxcsr, uint64_t *result);

/// CMPSS/CMPSD predicate 0-7 on one lane: all-ones or zero in `*result`.
uint32_t apus_sse_compare(int predicate, int single, uint64_t a, uint64_t b, uint32_t mxcsr, uint64_t *result);

/// COMIS*/UCOMIS*: returns the flags raised; `*eflags` gets ZF, PF and CF as the instruction sets them.
uint32_t apus_sse_ordered_compare(int signaling, int single, uint64_t a, uint64_t b, uint32_t mxcsr, uint64_t *eflags);

enum apus_sse_conversion {
    APUS_CVT_INT32_TO_SINGLE, APUS_CVT_INT32_TO_DOUBLE, APUS_CVT_INT64_TO_SINGLE, APUS_CVT_INT64_TO_DOUBLE,
    APUS_CVT_SINGLE_TO_INT32, APUS_CVT_DOUBLE_TO_INT32, APUS_CVT_SINGLE_TO_INT64, APUS_CVT_DOUBLE_TO_INT64,
    APUS_CVTT_SINGLE_TO_INT32, APUS_CVTT_DOUBLE_TO_INT32, APUS_CVTT_SINGLE_TO_INT64, APUS_CVTT_DOUBLE_TO_INT64,
    APUS_CVT_SINGLE_TO_DOUBLE, APUS_CVT_DOUBLE_TO_SINGLE,
};

/// One value converted as CVT*/CVTT* do (integers as two's complement in the low bits of `value`/`*result`).
uint32_t apus_sse_convert(int conversion, uint64_t value, uint32_t mxcsr, uint64_t *result);

// The host's x87 running one guest operation on 80-bit values, with the guest's control word (precision and
// rounding) and every exception masked. Returns the status word the host produced (exception flags, C0-C3).

typedef struct { uint8_t bytes[10]; } apus_float80;

enum apus_x87_operation {
    APUS_X87_ADD, APUS_X87_MUL, APUS_X87_SUB, APUS_X87_SUBR, APUS_X87_DIV, APUS_X87_DIVR,
    APUS_X87_SQRT, APUS_X87_RNDINT, APUS_X87_SCALE, APUS_X87_PREM, APUS_X87_PREM1, APUS_X87_XTRACT,
    APUS_X87_F2XM1, APUS_X87_YL2X, APUS_X87_YL2XP1, APUS_X87_PATAN, APUS_X87_PTAN, APUS_X87_SIN, APUS_X87_COS,
    APUS_X87_SINCOS, APUS_X87_COMPARE, APUS_X87_UCOMPARE, APUS_X87_TST, APUS_X87_XAM,
    // The constant loads (rounded as the control word says): the constant is the result.
    APUS_X87_LD1, APUS_X87_LDL2T, APUS_X87_LDL2E, APUS_X87_LDPI, APUS_X87_LDLG2, APUS_X87_LDLN2, APUS_X87_LDZ,
};

/// ST(0) `op` ST(1) → `*result` (and `*second` for the two-result forms XTRACT, PTAN, SINCOS; the comparisons only
/// set C0/C2/C3). `a` is ST(0), `b` ST(1) where the operation has one.
uint16_t apus_x87_operate(int operation, const apus_float80 *a, const apus_float80 *b, uint16_t control,
                          apus_float80 *result, apus_float80 *second);

/// BCD: the 10-byte packed decimal of FBLD/FBSTP (18 digits and a sign byte).
enum apus_x87_format { APUS_X87_M32, APUS_X87_M64, APUS_X87_I16, APUS_X87_I32, APUS_X87_I64, APUS_X87_BCD };

/// FLD m32/m64, FILD m16/m32/m64 or FBLD: `source` holds the memory operand's bytes.
uint16_t apus_x87_load(int format, const void *source, uint16_t control, apus_float80 *result);

/// FST m32/m64, FIST m16/m32/m64 (FISTP m64 for I64) or FBSTP: writes the memory operand's bytes to `destination`.
uint16_t apus_x87_store(int format, const apus_float80 *value, uint16_t control, void *destination);

#endif
