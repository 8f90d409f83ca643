/* fpmode.h - the floating-point mode the engine computes in: denormals flushed to zero.
 *
 * Activations of trained networks reach values below FLT_MIN (1.2e-38): tails of
 * softmaxes and sigmoids, products of small inputs and small weights. x86 CPUs take a
 * microcode assist, tens to hundreds of cycles, for each FMA that reads or yields such a
 * denormal: with the shipped model they cost ~40% of an inference at 1 thread (144 -> 88
 * ms, docs/performance.md). With FTZ and DAZ set they are read and written as zero, which
 * moves a logit by at most ~1e-38 per term. Every thread that runs network work sets the
 * mode (MXCSR is per thread), so results stay independent of the thread count; the
 * caller's own mode is restored when lgms_forward returns. Internal to the engine. */
#ifndef LGMS_FPMODE_H
#define LGMS_FPMODE_H

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define LGMS_FTZ_DAZ 0x8040u /* MXCSR bits: flush-to-zero (15), denormals-are-zero (6) */

static inline unsigned lgms_fpmode_enter(void) {
    unsigned old = _mm_getcsr();
    _mm_setcsr(old | LGMS_FTZ_DAZ);
    return old;
}

static inline void lgms_fpmode_leave(unsigned old) { _mm_setcsr(old); }
#else
static inline unsigned lgms_fpmode_enter(void) { return 0; }
static inline void lgms_fpmode_leave(unsigned old) { (void)old; }
#endif

#endif
