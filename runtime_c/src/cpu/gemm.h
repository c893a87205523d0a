/* The GEMM op family on the cpu device (gemm.c): linear, conv2d as an
 * implicit GEMM, and conv_transpose2d, on one cache-blocked driver over the
 * per-ISA micro-kernels (isa/gemm_ukernel.h), threaded over blocks of rows
 * and column panels, and float32 matmul (batched: attention).
 *
 * At prepare, each op's weight is packed once into the micro-kernels' panel
 * layout; a weight operand computed at run time is packed into the op's
 * shared scratch when it runs. */
#ifndef TTP_CPU_GEMM_H_
#define TTP_CPU_GEMM_H_

#include "kernels.h"

/* Window geometry shared by conv2d and the pools (a dilation of 1 for the
   pools that have none). */
typedef struct ttp_window2d {
  int64_t N, H, W, C;      /* input */
  int64_t Ho, Wo;          /* output spatial dims */
  int64_t kh, kw, sh, sw, pt, pl, dh, dw;
} ttp_window2d;

/* The batches of a matmul: count of them, row-major over dims[0..rank), and
   the element offset of each batch's a and b (broadcast dims have stride 0). */
typedef struct ttp_gemm_batches {
  int rank;
  const int64_t* dims;
  const int64_t *a_stride, *b_stride;
  int64_t count;
} ttp_gemm_batches;

/* Element offset of batch number `batch` under strides s (a_stride or b_stride). */
int64_t ttp_gemm_batch_offset(const ttp_gemm_batches* batches, const int64_t* s, int64_t batch);

/* prepare functions of the ttp_cpu_kernel table (kernels.h) */
ttp_status* ttp_gemm_linear_prepare(const ttp_plan* plan, const ttp_op* op, const ttp_cpu_isa* isa,
                                    ttp_kernel_prepared* out);
ttp_status* ttp_gemm_conv2d_prepare(const ttp_plan* plan, const ttp_op* op, const ttp_cpu_isa* isa,
                                    ttp_kernel_prepared* out);
ttp_status* ttp_gemm_matmul_prepare(const ttp_plan* plan, const ttp_op* op, const ttp_cpu_isa* isa,
                                    ttp_kernel_prepared* out);
ttp_status* ttp_gemm_conv_transpose2d_prepare(const ttp_plan* plan, const ttp_op* op, const ttp_cpu_isa* isa,
                                              ttp_kernel_prepared* out);
/* y[M x N] = act(x[M x K] @ w + bias); w is read only when the state does
   not hold it packed (w computed at run time). */
void ttp_gemm_linear(const void* state, const ttp_cpu_ctx* ctx, const float* x, const float* w, const float* bias,
                     float* y, int64_t M, int64_t act);
/* conv2d over NHWC x and the state's packed HWIO weight, for the convolutions
   ttp_gemm_conv2d_prepare gave a state (not depthwise, cg > 0). */
void ttp_gemm_conv2d(const void* state, const ttp_cpu_ctx* ctx, const ttp_window2d* g, const float* x,
                     const float* w, const float* bias, float* y, int64_t act);
/* A float32 matmul, c[batch] = a[batch] @ b[batch] over every batch (each
   a M x K, b K x N, c dense); b is read only when the state does not hold
   it packed. */
void ttp_gemm_matmul(const void* state, const ttp_cpu_ctx* ctx, const ttp_gemm_batches* batches, int64_t M,
                     const float* a, const float* b, float* c);

/* y += conv_transpose2d(x, w) without bias or activation (the caller's),
   for the ops ttp_gemm_conv_transpose2d_prepare gave a state (cg > 0). g
   is the geometry seen from the input: N, H, W, C of x; Ho, Wo of y. */
void ttp_gemm_conv_transpose2d(const void* state, const ttp_cpu_ctx* ctx, const ttp_window2d* g, const float* x,
                               const float* w, float* y);

#endif /* TTP_CPU_GEMM_H_ */
