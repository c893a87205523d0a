/* AVX-512 micro-kernel (built with -mavx512f -mavx512bw -mavx512vl
 * -mavx512dq -mfma): MR = 8 rows by NR = 32 columns, sixteen zmm
 * accumulators, two for a panel row and one broadcast. */
#include <immintrin.h>

#include "gemm_ukernel.h"
#include "rows_generic.h"

#define MR 8
#define NR 32

static __mmask16 lanes(int n) { return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

/* Inlined with a constant mr, so the accumulator arrays live in registers. */
static inline __attribute__((always_inline)) void tile(const int mr, int64_t kc, const float* const* a,
                                                       const float* b, float* c, int64_t ldc, int nr) {
  const float* ar[MR];
  for (int r = 0; r < mr; r++) ar[r] = a[r];
  const __mmask16 m0 = lanes(nr), m1 = lanes(nr - 16);
  for (int64_t k0 = 0; k0 < kc; k0 += TTP_GEMM_CHUNK) {
    const int64_t k1 = kc - k0 < TTP_GEMM_CHUNK ? kc : k0 + TTP_GEMM_CHUNK;
    __m512 acc0[MR], acc1[MR];
    for (int r = 0; r < mr; r++) acc0[r] = acc1[r] = _mm512_setzero_ps();
    for (int64_t k = k0; k < k1; k++) {
      const __m512 b0 = _mm512_loadu_ps(b + k * NR), b1 = _mm512_loadu_ps(b + k * NR + 16);
      for (int r = 0; r < mr; r++) {
        const __m512 x = _mm512_set1_ps(ar[r][k]);
        acc0[r] = _mm512_fmadd_ps(x, b0, acc0[r]);
        acc1[r] = _mm512_fmadd_ps(x, b1, acc1[r]);
      }
    }
    for (int r = 0; r < mr; r++) {
      float* cr = c + r * ldc;
      _mm512_mask_storeu_ps(cr, m0, _mm512_add_ps(_mm512_maskz_loadu_ps(m0, cr), acc0[r]));
      _mm512_mask_storeu_ps(cr + 16, m1, _mm512_add_ps(_mm512_maskz_loadu_ps(m1, cr + 16), acc1[r]));
    }
  }
}

static void gemm_avx512(int64_t kc, const float* const* a, const float* b, float* c, int64_t ldc, int mr,
                        int nr) {
  switch (mr) {
    case 1: tile(1, kc, a, b, c, ldc, nr); break;
    case 2: tile(2, kc, a, b, c, ldc, nr); break;
    case 3: tile(3, kc, a, b, c, ldc, nr); break;
    case 4: tile(4, kc, a, b, c, ldc, nr); break;
    case 5: tile(5, kc, a, b, c, ldc, nr); break;
    case 6: tile(6, kc, a, b, c, ldc, nr); break;
    case 7: tile(7, kc, a, b, c, ldc, nr); break;
    default: tile(8, kc, a, b, c, ldc, nr); break;
  }
}

static inline __attribute__((always_inline)) void row_tile(const int np, int64_t kc, const float* a,
                                                           const float* b, int64_t ps, float* c, int nr_last) {
  for (int64_t k0 = 0; k0 < kc; k0 += TTP_GEMM_CHUNK) {
    const int64_t k1 = kc - k0 < TTP_GEMM_CHUNK ? kc : k0 + TTP_GEMM_CHUNK;
    __m512 acc0[4], acc1[4];
    for (int p = 0; p < np; p++) acc0[p] = acc1[p] = _mm512_setzero_ps();
    for (int64_t k = k0; k < k1; k++) {
      const __m512 x = _mm512_set1_ps(a[k]);
      for (int p = 0; p < np; p++) {
        acc0[p] = _mm512_fmadd_ps(x, _mm512_loadu_ps(b + p * ps + k * NR), acc0[p]);
        acc1[p] = _mm512_fmadd_ps(x, _mm512_loadu_ps(b + p * ps + k * NR + 16), acc1[p]);
      }
    }
    for (int p = 0; p < np; p++) {
      const int w = p == np - 1 ? nr_last : NR;
      const __mmask16 m0 = lanes(w), m1 = lanes(w - 16);
      float* cp = c + p * NR;
      _mm512_mask_storeu_ps(cp, m0, _mm512_add_ps(_mm512_maskz_loadu_ps(m0, cp), acc0[p]));
      _mm512_mask_storeu_ps(cp + 16, m1, _mm512_add_ps(_mm512_maskz_loadu_ps(m1, cp + 16), acc1[p]));
    }
  }
}

static void gemm_row_avx512(int64_t kc, const float* a, const float* b, int64_t ps, int panels, float* c,
                            int nr_last) {
  switch (panels) {
    case 1: row_tile(1, kc, a, b, ps, c, nr_last); break;
    case 2: row_tile(2, kc, a, b, ps, c, nr_last); break;
    case 3: row_tile(3, kc, a, b, ps, c, nr_last); break;
    default: row_tile(4, kc, a, b, ps, c, nr_last); break;
  }
}

const ttp_cpu_isa ttp_cpu_isa_avx512 = {"avx512", MR, NR, gemm_avx512, gemm_row_avx512, rows_softmax, rows_layer_norm, rows_gelu_map};
