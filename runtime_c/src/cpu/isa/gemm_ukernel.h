/* GEMM micro-kernels and row kernels, one set per instruction set, each in its own file
 * compiled with that instruction set's flags (CMakeLists.txt), and chosen
 * once when the cpu device opens (cpu_isa.c). Nothing outside these files
 * is built with ISA flags, so the library runs on any CPU of its
 * architecture: a kernel is only called after cpuid said the CPU has it.
 *
 * The contract, the same for every ISA:
 *   c[r * ldc + j] += sum over k < kc of a[r][k] * b[k * NR + j]
 * for r < mr <= MR, j < nr <= NR, where b is one packed panel of B: kc rows
 * of exactly NR floats (columns past the matrix's edge are zeros, so the
 * kernel computes full-width and stores only nr columns). a[r] points at row
 * r's kc values (contiguous).
 *
 * Summation order: the products of each TTP_GEMM_CHUNK consecutive k are
 * summed in registers (k in order), and each such partial sum is added to c
 * in k order. The two levels keep float32 rounding error near BLAS's (a
 * single running sum over k errs about twice as much, more than the tests'
 * float32 tolerances against XLA allow); and since the order depends only on
 * k, a result does not depend on how a caller splits rows or panels among
 * threads. */
#ifndef TTP_CPU_GEMM_UKERNEL_H_
#define TTP_CPU_GEMM_UKERNEL_H_

#include <stdint.h>

#define TTP_GEMM_CHUNK 16

typedef void (*ttp_gemm_ukernel_fn)(int64_t kc, const float* const* a, const float* b, float* c, int64_t ldc,
                                    int mr, int nr);

/* One row of a against up to 4 packed panels at once: for p < panels,
     c[p * NR + j] += sum over k < kc of a[k] * b[p * panel_stride + k * NR + j]
   (the last panel stores nr_last columns). Each output's sum is formed
   exactly as ttp_gemm_ukernel_fn forms it, so either may compute any row;
   this one keeps 4 panels' sums in flight where a single row's tile would
   wait on one FMA chain (batch-1 layers). */
typedef void (*ttp_gemm_row_fn)(int64_t kc, const float* a, const float* b, int64_t panel_stride, int panels,
                                float* c, int nr_last);

/* Everything built per ISA: the GEMM micro-kernel and the float32 row
   kernels of rows_generic.h (see there for their error bounds). */
typedef struct ttp_cpu_isa {
  const char* name; /* "portable", "avx2", "avx512": the values of TTPACK_CPU_ISA */
  int mr, nr;       /* register tile: rows of a, columns of a packed panel */
  ttp_gemm_ukernel_fn gemm;
  ttp_gemm_row_fn gemm_row; /* NULL: rows go through gemm */
  void (*softmax_row)(float* y, const float* x, int64_t n);
  void (*layer_norm_row)(float* y, const float* x, const float* w, const float* b, int64_t d, double eps);
  void (*gelu)(float* y, const float* x, int64_t n); /* y may be x */
} ttp_cpu_isa;

extern const ttp_cpu_isa ttp_cpu_isa_portable;
#if defined(TTP_HAVE_AVX2)
extern const ttp_cpu_isa ttp_cpu_isa_avx2;
#endif
#if defined(TTP_HAVE_AVX512)
extern const ttp_cpu_isa ttp_cpu_isa_avx512;
#endif

#endif /* TTP_CPU_GEMM_UKERNEL_H_ */
