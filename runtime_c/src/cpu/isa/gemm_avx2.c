/* AVX2 + FMA micro-kernel (built with -mavx2 -mfma): MR = 6 rows by NR = 16
 * columns, twelve ymm accumulators, two for a panel row and one broadcast
 * (15 of the 16 ymm registers). */
#include <immintrin.h>

#include "gemm_ukernel.h"
#include "rows_generic.h"

#define MR 6
#define NR 16

/* lanes < n of 8 set: maskload/maskstore masks */
static __m256i lanes(int n) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
}

/* Inlined with a constant mr, so the accumulator arrays live in registers. */
static inline __attribute__((always_inline)) void tile(const int mr, int64_t kc, const float* const* a,
                                                       const float* b, float* c, int64_t ldc, int nr) {
  const float* ar[MR];
  for (int r = 0; r < mr; r++) ar[r] = a[r];
  const __m256i m0 = lanes(nr), m1 = lanes(nr - 8);
  for (int64_t k0 = 0; k0 < kc; k0 += TTP_GEMM_CHUNK) {
    const int64_t k1 = kc - k0 < TTP_GEMM_CHUNK ? kc : k0 + TTP_GEMM_CHUNK;
    __m256 acc0[MR], acc1[MR];
    for (int r = 0; r < mr; r++) acc0[r] = acc1[r] = _mm256_setzero_ps();
    for (int64_t k = k0; k < k1; k++) {
      const __m256 b0 = _mm256_loadu_ps(b + k * NR), b1 = _mm256_loadu_ps(b + k * NR + 8);
      for (int r = 0; r < mr; r++) {
        const __m256 x = _mm256_broadcast_ss(ar[r] + k);
        acc0[r] = _mm256_fmadd_ps(x, b0, acc0[r]);
        acc1[r] = _mm256_fmadd_ps(x, b1, acc1[r]);
      }
    }
    if (nr == NR) {
      for (int r = 0; r < mr; r++) {
        float* cr = c + r * ldc;
        _mm256_storeu_ps(cr, _mm256_add_ps(_mm256_loadu_ps(cr), acc0[r]));
        _mm256_storeu_ps(cr + 8, _mm256_add_ps(_mm256_loadu_ps(cr + 8), acc1[r]));
      }
    } else {
      for (int r = 0; r < mr; r++) {
        float* cr = c + r * ldc;
        _mm256_maskstore_ps(cr, m0, _mm256_add_ps(_mm256_maskload_ps(cr, m0), acc0[r]));
        _mm256_maskstore_ps(cr + 8, m1, _mm256_add_ps(_mm256_maskload_ps(cr + 8, m1), acc1[r]));
      }
    }
  }
}

static void gemm_avx2(int64_t kc, const float* const* a, const float* b, float* c, int64_t ldc, int mr, int nr) {
  switch (mr) {
    case 1: tile(1, kc, a, b, c, ldc, nr); break;
    case 2: tile(2, kc, a, b, c, ldc, nr); break;
    case 3: tile(3, kc, a, b, c, ldc, nr); break;
    case 4: tile(4, kc, a, b, c, ldc, nr); break;
    case 5: tile(5, kc, a, b, c, ldc, nr); break;
    default: tile(6, kc, a, b, c, ldc, nr); break;
  }
}

static inline __attribute__((always_inline)) void row_tile(const int np, int64_t kc, const float* a,
                                                           const float* b, int64_t ps, float* c, int nr_last) {
  for (int64_t k0 = 0; k0 < kc; k0 += TTP_GEMM_CHUNK) {
    const int64_t k1 = kc - k0 < TTP_GEMM_CHUNK ? kc : k0 + TTP_GEMM_CHUNK;
    __m256 acc0[4], acc1[4];
    for (int p = 0; p < np; p++) acc0[p] = acc1[p] = _mm256_setzero_ps();
    for (int64_t k = k0; k < k1; k++) {
      const __m256 x = _mm256_broadcast_ss(a + k);
      for (int p = 0; p < np; p++) {
        acc0[p] = _mm256_fmadd_ps(x, _mm256_loadu_ps(b + p * ps + k * NR), acc0[p]);
        acc1[p] = _mm256_fmadd_ps(x, _mm256_loadu_ps(b + p * ps + k * NR + 8), acc1[p]);
      }
    }
    for (int p = 0; p < np; p++) {
      const int w = p == np - 1 ? nr_last : NR;
      const __m256i m0 = lanes(w), m1 = lanes(w - 8);
      float* cp = c + p * NR;
      _mm256_maskstore_ps(cp, m0, _mm256_add_ps(_mm256_maskload_ps(cp, m0), acc0[p]));
      _mm256_maskstore_ps(cp + 8, m1, _mm256_add_ps(_mm256_maskload_ps(cp + 8, m1), acc1[p]));
    }
  }
}

static void gemm_row_avx2(int64_t kc, const float* a, const float* b, int64_t ps, int panels, float* c,
                          int nr_last) {
  switch (panels) {
    case 1: row_tile(1, kc, a, b, ps, c, nr_last); break;
    case 2: row_tile(2, kc, a, b, ps, c, nr_last); break;
    case 3: row_tile(3, kc, a, b, ps, c, nr_last); break;
    default: row_tile(4, kc, a, b, ps, c, nr_last); break;
  }
}

const ttp_cpu_isa ttp_cpu_isa_avx2 = {"avx2", MR, NR, gemm_avx2, gemm_row_avx2, rows_softmax, rows_layer_norm, rows_gelu_map};
