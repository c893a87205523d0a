/* The op verifier: what every op of a decoded plan must satisfy before any
 * backend sees it. Archives are untrusted, and a kernel indexes buffers by
 * the shapes and attributes it is given, so each op's counts, element types,
 * shapes and attributes are checked once here, on the logical plan, for
 * every device alike (as ExecuTorch checks programs in its executor, not in
 * its kernels). The rules mirror the registry's shape rules
 * (ttpack/compiler/ops.py), which stay the source of truth for the compiler.
 */
#ifndef TTP_OP_VERIFY_H_
#define TTP_OP_VERIFY_H_

#include "ops_generated.h"
#include "program.h"
#include "status.h"

/* Ops that share an attribute layout are verified, and run, through one
   op's slot names. */
_Static_assert(TTP_ATTR_SUM_DIMS == TTP_ATTR_MAX_DIMS && TTP_ATTR_SUM_DIMS == TTP_ATTR_MIN_DIMS &&
                   TTP_ATTR_SUM_KEEPDIM == TTP_ATTR_MAX_KEEPDIM && TTP_ATTR_SUM_KEEPDIM == TTP_ATTR_MIN_KEEPDIM,
               "reduction attribute slots differ");
_Static_assert(TTP_ATTR_MAX_POOL2D_KERNEL == TTP_ATTR_AVG_POOL2D_KERNEL &&
                   TTP_ATTR_MAX_POOL2D_KERNEL == TTP_ATTR_SUM_POOL2D_KERNEL &&
                   TTP_ATTR_MAX_POOL2D_STRIDE == TTP_ATTR_AVG_POOL2D_STRIDE &&
                   TTP_ATTR_MAX_POOL2D_STRIDE == TTP_ATTR_SUM_POOL2D_STRIDE &&
                   TTP_ATTR_MAX_POOL2D_PADDING == TTP_ATTR_AVG_POOL2D_PADDING &&
                   TTP_ATTR_MAX_POOL2D_PADDING == TTP_ATTR_SUM_POOL2D_PADDING,
               "pooling attribute slots differ");
_Static_assert(TTP_ATTR_SUM_DIMS == TTP_ATTR_PROD_DIMS && TTP_ATTR_SUM_KEEPDIM == TTP_ATTR_PROD_KEEPDIM,
               "prod's attribute slots differ from sum's");
_Static_assert(TTP_ATTR_CUMSUM_DIM == TTP_ATTR_CUMPROD_DIM, "cumsum/cumprod attribute slots differ");
_Static_assert(TTP_ATTR_ARGMAX_DIM == TTP_ATTR_ARGMIN_DIM && TTP_ATTR_ARGMAX_KEEPDIM == TTP_ATTR_ARGMIN_KEEPDIM,
               "argmax/argmin attribute slots differ");

/* Verifies every op of a plan whose structure decoding has verified (tensor
   indices in range, known attribute names, dataflow, input element types
   the registry defines the op on). After it passes, for each op:
    - input and output counts are the op's, and no input is its output;
    - the output's element type and shape are what the op computes from its
      inputs and attributes (broadcasting, windows, reductions...);
    - required attributes are present with the right number of integers or
      floats, and every value lies in its range (dims index dims, slices
      stay inside their input, window sizes do not overflow);
    - optional attributes (the compute config of matmul, linear and
      conv2d) are well formed when present.
   Returns NULL, TTP_INVALID_ARCHIVE for an op that breaks its rules, or
   TTP_UNSUPPORTED for a well-formed op this runtime cannot compute; the
   message names the op's index, name and location. */
ttp_status* ttp_verify_ops(const ttp_plan* plan);

/* The regions a verified op runs, in order: a while's cond and body, a
   case's branches; none for other ops. ttp_op_region(op, k) for k below
   ttp_op_region_count(op) is a verified index into plan->regions. */
uint32_t ttp_op_region_count(const ttp_op* op);
uint32_t ttp_op_region(const ttp_op* op, uint32_t k);

#endif /* TTP_OP_VERIFY_H_ */
