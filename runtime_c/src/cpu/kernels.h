/* CPU kernels: per op code, a stateless run function, or prepare (per-op
 * state made once at program load: packed weights, scratch sizes) and exec
 * (which also gets the device's micro-kernels, threads and scratch); and for
 * the ops that pick a function by element type, a predicate saying whether
 * one exists. kernels.c holds the table; the GEMM family is in gemm.c.
 *
 * Kernels are not a security boundary: the plans they run have passed the
 * op verifier (op_verify.h) at decode, which checks, once and for every
 * device, everything a run function relies on (input/output counts,
 * dtypes, ranks, shapes, attribute values). So run and exec cannot fail
 * (prepare only for lack of memory), and the device asks the table only
 * whether it can run an op on its element types.
 *
 * Both run on the compute view (cpu_device.c): the verified plan with every
 * bfloat16 tensor float32. data[i] is the buffer of view tensor i: dense,
 * row-major, aligned to its element size (intermediates and weights to 64
 * bytes; ttp_program_run rejects caller buffers that are not naturally
 * aligned).
 */
#ifndef TTP_CPU_KERNELS_H_
#define TTP_CPU_KERNELS_H_

#include <stdbool.h>

#include "../op_verify.h"
#include "../program.h"
#include "../status.h"
#include "isa/gemm_ukernel.h"
#include "thread_pool.h"

/* What a kernel with per-op state runs with: the device's micro-kernels and
   threads, and scratch memory allocated at prepare (so a run allocates
   nothing). Thread t (thread_pool.h) owns thread_scratch + t * thread_stride. */
typedef struct ttp_cpu_ctx {
  const ttp_cpu_isa* isa;
  ttp_thread_pool* pool;
  unsigned char* scratch;        /* the op's shared scratch (ttp_kernel_prepared.scratch_bytes) */
  unsigned char* thread_scratch; /* per thread: ttp_kernel_prepared.thread_scratch_bytes */
  size_t thread_stride;
} ttp_cpu_ctx;

/* What prepare makes of one op: state (NULL, or one allocation released
   with free(): packed weights, sizes) and the scratch its runs need. */
typedef struct ttp_kernel_prepared {
  void* state;
  size_t scratch_bytes, thread_scratch_bytes;
} ttp_kernel_prepared;

typedef bool (*ttp_kernel_supports_fn)(const ttp_plan* plan, const ttp_op* op);
typedef void (*ttp_kernel_run_fn)(const ttp_plan* plan, const ttp_op* op, void* const* data);
/* Called once per op at prepare, on the compute view; weights' data is final
   (decoded, cut for math fidelity). Fails only for lack of memory. */
typedef ttp_status* (*ttp_kernel_prepare_fn)(const ttp_plan* plan, const ttp_op* op, const ttp_cpu_isa* isa,
                                             ttp_kernel_prepared* out);
typedef void (*ttp_kernel_exec_fn)(const ttp_plan* plan, const ttp_op* op, void* const* data, const void* state,
                                   const ttp_cpu_ctx* ctx);

/* An op's kernel is either run (stateless, one thread) or prepare + exec. */
typedef struct ttp_cpu_kernel {
  ttp_kernel_supports_fn supports; /* NULL: the kernel runs every dtype the registry gives the op */
  ttp_kernel_run_fn run;
  ttp_kernel_prepare_fn prepare;
  ttp_kernel_exec_fn exec;
} ttp_cpu_kernel;

/* Indexed by enum ttp_op_code; run and exec are NULL for an op this device lacks. */
extern const ttp_cpu_kernel ttp_cpu_kernels[TTP_OP_COUNT];

/* The activation of linear and conv2d (TTP_ACTIVATION_*) applied in place. */
void ttp_cpu_activate(const ttp_cpu_isa* isa, float* y, int64_t n, int64_t code);

#endif /* TTP_CPU_KERNELS_H_ */
