/* simd.h - one source for the kernels that come in two vector widths.
 *
 * A kernel's body is written once, in a template file (*_simd.inc) that speaks of VEC,
 * VOP(op) and SIMD_NAME(f); the file that uses it defines LGMS_SIMD_W to 8 (AVX2 + FMA) or
 * 16 (AVX-512F), includes this header and then the template, once per width. Both widths
 * thus run the same operations in the same order on each lane, which is why their results
 * agree to the bit (a unit test holds the 1x1 kernels to it). Deliberately without an
 * include guard: each inclusion redefines the names for the width asked for. Internal to
 * the engine; x86-64 with GCC only (the callers test LGMS_HAVE_... first). */
#include <immintrin.h>

#undef VEC
#undef VECI
#undef VOP
#undef V_LANES
#undef V_TARGET
#undef V_ROUND
#undef V_CAST_PS
#undef V_CAST_SI
#undef SIMD_NAME

#if LGMS_SIMD_W == 8
#define VEC __m256
#define VECI __m256i
#define VOP(op) _mm256_##op
#define V_LANES 8
#define V_TARGET "avx2,fma"
#define V_ROUND(x) _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define V_CAST_PS(x) _mm256_castsi256_ps(x)
#define V_CAST_SI(x) _mm256_castps_si256(x)
#define SIMD_NAME(f) f##_8
#elif LGMS_SIMD_W == 16
#define VEC __m512
#define VECI __m512i
#define VOP(op) _mm512_##op
#define V_LANES 16
#define V_TARGET "avx512f"
#define V_ROUND(x) _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define V_CAST_PS(x) _mm512_castsi512_ps(x)
#define V_CAST_SI(x) _mm512_castps_si512(x)
#define SIMD_NAME(f) f##_16
#else
#error "LGMS_SIMD_W must be 8 or 16"
#endif
