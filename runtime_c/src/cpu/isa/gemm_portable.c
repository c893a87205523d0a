/* The portable micro-kernel: plain C11, built with the library's baseline
 * flags (what the compiler vectorises on its own). MR = 4 rows, NR = 16
 * columns: four accumulator rows of 16 floats. */
#include <stddef.h>
#include <string.h>

#include "gemm_ukernel.h"
#include "rows_generic.h"

#define MR 4
#define NR 16

/* One accumulator array per row: GCC keeps those in vector registers, but
   leaves a float acc[MR][NR] on the stack (half the speed). Rows past mr
   read row 0 again (always valid) and are not stored. */
static void gemm_portable(int64_t kc, const float* const* a, const float* b, float* c, int64_t ldc, int mr,
                          int nr) {
  const float *a0 = a[0], *a1 = mr > 1 ? a[1] : a0, *a2 = mr > 2 ? a[2] : a0, *a3 = mr > 3 ? a[3] : a0;
  for (int64_t k0 = 0; k0 < kc; k0 += TTP_GEMM_CHUNK) {
    const int64_t k1 = kc - k0 < TTP_GEMM_CHUNK ? kc : k0 + TTP_GEMM_CHUNK;
    float c0[NR] = {0}, c1[NR] = {0}, c2[NR] = {0}, c3[NR] = {0};
    for (int64_t k = k0; k < k1; k++) {
      const float* bk = b + k * NR;
      const float x0 = a0[k], x1 = a1[k], x2 = a2[k], x3 = a3[k];
      for (int j = 0; j < NR; j++) {
        c0[j] += x0 * bk[j];
        c1[j] += x1 * bk[j];
        c2[j] += x2 * bk[j];
        c3[j] += x3 * bk[j];
      }
    }
    float* rows[MR] = {c0, c1, c2, c3};
    for (int r = 0; r < mr; r++)
      for (int j = 0; j < nr; j++) c[r * ldc + j] += rows[r][j];
  }
}

const ttp_cpu_isa ttp_cpu_isa_portable = {"portable", MR, NR, gemm_portable, NULL, rows_softmax, rows_layer_norm, rows_gelu_map};
