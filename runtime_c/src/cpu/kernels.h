/* CPU kernels: one check and one run function per op code.
 *
 * check runs once when a program is prepared: it verifies everything its run
 * function relies on (input/output counts, dtypes, ranks, shapes, attribute
 * values) and returns TTP_UNSUPPORTED or TTP_INVALID_ARCHIVE with a message
 * naming the op otherwise. run cannot fail: it may assume check passed.
 *
 * data[i] is the buffer of plan tensor i: dense, row-major, aligned to its
 * element size (intermediates and weights to 64 bytes; ttp_program_run
 * rejects caller buffers that are not naturally aligned).
 */
#ifndef TTP_CPU_KERNELS_H_
#define TTP_CPU_KERNELS_H_

#include "../program.h"
#include "../status.h"

typedef ttp_status* (*ttp_kernel_check_fn)(const ttp_plan* plan, const ttp_op* op);
typedef void (*ttp_kernel_run_fn)(const ttp_plan* plan, const ttp_op* op, void* const* data);

typedef struct ttp_cpu_kernel {
  ttp_kernel_check_fn check;
  ttp_kernel_run_fn run;
} ttp_cpu_kernel;

/* Indexed by enum ttp_op_code; every entry is non-NULL. */
extern const ttp_cpu_kernel ttp_cpu_kernels[TTP_OP_COUNT];

/* The activation of linear and conv2d (TTP_ACTIVATION_*) applied in place. */
void ttp_cpu_activate(float* y, int64_t n, int64_t code);

#endif /* TTP_CPU_KERNELS_H_ */
