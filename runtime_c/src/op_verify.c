/* Per-op verification of a decoded plan (see op_verify.h).
 *
 * The plan is logical: a tensor's dtype is float32, bfloat16, int32 or bool,
 * and bfloat16 obeys the same rules as float32 (it is only a narrower float).
 * Storage (layout, storage type, memory config) was verified by storage.c
 * and plays no part in an op's semantics, so nothing here reads it.
 *
 * Sizes are checked so that no kernel can overflow computing them: counts
 * run down from a known total, window arithmetic is checked against
 * INT64_MAX, and a tensor's numel already fits int64 with room (program.c).
 */
#include "op_verify.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IN(k) (&plan->tensors[op->inputs[k]])
#define OUT(k) (&plan->tensors[op->outputs[k]])

#define BAD(...) ttp_make_status(TTP_INVALID_ARCHIVE, __VA_ARGS__)

/* ---- messages ---------------------------------------------------------------------- */

/* "float32[2, 3]"; 256 bytes hold 8 dims of 20 characters. */
typedef struct type_str { char s[256]; } type_str;
static type_str tstr(const ttp_tensor* t) {
  type_str r;
  size_t n = (size_t)snprintf(r.s, sizeof r.s, "%s[", ttp_dtype_name(t->dtype));
  for (uint32_t d = 0; d < t->rank && n < sizeof r.s; d++)
    n += (size_t)snprintf(r.s + n, sizeof r.s - n, "%s%" PRId64, d ? ", " : "", t->dims[d]);
  if (n < sizeof r.s) snprintf(r.s + n, sizeof r.s - n, "]");
  return r;
}
static type_str dims_str(const int64_t* dims, int rank) {
  type_str r;
  size_t n = (size_t)snprintf(r.s, sizeof r.s, "[");
  for (int d = 0; d < rank && n < sizeof r.s; d++)
    n += (size_t)snprintf(r.s + n, sizeof r.s - n, "%s%" PRId64, d ? ", " : "", dims[d]);
  if (n < sizeof r.s) snprintf(r.s + n, sizeof r.s - n, "]");
  return r;
}

/* ---- inputs and output ------------------------------------------------------------- */

static bool same_dims(const ttp_tensor* t, const int64_t* dims, int rank) {
  if ((int)t->rank != rank) return false;
  for (int d = 0; d < rank; d++)
    if (t->dims[d] != dims[d]) return false;
  return true;
}

static ttp_status* check_arity_outputs(const ttp_op* op, uint32_t min_in, uint32_t max_in, uint32_t n_out) {
  if (op->n_inputs < min_in || op->n_inputs > max_in) {
    if (min_in == max_in) return BAD("takes %u input(s), got %u", min_in, op->n_inputs);
    return BAD("takes at least %u input(s), got %u", min_in, op->n_inputs);
  }
  if (op->n_outputs != n_out) return BAD("has %u output(s), got %u", n_out, op->n_outputs);
  /* Kernels read inputs while writing the outputs (restrict), and write
     each output once. */
  for (uint32_t j = 0; j < n_out; j++) {
    for (uint32_t k = 0; k < op->n_inputs; k++)
      if (op->inputs[k] == op->outputs[j])
        return BAD("output tensor %u is also input %u", op->outputs[j], k);
    for (uint32_t k = 0; k < j; k++)
      if (op->outputs[k] == op->outputs[j]) return BAD("outputs %u and %u are one tensor %u", k, j, op->outputs[j]);
  }
  return NULL;
}

static ttp_status* check_arity(const ttp_op* op, uint32_t min_in, uint32_t max_in) {
  return check_arity_outputs(op, min_in, max_in, 1);
}

/* Inputs [first, n_inputs) share one element type (decoding has checked
   that the registry defines the op on it). */
static ttp_status* check_same_dtypes(const ttp_plan* plan, const ttp_op* op, uint32_t first) {
  for (uint32_t k = first + 1; k < op->n_inputs; k++)
    if (IN(k)->dtype != IN(first)->dtype)
      return BAD("operands have different element types: input %u is %s, input %u is %s", first,
                 tstr(IN(first)).s, k, tstr(IN(k)).s);
  return NULL;
}

static ttp_status* check_out_dtype(const ttp_plan* plan, const ttp_op* op, int dtype) {
  if (OUT(0)->dtype != dtype)
    return BAD("output is %s, expected element type %s", tstr(OUT(0)).s, ttp_dtype_name(dtype));
  return NULL;
}

static ttp_status* check_out_dims(const ttp_plan* plan, const ttp_op* op, const int64_t* dims, int rank) {
  if (!same_dims(OUT(0), dims, rank))
    return BAD("output is %s, expected shape %s", tstr(OUT(0)).s, dims_str(dims, rank).s);
  return NULL;
}

/* The output has t's element type and shape. */
static ttp_status* check_out_like(const ttp_plan* plan, const ttp_op* op, const ttp_tensor* t) {
  TTP_RETURN_IF_ERROR(check_out_dtype(plan, op, t->dtype));
  return check_out_dims(plan, op, t->dims, (int)t->rank);
}

/* numpy broadcasting of inputs [first, n_inputs); false if they don't. */
static bool broadcast_dims(const ttp_plan* plan, const ttp_op* op, uint32_t first, int64_t* dims, int* rank) {
  int r = 0;
  for (uint32_t k = first; k < op->n_inputs; k++)
    if ((int)IN(k)->rank > r) r = (int)IN(k)->rank;
  for (int d = 0; d < r; d++) dims[d] = 1;
  for (uint32_t k = first; k < op->n_inputs; k++) {
    const ttp_tensor* t = IN(k);
    for (int j = 0; j < (int)t->rank; j++) {
      int d = r - (int)t->rank + j;
      if (t->dims[j] == 1) continue;
      if (dims[d] != 1 && dims[d] != t->dims[j]) return false;
      dims[d] = t->dims[j];
    }
  }
  *rank = r;
  return true;
}

static ttp_status* check_broadcast_out(const ttp_plan* plan, const ttp_op* op, uint32_t first) {
  int64_t dims[TTP_MAX_RANK];
  int rank;
  if (!broadcast_dims(plan, op, first, dims, &rank)) {
    char buf[800] = "";
    for (uint32_t k = first; k < op->n_inputs; k++) {
      size_t len = strlen(buf);
      snprintf(buf + len, sizeof buf - len, "%s%s", k > first ? " and " : "", tstr(IN(k)).s);
    }
    return BAD("input shapes %s do not broadcast", buf);
  }
  return check_out_dims(plan, op, dims, rank);
}

/* ---- attributes -------------------------------------------------------------------- */

static const char* attr_name(const ttp_op* op, int slot) { return ttp_op_defs[op->code].attrs[slot]; }

/* The attribute in `slot` holds between min_n and max_n integers and no floats. */
static ttp_status* get_ints(const ttp_op* op, int slot, uint32_t min_n, uint32_t max_n,
                            const int64_t** ints, uint32_t* n) {
  const ttp_attr* a = &op->attrs[slot];
  const char* name = attr_name(op, slot);
  *ints = NULL; /* defined on every path, so callers' error paths are too */
  *n = 0;
  if (!a->present) return BAD("missing attribute '%s'", name);
  if (a->n_floats != 0 || a->n_ints < min_n || a->n_ints > max_n) {
    if (min_n == max_n)
      return BAD("attribute '%s' must hold %u integer(s), has %u integer(s) and %u float(s)", name,
                 min_n, a->n_ints, a->n_floats);
    return BAD("attribute '%s' must hold %u to %u integers, has %u integer(s) and %u float(s)", name,
               min_n, max_n, a->n_ints, a->n_floats);
  }
  *ints = a->ints;
  *n = a->n_ints;
  return NULL;
}

/* One integer in [lo, hi]. */
static ttp_status* get_int_in(const ttp_op* op, int slot, int64_t lo, int64_t hi, int64_t* v) {
  const int64_t* p;
  uint32_t n;
  *v = 0;
  TTP_RETURN_IF_ERROR(get_ints(op, slot, 1, 1, &p, &n));
  if (p[0] < lo || p[0] > hi)
    return BAD("attribute '%s' is %" PRId64 ", expected %" PRId64 " to %" PRId64, attr_name(op, slot), p[0], lo,
               hi);
  *v = p[0];
  return NULL;
}

/* The attribute in `slot` holds exactly one float and no integers. */
static ttp_status* get_float(const ttp_op* op, int slot) {
  const ttp_attr* a = &op->attrs[slot];
  if (!a->present) return BAD("missing attribute '%s'", attr_name(op, slot));
  if (a->n_ints != 0 || a->n_floats != 1)
    return BAD("attribute '%s' must hold one float, has %u integer(s) and %u float(s)", attr_name(op, slot),
               a->n_ints, a->n_floats);
  return NULL;
}

/* start/step of arange: one integer or one float each. */
static ttp_status* get_number(const ttp_op* op, int slot) {
  const ttp_attr* a = &op->attrs[slot];
  if (!a->present) return BAD("missing attribute '%s'", attr_name(op, slot));
  if (a->n_ints + a->n_floats != 1)
    return BAD("attribute '%s' must hold one number, has %u integer(s) and %u float(s)", attr_name(op, slot),
               a->n_ints, a->n_floats);
  return NULL;
}

/* A dim attribute: one integer indexing a dim of t. */
static ttp_status* get_dim(const ttp_op* op, int slot, const ttp_tensor* t, int* dim) {
  const int64_t* p;
  uint32_t n;
  *dim = 0;
  TTP_RETURN_IF_ERROR(get_ints(op, slot, 1, 1, &p, &n));
  if (p[0] < 0 || p[0] >= (int64_t)t->rank)
    return BAD("attribute '%s' is %" PRId64 ", out of range for %s", attr_name(op, slot), p[0], tstr(t).s);
  *dim = (int)p[0];
  return NULL;
}

/* A dtype attribute naming a logical type. Any other DataType is a valid
   archive that this runtime cannot compute. */
static ttp_status* get_dtype_attr(const ttp_op* op, int slot, int* dtype) {
  const int64_t* v;
  uint32_t n;
  *dtype = 0;
  TTP_RETURN_IF_ERROR(get_ints(op, slot, 1, 1, &v, &n));
  if (v[0] <= 0 || v[0] > 15)
    return BAD("attribute '%s' is %" PRId64 ", which is not a DataType", attr_name(op, slot), v[0]);
  if (!ttp_dtype_size((int)v[0]))
    return ttp_make_status(TTP_UNSUPPORTED, "cannot produce element type %s; this runtime computes float32, "
                           "bfloat16, int32 and bool", ttp_dtype_name((int)v[0]));
  *dtype = (int)v[0];
  return NULL;
}

/* The compute config of a matrix-engine op, both attributes optional (cpu
   builds carry none): math_fidelity a tt-mlir MathFidelity, fp32_dest_acc_en
   a flag. Backends read them without checking again. */
static ttp_status* check_compute_config(const ttp_op* op, int fidelity_slot, int acc_slot) {
  if (op->attrs[fidelity_slot].present) {
    const int64_t* v;
    uint32_t n;
    TTP_RETURN_IF_ERROR(get_ints(op, fidelity_slot, 1, 1, &v, &n));
    if (v[0] != TTP_MATH_FIDELITY_LOFI && v[0] != TTP_MATH_FIDELITY_HIFI2 && v[0] != TTP_MATH_FIDELITY_HIFI3 &&
        v[0] != TTP_MATH_FIDELITY_HIFI4)
      return BAD("math_fidelity %" PRId64 " is not LoFi (%d), HiFi2 (%d), HiFi3 (%d) or HiFi4 (%d)", v[0],
                 TTP_MATH_FIDELITY_LOFI, TTP_MATH_FIDELITY_HIFI2, TTP_MATH_FIDELITY_HIFI3, TTP_MATH_FIDELITY_HIFI4);
  }
  if (op->attrs[acc_slot].present) {
    int64_t flag;
    TTP_RETURN_IF_ERROR(get_int_in(op, acc_slot, 0, 1, &flag));
  }
  return NULL;
}

/* ---- elementwise ops --------------------------------------------------------------- */

/* Unary ops, and to_layout / to_memory_config: a change of layout or memory
   config leaves the logical value, so element type and shape are kept. */
static ttp_status* verify_same_as_input(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(op, 1, 1));
  return check_out_like(plan, op, IN(0));
}

static bool is_comparison(int code) { return code >= TTP_OP_EQ && code <= TTP_OP_GE; }

static ttp_status* verify_binary(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(op, 2, 2));
  TTP_RETURN_IF_ERROR(check_same_dtypes(plan, op, 0));
  TTP_RETURN_IF_ERROR(check_out_dtype(plan, op, is_comparison(op->code) ? TTP_DTYPE_BOOL : IN(0)->dtype));
  return check_broadcast_out(plan, op, 0);
}

static ttp_status* verify_where(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(op, 3, 3));
  if (IN(0)->dtype != TTP_DTYPE_BOOL) return BAD("condition (input 0) must be bool, got %s", tstr(IN(0)).s);
  TTP_RETURN_IF_ERROR(check_same_dtypes(plan, op, 1));
  TTP_RETURN_IF_ERROR(check_out_dtype(plan, op, IN(1)->dtype));
  return check_broadcast_out(plan, op, 0);
}

static ttp_status* verify_typecast(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(op, 1, 1));
  int dtype;
  TTP_RETURN_IF_ERROR(get_dtype_attr(op, TTP_ATTR_TYPECAST_DTYPE, &dtype));
  TTP_RETURN_IF_ERROR(check_out_dtype(plan, op, dtype));
  return check_out_dims(plan, op, IN(0)->dims, (int)IN(0)->rank);
}

/* bitcast: float32 <-> int32, the same 32 bits, the same shape. */
static ttp_status* verify_bitcast(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(op, 1, 1));
  int dtype;
  TTP_RETURN_IF_ERROR(get_dtype_attr(op, TTP_ATTR_BITCAST_DTYPE, &dtype));
  int from = IN(0)->dtype;
  if (!((from == TTP_DTYPE_FLOAT32 && dtype == TTP_DTYPE_INT32) || (from == TTP_DTYPE_INT32 && dtype == TTP_DTYPE_FLOAT32)))
    return BAD("reinterprets float32 as int32 or back, not %s as %s", ttp_dtype_name(from), ttp_dtype_name(dtype));
  TTP_RETURN_IF_ERROR(check_out_dtype(plan, op, dtype));
  return check_out_dims(plan, op, IN(0)->dims, (int)IN(0)->rank);
}

/* ---- matmul ------------------------------------------------------------------------ */

static ttp_status* verify_matmul(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(op, 2, 2));
  TTP_RETURN_IF_ERROR(check_same_dtypes(plan, op, 0));
  TTP_RETURN_IF_ERROR(check_compute_config(op, TTP_ATTR_MATMUL_MATH_FIDELITY, TTP_ATTR_MATMUL_FP32_DEST_ACC_EN));
  const ttp_tensor *a = IN(0), *b = IN(1);
  if (a->rank < 2 || b->rank < 2)
    return BAD("needs two operands of rank >= 2, got %s and %s", tstr(a).s, tstr(b).s);
  if (a->dims[a->rank - 1] != b->dims[b->rank - 2])
    return BAD("inner dimensions differ: %s @ %s", tstr(a).s, tstr(b).s);
  int64_t dims[TTP_MAX_RANK];
  int ra = (int)a->rank - 2, rb = (int)b->rank - 2, r = ra > rb ? ra : rb;
  for (int d = 0; d < r; d++) {
    int ka = d - (r - ra), kb = d - (r - rb);
    int64_t da = ka >= 0 ? a->dims[ka] : 1, db = kb >= 0 ? b->dims[kb] : 1;
    if (da != db && da != 1 && db != 1)
      return BAD("batch dimensions of %s and %s do not broadcast", tstr(a).s, tstr(b).s);
    dims[d] = da == 1 ? db : da;
  }
  dims[r] = a->dims[a->rank - 2];
  dims[r + 1] = b->dims[b->rank - 1];
  TTP_RETURN_IF_ERROR(check_out_dtype(plan, op, a->dtype));
  return check_out_dims(plan, op, dims, r + 2);
}

/* ---- data movement ----------------------------------------------------------------- */

static ttp_status* verify_reshape(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(op, 1, 1));
  const int64_t* shape;
  uint32_t n;
  TTP_RETURN_IF_ERROR(get_ints(op, TTP_ATTR_RESHAPE_SHAPE, 0, TTP_MAX_RANK, &shape, &n));
  TTP_RETURN_IF_ERROR(check_out_dtype(plan, op, IN(0)->dtype));
  if (!same_dims(OUT(0), shape, (int)n))
    return BAD("output is %s but attribute 'shape' is %s", tstr(OUT(0)).s, dims_str(shape, (int)n).s);
  if (OUT(0)->numel != IN(0)->numel)
    return BAD("cannot reshape %s (%" PRId64 " elements) to %s (%" PRId64 " elements)", tstr(IN(0)).s,
               IN(0)->numel, dims_str(shape, (int)n).s, OUT(0)->numel);
  return NULL;
}

static ttp_status* verify_permute(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(op, 1, 1));
  const ttp_tensor* in = IN(0);
  const int64_t* perm;
  uint32_t n;
  TTP_RETURN_IF_ERROR(get_ints(op, TTP_ATTR_PERMUTE_PERM, in->rank, in->rank, &perm, &n));
  unsigned seen = 0;
  int64_t dims[TTP_MAX_RANK];
  for (uint32_t i = 0; i < n; i++) {
    if (perm[i] < 0 || perm[i] >= (int64_t)n || (seen & (1u << perm[i])))
      return BAD("attribute 'perm' %s is not a permutation of %u dims", dims_str(perm, (int)n).s, n);
    seen |= 1u << perm[i];
    dims[i] = in->dims[perm[i]];
  }
  TTP_RETURN_IF_ERROR(check_out_dtype(plan, op, in->dtype));
  return check_out_dims(plan, op, dims, (int)n);
}

static ttp_status* verify_concat(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(op, 1, UINT32_MAX));
  TTP_RETURN_IF_ERROR(check_same_dtypes(plan, op, 0));
  const ttp_tensor *first = IN(0), *out = OUT(0);
  int dim;
  TTP_RETURN_IF_ERROR(get_dim(op, TTP_ATTR_CONCAT_DIM, first, &dim));
  TTP_RETURN_IF_ERROR(check_out_dtype(plan, op, first->dtype));
  if (out->rank != first->rank)
    return BAD("output is %s, expected rank %u like the inputs", tstr(out).s, first->rank);
  for (uint32_t d = 0; d < out->rank; d++)
    if ((int)d != dim && out->dims[d] != first->dims[d])
      return BAD("output %s differs from input %s outside dim %d", tstr(out).s, tstr(first).s, dim);
  /* Count down from the output's size so huge (empty) inputs cannot overflow. */
  int64_t left = out->dims[dim];
  for (uint32_t k = 0; k < op->n_inputs; k++) {
    const ttp_tensor* t = IN(k);
    if (t->rank != first->rank)
      return BAD("inputs differ in rank: %s and %s", tstr(first).s, tstr(t).s);
    for (uint32_t d = 0; d < t->rank; d++)
      if ((int)d != dim && t->dims[d] != first->dims[d])
        return BAD("inputs differ outside dim %d: %s and %s", dim, tstr(first).s, tstr(t).s);
    if (t->dims[dim] > left) break;
    left -= t->dims[dim];
    if (k + 1 == op->n_inputs && left == 0) return NULL;
  }
  return BAD("output is %s, but the inputs' sizes along dim %d do not add up to %" PRId64, tstr(out).s, dim,
             out->dims[dim]);
}

static ttp_status* verify_slice(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(op, 1, 1));
  const ttp_tensor* in = IN(0);
  const int64_t *b, *e, *s;
  uint32_t n;
  TTP_RETURN_IF_ERROR(get_ints(op, TTP_ATTR_SLICE_BEGINS, in->rank, in->rank, &b, &n));
  TTP_RETURN_IF_ERROR(get_ints(op, TTP_ATTR_SLICE_ENDS, in->rank, in->rank, &e, &n));
  TTP_RETURN_IF_ERROR(get_ints(op, TTP_ATTR_SLICE_STEPS, in->rank, in->rank, &s, &n));
  int64_t dims[TTP_MAX_RANK];
  for (uint32_t d = 0; d < n; d++) {
    if (s[d] < 1 || b[d] < 0 || b[d] > e[d] || e[d] > in->dims[d])
      return BAD("slice [%" PRId64 ":%" PRId64 ":%" PRId64 "] is out of range for dim %u of %s", b[d], e[d],
                 s[d], d, tstr(in).s);
    const int64_t len = e[d] - b[d];
    dims[d] = len == 0 ? 0 : (len - 1) / s[d] + 1; /* ceil(len / s) without overflow */
  }
  TTP_RETURN_IF_ERROR(check_out_dtype(plan, op, in->dtype));
  return check_out_dims(plan, op, dims, (int)n);
}

static ttp_status* verify_repeat(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(op, 1, 1));
  const ttp_tensor* in = IN(0);
  const int64_t* shape;
  uint32_t n;
  TTP_RETURN_IF_ERROR(get_ints(op, TTP_ATTR_REPEAT_SHAPE, in->rank, in->rank, &shape, &n));
  for (uint32_t d = 0; d < n; d++)
    if (shape[d] < 0 || (in->dims[d] != 1 && in->dims[d] != shape[d]))
      return BAD("cannot broadcast %s to %s", tstr(in).s, dims_str(shape, (int)n).s);
  TTP_RETURN_IF_ERROR(check_out_dtype(plan, op, in->dtype));
  return check_out_dims(plan, op, shape, (int)n);
}

/* ---- reductions, arange ------------------------------------------------------------ */

static ttp_status* verify_reduce(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(op, 1, 1));
  const ttp_tensor* in = IN(0);
  const int64_t *dims, *keep;
  uint32_t n, one;
  TTP_RETURN_IF_ERROR(get_ints(op, TTP_ATTR_SUM_DIMS, 0, in->rank, &dims, &n));
  TTP_RETURN_IF_ERROR(get_ints(op, TTP_ATTR_SUM_KEEPDIM, 1, 1, &keep, &one));
  if (keep[0] != 0 && keep[0] != 1) return BAD("attribute 'keepdim' is %" PRId64 ", expected 0 or 1", keep[0]);
  unsigned reduced = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (dims[i] < 0 || dims[i] >= (int64_t)in->rank || (reduced & (1u << dims[i])))
      return BAD("bad reduction dims %s for %s", dims_str(dims, (int)n).s, tstr(in).s);
    reduced |= 1u << dims[i];
  }
  int64_t out_dims[TTP_MAX_RANK];
  int r = 0;
  for (uint32_t d = 0; d < in->rank; d++) {
    if (!(reduced & (1u << d))) out_dims[r++] = in->dims[d];
    else if (keep[0]) out_dims[r++] = 1;
  }
  TTP_RETURN_IF_ERROR(check_out_dtype(plan, op, in->dtype));
  return check_out_dims(plan, op, out_dims, r);
}

static ttp_status* verify_arange(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(op, 0, 0));
  TTP_RETURN_IF_ERROR(get_number(op, TTP_ATTR_ARANGE_START));
  TTP_RETURN_IF_ERROR(get_number(op, TTP_ATTR_ARANGE_STEP));
  const int64_t* n;
  uint32_t one;
  TTP_RETURN_IF_ERROR(get_ints(op, TTP_ATTR_ARANGE_SHAPE, 1, 1, &n, &one));
  if (n[0] < 0) return BAD("attribute 'shape' is [%" PRId64 "], a negative length", n[0]);
  int dtype;
  TTP_RETURN_IF_ERROR(get_dtype_attr(op, TTP_ATTR_ARANGE_DTYPE, &dtype));
  TTP_RETURN_IF_ERROR(check_out_dtype(plan, op, dtype));
  return check_out_dims(plan, op, n, 1);
}

/* ---- NN ops ------------------------------------------------------------------------ */

static ttp_status* verify_gelu(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(op, 1, 1));
  int64_t approximate;
  TTP_RETURN_IF_ERROR(get_int_in(op, TTP_ATTR_GELU_APPROXIMATE, 0, 1, &approximate));
  return check_out_like(plan, op, IN(0));
}

static ttp_status* verify_softmax(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(op, 1, 1));
  int dim;
  TTP_RETURN_IF_ERROR(get_dim(op, TTP_ATTR_SOFTMAX_DIM, IN(0), &dim));
  return check_out_like(plan, op, IN(0));
}

/* Inputs 1.. are vectors of x.shape[dim] elements (their common dtype was
   checked with x's). */
static ttp_status* check_param_vectors(const ttp_plan* plan, const ttp_op* op, int dim) {
  const ttp_tensor* x = IN(0);
  for (uint32_t k = 1; k < op->n_inputs; k++)
    if (IN(k)->rank != 1 || IN(k)->dims[0] != x->dims[dim])
      return BAD("input %u is %s, expected a [%" PRId64 "] parameter vector for dim %d of %s", k,
                 tstr(IN(k)).s, x->dims[dim], dim, tstr(x).s);
  return NULL;
}

static ttp_status* verify_layer_norm(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(op, 3, 3));
  TTP_RETURN_IF_ERROR(check_same_dtypes(plan, op, 0));
  const ttp_tensor* x = IN(0);
  if (x->rank < 1) return BAD("normalizes over the last dim, but input 0 is %s", tstr(x).s);
  TTP_RETURN_IF_ERROR(check_param_vectors(plan, op, (int)x->rank - 1));
  TTP_RETURN_IF_ERROR(get_float(op, TTP_ATTR_LAYER_NORM_EPSILON));
  return check_out_like(plan, op, x);
}

static ttp_status* verify_batch_norm(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(op, 5, 5));
  TTP_RETURN_IF_ERROR(check_same_dtypes(plan, op, 0));
  int dim;
  TTP_RETURN_IF_ERROR(get_dim(op, TTP_ATTR_BATCH_NORM_DIM, IN(0), &dim));
  TTP_RETURN_IF_ERROR(check_param_vectors(plan, op, dim));
  TTP_RETURN_IF_ERROR(get_float(op, TTP_ATTR_BATCH_NORM_EPSILON));
  return check_out_like(plan, op, IN(0));
}

static ttp_status* verify_linear(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(op, 3, 3));
  TTP_RETURN_IF_ERROR(check_same_dtypes(plan, op, 0));
  int64_t act;
  TTP_RETURN_IF_ERROR(get_int_in(op, TTP_ATTR_LINEAR_ACTIVATION, TTP_ACTIVATION_NONE, TTP_ACTIVATION_MAX, &act));
  TTP_RETURN_IF_ERROR(check_compute_config(op, TTP_ATTR_LINEAR_MATH_FIDELITY, TTP_ATTR_LINEAR_FP32_DEST_ACC_EN));
  const ttp_tensor *x = IN(0), *w = IN(1), *b = IN(2);
  if (x->rank < 1 || w->rank != 2 || x->dims[x->rank - 1] != w->dims[0] || b->rank != 1 ||
      b->dims[0] != w->dims[1])
    return BAD("needs x[..., K], w[K, N], b[N]; got %s, %s, %s", tstr(x).s, tstr(w).s, tstr(b).s);
  int64_t dims[TTP_MAX_RANK];
  memcpy(dims, x->dims, sizeof(int64_t) * x->rank);
  dims[x->rank - 1] = w->dims[1];
  TTP_RETURN_IF_ERROR(check_out_dtype(plan, op, x->dtype));
  return check_out_dims(plan, op, dims, (int)x->rank);
}

/* ops.py _window_out, with every sum and product checked against overflow
   (a result beyond int64 could not be an archive's dimension anyway). It
   also bounds what kernels compute from a window: a tap's position lies in
   [-lo, size + hi), and output index * stride <= padded size - span. */
static ttp_status* window_out(const char* axis, int64_t size, int64_t k, int64_t s, int64_t lo, int64_t hi,
                              int64_t d, int64_t* out) {
  *out = 0;
  if (s < 1 || d < 1 || k < 1 || lo < 0 || hi < 0)
    return BAD("window sizes, strides and dilations must be >= 1 and padding >= 0; along %s: window %" PRId64
               ", stride %" PRId64 ", dilation %" PRId64 ", padding %" PRId64 " and %" PRId64,
               axis, k, s, d, lo, hi);
  if (k - 1 > (INT64_MAX - 1) / d || lo > INT64_MAX - size || hi > INT64_MAX - size - lo)
    return BAD("window sizes along %s overflow: size %" PRId64 ", window %" PRId64 ", dilation %" PRId64
               ", padding %" PRId64 " and %" PRId64, axis, size, k, d, lo, hi);
  const int64_t span = d * (k - 1) + 1, padded = size + lo + hi;
  if (padded < span)
    return BAD("window of %" PRId64 " does not fit a padded %s of %" PRId64, span, axis, padded);
  *out = (padded - span) / s + 1;
  return NULL;
}

/* x[N,H,W,C], w[KH,KW,C/groups,O], b[O] of one dtype, and the activation
   and groups attributes, as conv2d and conv_transpose2d take them. */
static ttp_status* check_conv_operands(const ttp_plan* plan, const ttp_op* op, int act_slot, int groups_slot,
                                       int64_t* groups) {
  int64_t act;
  TTP_RETURN_IF_ERROR(check_arity(op, 3, 3));
  TTP_RETURN_IF_ERROR(check_same_dtypes(plan, op, 0));
  TTP_RETURN_IF_ERROR(get_int_in(op, act_slot, TTP_ACTIVATION_NONE, TTP_ACTIVATION_MAX, &act));
  TTP_RETURN_IF_ERROR(get_int_in(op, groups_slot, 1, INT64_MAX, groups));
  const ttp_tensor *x = IN(0), *w = IN(1), *b = IN(2);
  if (x->rank != 4 || w->rank != 4 || b->rank != 1)
    return BAD("needs x[N,H,W,C], w[KH,KW,C/groups,O], b[O]; got %s, %s, %s", tstr(x).s, tstr(w).s,
               tstr(b).s);
  const int64_t C = x->dims[3], cg = w->dims[2], O = w->dims[3];
  /* cg * groups == C without overflow: C % groups == 0 and cg == C / groups. */
  if (C % *groups || O % *groups || cg != C / *groups || b->dims[0] != O)
    return BAD("channels do not match: x %s, w %s, b %s, groups %" PRId64, tstr(x).s, tstr(w).s, tstr(b).s,
               *groups);
  return NULL;
}

static ttp_status* verify_conv2d(const ttp_plan* plan, const ttp_op* op) {
  int64_t groups;
  TTP_RETURN_IF_ERROR(check_conv_operands(plan, op, TTP_ATTR_CONV2D_ACTIVATION, TTP_ATTR_CONV2D_GROUPS, &groups));
  TTP_RETURN_IF_ERROR(check_compute_config(op, TTP_ATTR_CONV2D_MATH_FIDELITY, TTP_ATTR_CONV2D_FP32_DEST_ACC_EN));
  const ttp_tensor *x = IN(0), *w = IN(1);
  const int64_t O = w->dims[3];
  const int64_t *st, *pad, *dil;
  uint32_t n;
  TTP_RETURN_IF_ERROR(get_ints(op, TTP_ATTR_CONV2D_STRIDE, 2, 2, &st, &n));
  TTP_RETURN_IF_ERROR(get_ints(op, TTP_ATTR_CONV2D_PADDING, 4, 4, &pad, &n));
  TTP_RETURN_IF_ERROR(get_ints(op, TTP_ATTR_CONV2D_DILATION, 2, 2, &dil, &n));
  int64_t dims[4] = {x->dims[0], 0, 0, O};
  TTP_RETURN_IF_ERROR(window_out("height", x->dims[1], w->dims[0], st[0], pad[0], pad[1], dil[0], &dims[1]));
  TTP_RETURN_IF_ERROR(window_out("width", x->dims[2], w->dims[1], st[1], pad[2], pad[3], dil[1], &dims[2]));
  TTP_RETURN_IF_ERROR(check_out_dtype(plan, op, x->dtype));
  return check_out_dims(plan, op, dims, 4);
}

/* max_pool2d, avg_pool2d and sum_pool2d (one attribute layout, op_verify.h). */
static ttp_status* verify_pool(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(op, 1, 1));
  const ttp_tensor* x = IN(0);
  if (x->rank != 4) return BAD("needs x[N,H,W,C], got %s", tstr(x).s);
  const int64_t *k, *st, *pad, *dil = NULL;
  uint32_t n;
  TTP_RETURN_IF_ERROR(get_ints(op, TTP_ATTR_MAX_POOL2D_KERNEL, 2, 2, &k, &n));
  TTP_RETURN_IF_ERROR(get_ints(op, TTP_ATTR_MAX_POOL2D_STRIDE, 2, 2, &st, &n));
  TTP_RETURN_IF_ERROR(get_ints(op, TTP_ATTR_MAX_POOL2D_PADDING, 4, 4, &pad, &n));
  if (op->code == TTP_OP_MAX_POOL2D)
    TTP_RETURN_IF_ERROR(get_ints(op, TTP_ATTR_MAX_POOL2D_DILATION, 2, 2, &dil, &n));
  if (op->code == TTP_OP_AVG_POOL2D) {
    int64_t flag;
    TTP_RETURN_IF_ERROR(get_int_in(op, TTP_ATTR_AVG_POOL2D_COUNT_INCLUDE_PAD, 0, 1, &flag));
  }
  int64_t dims[4] = {x->dims[0], 0, 0, x->dims[3]};
  TTP_RETURN_IF_ERROR(window_out("height", x->dims[1], k[0], st[0], pad[0], pad[1], dil ? dil[0] : 1, &dims[1]));
  TTP_RETURN_IF_ERROR(window_out("width", x->dims[2], k[1], st[1], pad[2], pad[3], dil ? dil[1] : 1, &dims[2]));
  TTP_RETURN_IF_ERROR(check_out_dtype(plan, op, x->dtype));
  return check_out_dims(plan, op, dims, 4);
}

static ttp_status* verify_pad(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(op, 1, 1));
  const ttp_tensor* x = IN(0);
  const int64_t *lo, *hi;
  uint32_t n;
  TTP_RETURN_IF_ERROR(get_ints(op, TTP_ATTR_PAD_LOW, x->rank, x->rank, &lo, &n));
  TTP_RETURN_IF_ERROR(get_ints(op, TTP_ATTR_PAD_HIGH, x->rank, x->rank, &hi, &n));
  TTP_RETURN_IF_ERROR(get_float(op, TTP_ATTR_PAD_VALUE));
  int64_t dims[TTP_MAX_RANK] = {0};
  for (uint32_t d = 0; d < n; d++) {
    if (lo[d] < 0 || hi[d] < 0)
      return BAD("needs non-negative padding, got low %s and high %s", dims_str(lo, (int)n).s,
                 dims_str(hi, (int)n).s);
    if (lo[d] > INT64_MAX - x->dims[d] || hi[d] > INT64_MAX - x->dims[d] - lo[d])
      return BAD("padding dim %u of %s by %" PRId64 " and %" PRId64 " overflows", d, tstr(x).s, lo[d], hi[d]);
    dims[d] = x->dims[d] + lo[d] + hi[d];
  }
  TTP_RETURN_IF_ERROR(check_out_dtype(plan, op, x->dtype));
  return check_out_dims(plan, op, dims, (int)n);
}

static ttp_status* verify_embedding(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(op, 2, 2));
  const ttp_tensor *ids = IN(0), *table = IN(1);
  if (ids->dtype != TTP_DTYPE_INT32 || table->rank != 2)
    return BAD("needs int32 ids and a [V, D] table, got %s and %s", tstr(ids).s, tstr(table).s);
  if (table->dims[0] < 1) return BAD("table %s has no rows to look up", tstr(table).s);
  if (ids->rank >= TTP_MAX_RANK)
    return BAD("ids %s would give an output of rank %u > %d", tstr(ids).s, ids->rank + 1, TTP_MAX_RANK);
  int64_t dims[TTP_MAX_RANK];
  memcpy(dims, ids->dims, sizeof(int64_t) * ids->rank);
  dims[ids->rank] = table->dims[1];
  TTP_RETURN_IF_ERROR(check_out_dtype(plan, op, table->dtype));
  return check_out_dims(plan, op, dims, (int)ids->rank + 1);
}

/* argmax and argmin (one attribute layout, op_verify.h). */
static ttp_status* verify_arg(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(op, 1, 1));
  const ttp_tensor* x = IN(0);
  int dim;
  int64_t keep;
  TTP_RETURN_IF_ERROR(get_dim(op, TTP_ATTR_ARGMAX_DIM, x, &dim));
  TTP_RETURN_IF_ERROR(get_int_in(op, TTP_ATTR_ARGMAX_KEEPDIM, 0, 1, &keep));
  if (x->dims[dim] == 0) return BAD("dim %d of %s is empty: no index to return", dim, tstr(x).s);
  int64_t dims[TTP_MAX_RANK];
  int r = 0;
  for (int d = 0; d < (int)x->rank; d++)
    if (d != dim) dims[r++] = x->dims[d];
    else if (keep) dims[r++] = 1;
  TTP_RETURN_IF_ERROR(check_out_dtype(plan, op, TTP_DTYPE_INT32));
  return check_out_dims(plan, op, dims, r);
}

static ttp_status* verify_cumsum(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(op, 1, 1));
  int dim;
  TTP_RETURN_IF_ERROR(get_dim(op, TTP_ATTR_CUMSUM_DIM, IN(0), &dim));
  return check_out_like(plan, op, IN(0));
}

/* ---- Coverage II: isfinite, reverse, sort, top_k, conv_transpose2d ----------------- */

/* Output j has element type dtype and shape dims. */
static ttp_status* check_output(const ttp_plan* plan, const ttp_op* op, uint32_t j, int dtype, const int64_t* dims,
                                int rank) {
  const ttp_tensor* t = OUT(j);
  if (t->dtype != dtype)
    return BAD("output %u is %s, expected element type %s", j, tstr(t).s, ttp_dtype_name(dtype));
  if (!same_dims(t, dims, rank)) return BAD("output %u is %s, expected shape %s", j, tstr(t).s, dims_str(dims, rank).s);
  return NULL;
}

/* isfinite: a float input, a bool output of its shape. */
static ttp_status* verify_to_bool(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(op, 1, 1));
  TTP_RETURN_IF_ERROR(check_out_dtype(plan, op, TTP_DTYPE_BOOL));
  return check_out_dims(plan, op, IN(0)->dims, (int)IN(0)->rank);
}

static ttp_status* verify_reverse(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(op, 1, 1));
  const ttp_tensor* in = IN(0);
  const int64_t* dims;
  uint32_t n;
  TTP_RETURN_IF_ERROR(get_ints(op, TTP_ATTR_REVERSE_DIMS, 0, in->rank, &dims, &n));
  unsigned seen = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (dims[i] < 0 || dims[i] >= (int64_t)in->rank || (seen & (1u << dims[i])))
      return BAD("attribute 'dims' %s is not a set of dims of %s", dims_str(dims, (int)n).s, tstr(in).s);
    seen |= 1u << dims[i];
  }
  return check_out_like(plan, op, in);
}

/* Indices along a dim are stored as int32: the dim must not be longer. */
static ttp_status* check_indexable(const ttp_tensor* x, int dim) {
  if (x->dims[dim] > (int64_t)INT32_MAX + 1)
    return BAD("dim %d of %s is too long for int32 indices", dim, tstr(x).s);
  return NULL;
}

/* sort(keys...): (values like the first key, int32 indices of its shape) along one dim;
   every key of one shape, with a descending and a total_order flag each. */
static ttp_status* verify_sort(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity_outputs(op, 1, UINT32_MAX, 2));
  const ttp_tensor* x = IN(0);
  int dim;
  int64_t flag;
  TTP_RETURN_IF_ERROR(get_dim(op, TTP_ATTR_SORT_DIM, x, &dim));
  TTP_RETURN_IF_ERROR(get_int_in(op, TTP_ATTR_SORT_STABLE, 0, 1, &flag));
  for (uint32_t k = 1; k < op->n_inputs; k++)
    if (!same_dims(IN(k), x->dims, (int)x->rank))
      return BAD("key %u is %s, the first key %s: sort keys have one shape", k, tstr(IN(k)).s, tstr(x).s);
  const int slots[2] = {TTP_ATTR_SORT_DESCENDING, TTP_ATTR_SORT_TOTAL_ORDER};
  for (int s = 0; s < 2; s++) { /* one 0/1 flag per key */
    const int64_t* flags;
    uint32_t n;
    TTP_RETURN_IF_ERROR(get_ints(op, slots[s], op->n_inputs, op->n_inputs, &flags, &n));
    for (uint32_t k = 0; k < n; k++)
      if (flags[k] != 0 && flags[k] != 1)
        return BAD("attribute '%s' must hold 0 or 1 per key, key %u has %" PRId64, attr_name(op, slots[s]), k,
                   flags[k]);
  }
  TTP_RETURN_IF_ERROR(check_indexable(x, dim));
  TTP_RETURN_IF_ERROR(check_output(plan, op, 0, x->dtype, x->dims, (int)x->rank));
  return check_output(plan, op, 1, TTP_DTYPE_INT32, x->dims, (int)x->rank);
}

/* top_k: (values, int32 indices), x's shape with k along dim, k <= that dim. */
static ttp_status* verify_top_k(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity_outputs(op, 1, 1, 2));
  const ttp_tensor* x = IN(0);
  int dim;
  int64_t largest, k;
  TTP_RETURN_IF_ERROR(get_dim(op, TTP_ATTR_TOP_K_DIM, x, &dim));
  TTP_RETURN_IF_ERROR(get_int_in(op, TTP_ATTR_TOP_K_LARGEST, 0, 1, &largest));
  TTP_RETURN_IF_ERROR(get_int_in(op, TTP_ATTR_TOP_K_K, 0, x->dims[dim], &k));
  TTP_RETURN_IF_ERROR(check_indexable(x, dim));
  int64_t dims[TTP_MAX_RANK];
  memcpy(dims, x->dims, sizeof(int64_t) * x->rank);
  dims[dim] = k;
  TTP_RETURN_IF_ERROR(check_output(plan, op, 0, x->dtype, dims, (int)x->rank));
  return check_output(plan, op, 1, TTP_DTYPE_INT32, dims, (int)x->rank);
}

/* ops.py _transposed_out, every sum and product checked: the uncropped
   extent (size - 1) * s + d * (k - 1) + 1 + extra fits int64, so kernels
   can compute any tap position h * s + i * d - lo without overflow, and the
   padding leaves at least one row. */
static ttp_status* transposed_out(const char* axis, int64_t size, int64_t k, int64_t s, int64_t lo, int64_t hi,
                                  int64_t extra, int64_t d, int64_t* out) {
  *out = 0;
  if (s < 1 || d < 1 || k < 1 || lo < 0 || hi < 0 || extra < 0)
    return BAD("strides, dilations and windows must be >= 1, padding and output padding >= 0; along %s: window %"
               PRId64 ", stride %" PRId64 ", dilation %" PRId64 ", padding %" PRId64 " and %" PRId64
               ", output padding %" PRId64, axis, k, s, d, lo, hi, extra);
  if (size < 1) return BAD("input %s is empty", axis);
  if (size - 1 > (INT64_MAX / 4) / s || k - 1 > (INT64_MAX / 4) / d || extra > INT64_MAX / 4)
    return BAD("sizes along %s overflow: size %" PRId64 ", window %" PRId64 ", stride %" PRId64 ", dilation %" PRId64
               ", output padding %" PRId64, axis, size, k, s, d, extra);
  const int64_t full = (size - 1) * s + d * (k - 1) + 1 + extra; /* < INT64_MAX */
  if (lo >= full || hi >= full - lo)
    return BAD("padding %" PRId64 " and %" PRId64 " crops all %" PRId64 " positions along %s", lo, hi, full, axis);
  *out = full - lo - hi;
  return NULL;
}

static ttp_status* verify_conv_transpose2d(const ttp_plan* plan, const ttp_op* op) {
  int64_t groups;
  TTP_RETURN_IF_ERROR(check_conv_operands(plan, op, TTP_ATTR_CONV_TRANSPOSE2D_ACTIVATION,
                                          TTP_ATTR_CONV_TRANSPOSE2D_GROUPS, &groups));
  TTP_RETURN_IF_ERROR(check_compute_config(op, TTP_ATTR_CONV_TRANSPOSE2D_MATH_FIDELITY,
                                           TTP_ATTR_CONV_TRANSPOSE2D_FP32_DEST_ACC_EN));
  const ttp_tensor *x = IN(0), *w = IN(1);
  const int64_t O = w->dims[3];
  const int64_t *st, *pad, *extra, *dil;
  uint32_t n;
  TTP_RETURN_IF_ERROR(get_ints(op, TTP_ATTR_CONV_TRANSPOSE2D_STRIDE, 2, 2, &st, &n));
  TTP_RETURN_IF_ERROR(get_ints(op, TTP_ATTR_CONV_TRANSPOSE2D_PADDING, 4, 4, &pad, &n));
  TTP_RETURN_IF_ERROR(get_ints(op, TTP_ATTR_CONV_TRANSPOSE2D_OUTPUT_PADDING, 2, 2, &extra, &n));
  TTP_RETURN_IF_ERROR(get_ints(op, TTP_ATTR_CONV_TRANSPOSE2D_DILATION, 2, 2, &dil, &n));
  int64_t dims[4] = {x->dims[0], 0, 0, O};
  TTP_RETURN_IF_ERROR(
      transposed_out("height", x->dims[1], w->dims[0], st[0], pad[0], pad[1], extra[0], dil[0], &dims[1]));
  TTP_RETURN_IF_ERROR(
      transposed_out("width", x->dims[2], w->dims[1], st[1], pad[2], pad[3], extra[1], dil[1], &dims[2]));
  TTP_RETURN_IF_ERROR(check_out_dtype(plan, op, x->dtype));
  return check_out_dims(plan, op, dims, 4);
}

/* ---- gather ------------------------------------------------------------------------ */

/* gather(x[R], indices int32[..., K]) -> indices.shape[:-1] + slice_sizes.
   Every read is bounded here: 0 <= slice_sizes[d] <= x.dims[d], and the
   kernel clamps each start into [0, x.dims[d] - slice_sizes[d]] (as XLA
   does), so a slice never leaves x whatever the index values are. */
/* The index_dims attribute of gather and scatter: distinct dims of x, as
   many as the last dim of the indices holds. */
static ttp_status* check_index_dims(const ttp_op* op, int slot, const ttp_tensor* x, const ttp_tensor* idx) {
  const int64_t* dims;
  uint32_t n_dims;
  TTP_RETURN_IF_ERROR(get_ints(op, slot, 0, x->rank, &dims, &n_dims));
  if ((int64_t)n_dims != idx->dims[idx->rank - 1])
    return BAD("indices %s index %" PRId64 " dims, but attribute 'index_dims' names %u", tstr(idx).s,
               idx->dims[idx->rank - 1], n_dims);
  unsigned seen = 0;
  for (uint32_t i = 0; i < n_dims; i++) {
    if (dims[i] < 0 || dims[i] >= (int64_t)x->rank || (seen & (1u << dims[i])))
      return BAD("attribute 'index_dims' %s is not a set of dims of %s", dims_str(dims, (int)n_dims).s, tstr(x).s);
    seen |= 1u << dims[i];
  }
  return NULL;
}

static ttp_status* verify_gather(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(op, 2, 2));
  const ttp_tensor *x = IN(0), *idx = IN(1);
  if (idx->dtype != TTP_DTYPE_INT32 || idx->rank < 1)
    return BAD("needs int32 indices of rank >= 1, got %s", tstr(idx).s);
  const int64_t* sizes;
  uint32_t n_sizes;
  TTP_RETURN_IF_ERROR(get_ints(op, TTP_ATTR_GATHER_SLICE_SIZES, x->rank, x->rank, &sizes, &n_sizes));
  TTP_RETURN_IF_ERROR(check_index_dims(op, TTP_ATTR_GATHER_INDEX_DIMS, x, idx));
  for (uint32_t d = 0; d < n_sizes; d++)
    if (sizes[d] < 0 || sizes[d] > x->dims[d])
      return BAD("attribute 'slice_sizes' %s does not fit %s", dims_str(sizes, (int)n_sizes).s, tstr(x).s);
  const int rank = (int)idx->rank - 1 + (int)x->rank;
  if (rank > TTP_MAX_RANK)
    return BAD("indices %s and operand %s give an output of rank %d > %d", tstr(idx).s, tstr(x).s, rank,
               TTP_MAX_RANK);
  int64_t out[TTP_MAX_RANK];
  memcpy(out, idx->dims, sizeof(int64_t) * (idx->rank - 1));
  memcpy(out + idx->rank - 1, sizes, sizeof(int64_t) * x->rank);
  TTP_RETURN_IF_ERROR(check_out_dtype(plan, op, x->dtype));
  return check_out_dims(plan, op, out, rank);
}

/* update_slice(x, update, starts int32[R]) -> like x. The kernel clamps each
   start into [0, x.dims[d] - update.dims[d]], so with update no larger than
   x along every dim each write stays inside the output. */
static ttp_status* verify_update_slice(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(op, 3, 3));
  const ttp_tensor *x = IN(0), *u = IN(1), *starts = IN(2);
  if (u->dtype != x->dtype || u->rank != x->rank)
    return BAD("update %s must have the element type and rank of %s", tstr(u).s, tstr(x).s);
  for (uint32_t d = 0; d < x->rank; d++)
    if (u->dims[d] > x->dims[d]) return BAD("update %s does not fit in %s", tstr(u).s, tstr(x).s);
  if (starts->dtype != TTP_DTYPE_INT32 || starts->rank != 1 || starts->dims[0] != (int64_t)x->rank)
    return BAD("starts must be int32[%u], got %s", x->rank, tstr(starts).s);
  return check_out_like(plan, op, x);
}

/* scatter(x[R], indices int32[..., K], updates[..., *window]) -> like x.
   The kernel skips every window whose clamp-free start does not leave the
   whole window inside x, so with window <= x.dims no write leaves the output. */
static ttp_status* verify_scatter(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(op, 3, 3));
  const ttp_tensor *x = IN(0), *idx = IN(1), *u = IN(2);
  if (idx->dtype != TTP_DTYPE_INT32 || idx->rank < 1)
    return BAD("needs int32 indices of rank >= 1, got %s", tstr(idx).s);
  int64_t mode;
  TTP_RETURN_IF_ERROR(check_index_dims(op, TTP_ATTR_SCATTER_INDEX_DIMS, x, idx));
  TTP_RETURN_IF_ERROR(get_int_in(op, TTP_ATTR_SCATTER_MODE, 0, 4, &mode));
  if (x->dtype == TTP_DTYPE_BOOL && (mode == 1 || mode == 2))
    return BAD("mode %" PRId64 " (add or multiply) is not defined on %s", mode, tstr(x).s);
  const uint32_t nb = idx->rank - 1;
  bool ok = u->dtype == x->dtype && u->rank == nb + x->rank;
  for (uint32_t d = 0; ok && d < nb; d++) ok = u->dims[d] == idx->dims[d];
  for (uint32_t d = 0; ok && d < x->rank; d++) ok = u->dims[nb + d] <= x->dims[d];
  if (!ok)
    return BAD("updates %s do not match indices %s and operand %s (batch dims, then a window no larger than the "
               "operand)", tstr(u).s, tstr(idx).s, tstr(x).s);
  return check_out_like(plan, op, x);
}

/* ---- control flow ------------------------------------------------------------------ */

/* Region k's tensors `ts` (inputs or outputs) have the types of the
   carried values (the while's inputs). */
static ttp_status* check_carried(const ttp_plan* plan, const ttp_op* op, const char* what, const uint32_t* ts,
                                 uint32_t n) {
  if (n != op->n_inputs) return BAD("%s has %u values, the loop carries %u", what, n, op->n_inputs);
  for (uint32_t k = 0; k < n; k++) {
    const ttp_tensor* t = &plan->tensors[ts[k]];
    if (t->dtype != IN(k)->dtype || !same_dims(t, IN(k)->dims, (int)IN(k)->rank))
      return BAD("%s value %u is %s, the loop carries %s", what, k, tstr(t).s, tstr(IN(k)).s);
  }
  return NULL;
}

/* while(carried...) -> carried...: cond and body are two distinct regions;
   cond takes the carried types to one bool scalar, body takes them to
   themselves. (That regions form a tree is checked over the whole plan, in
   verify_region_tree.) */
static ttp_status* verify_while(const ttp_plan* plan, const ttp_op* op) {
  if (op->n_inputs == 0) return BAD("carries no values");
  TTP_RETURN_IF_ERROR(check_arity_outputs(op, 1, UINT32_MAX, op->n_inputs));
  for (uint32_t k = 0; k < op->n_outputs; k++)
    if (OUT(k)->dtype != IN(k)->dtype || !same_dims(OUT(k), IN(k)->dims, (int)IN(k)->rank))
      return BAD("output %u is %s, the loop carries %s", k, tstr(OUT(k)).s, tstr(IN(k)).s);
  int64_t hi = (int64_t)plan->n_regions - 1, c, b;
  if (hi < 0) return BAD("names regions, but the program has none");
  TTP_RETURN_IF_ERROR(get_int_in(op, TTP_ATTR_WHILE_COND, 0, hi, &c));
  TTP_RETURN_IF_ERROR(get_int_in(op, TTP_ATTR_WHILE_BODY, 0, hi, &b));
  if (c == b) return BAD("cond and body are one region %" PRId64, c);
  const ttp_region* cond = &plan->regions[c];
  const ttp_region* body = &plan->regions[b];
  TTP_RETURN_IF_ERROR(check_carried(plan, op, "cond's input", cond->inputs, cond->n_inputs));
  if (cond->n_outputs != 1) return BAD("cond returns %u values, expected one bool scalar", cond->n_outputs);
  const ttp_tensor* pred = &plan->tensors[cond->outputs[0]];
  if (pred->dtype != TTP_DTYPE_BOOL || pred->rank != 0)
    return BAD("cond returns %s, expected a bool scalar", tstr(pred).s);
  TTP_RETURN_IF_ERROR(check_carried(plan, op, "body's input", body->inputs, body->n_inputs));
  return check_carried(plan, op, "body's output", body->outputs, body->n_outputs);
}

/* case(index int32[], operands...) -> outputs: one or more branch regions,
   each distinct, each taking the operands' types to the op's output types.
   An index outside [0, branches) runs the last branch (StableHLO), so every
   int32 value is valid. */
static ttp_status* verify_case(const ttp_plan* plan, const ttp_op* op) {
  if (op->n_inputs == 0) return BAD("has no branch index");
  if (IN(0)->dtype != TTP_DTYPE_INT32 || IN(0)->rank != 0)
    return BAD("the branch index is %s, expected an int32 scalar", tstr(IN(0)).s);
  const int64_t* branches;
  uint32_t n;
  TTP_RETURN_IF_ERROR(get_ints(op, TTP_ATTR_CASE_BRANCHES, 1, plan->n_regions, &branches, &n));
  for (uint32_t k = 0; k < n; k++) {
    if (branches[k] < 0 || branches[k] >= (int64_t)plan->n_regions)
      return BAD("branch %u names region %" PRId64 ", but the program has %u", k, branches[k], plan->n_regions);
    for (uint32_t j = 0; j < k; j++)
      if (branches[j] == branches[k]) return BAD("branches %u and %u are one region %" PRId64, j, k, branches[k]);
    const ttp_region* r = &plan->regions[branches[k]];
    if (r->n_inputs != op->n_inputs - 1)
      return BAD("branch %u takes %u values, the case passes %u", k, r->n_inputs, op->n_inputs - 1);
    for (uint32_t i = 0; i < r->n_inputs; i++) {
      const ttp_tensor* t = &plan->tensors[r->inputs[i]];
      if (t->dtype != IN(i + 1)->dtype || !same_dims(t, IN(i + 1)->dims, (int)IN(i + 1)->rank))
        return BAD("branch %u input %u is %s, the case passes %s", k, i, tstr(t).s, tstr(IN(i + 1)).s);
    }
    if (r->n_outputs != op->n_outputs)
      return BAD("branch %u returns %u values, the case has %u outputs", k, r->n_outputs, op->n_outputs);
    for (uint32_t i = 0; i < r->n_outputs; i++) {
      const ttp_tensor* t = &plan->tensors[r->outputs[i]];
      if (t->dtype != OUT(i)->dtype || !same_dims(t, OUT(i)->dims, (int)OUT(i)->rank))
        return BAD("branch %u output %u is %s, the case's is %s", k, i, tstr(t).s, tstr(OUT(i)).s);
    }
  }
  return NULL;
}

uint32_t ttp_op_region_count(const ttp_op* op) {
  if (op->code == TTP_OP_WHILE) return 2;
  if (op->code == TTP_OP_CASE) return op->attrs[TTP_ATTR_CASE_BRANCHES].n_ints;
  return 0;
}

uint32_t ttp_op_region(const ttp_op* op, uint32_t k) {
  if (op->code == TTP_OP_WHILE) return (uint32_t)op->attrs[k ? TTP_ATTR_WHILE_BODY : TTP_ATTR_WHILE_COND].ints[0];
  return (uint32_t)op->attrs[TTP_ATTR_CASE_BRANCHES].ints[k];
}

/* The region an op belongs to; -1 for the program's own ops. */
static int64_t region_of(const ttp_plan* plan, uint32_t i) {
  for (uint32_t r = 0; r < plan->n_regions; r++)
    if (i >= plan->regions[r].first_op && i - plan->regions[r].first_op < plan->regions[r].n_ops) return r;
  return -1;
}

/* Regions form a tree run from the program's ops: an op of region r names
   only regions after r (so no region runs itself, directly or not), and
   every region is named by exactly one op (so each has one place in the
   tree, where the executor plans its buffers). */
static ttp_status* verify_region_tree(const ttp_plan* plan) {
  if (!plan->n_regions) return NULL;
  uint32_t* named = calloc(plan->n_regions, sizeof *named);
  if (!named) return ttp_make_status(TTP_OUT_OF_MEMORY, "out of memory verifying regions");
  ttp_status* st = NULL;
  int64_t here = -1; /* the region of op i: the program's ops come first, then each region's in order */
  for (uint32_t i = 0; i < plan->n_ops && !st; i++) {
    while (here + 1 < (int64_t)plan->n_regions && i >= plan->regions[here + 1].first_op) here++;
    const ttp_op* op = &plan->ops[i];
    for (uint32_t k = 0; k < ttp_op_region_count(op) && !st; k++) {
      int64_t runs = ttp_op_region(op, k);
      if (runs <= here)
        st = BAD("operation %u '%s' of region %" PRId64 " runs region %" PRId64 ", which is not after it "
                 "(recursion, or regions out of order)", i, ttp_op_defs[op->code].name, here, runs);
      else if (named[runs]++)
        st = BAD("region %" PRId64 " is run by two operations; each region belongs to exactly one", runs);
    }
  }
  for (uint32_t r = 0; r < plan->n_regions && !st; r++)
    if (!named[r]) st = BAD("region %u is run by no operation", r);
  free(named);
  return st;
}

/* ---- the plan ---------------------------------------------------------------------- */

/* A switch over the enum, without a default: an op added to the registry
   without a rule here is a compiler warning (-Wswitch), and is refused at
   load rather than handed to a kernel unverified. */
static ttp_status* verify_op(const ttp_plan* plan, const ttp_op* op) {
  switch ((enum ttp_op_code)op->code) {
    case TTP_OP_NEG:
    case TTP_OP_ABS:
    case TTP_OP_SIGN:
    case TTP_OP_EXP:
    case TTP_OP_LOG:
    case TTP_OP_SQRT:
    case TTP_OP_RSQRT:
    case TTP_OP_TANH:
    case TTP_OP_SIGMOID:
    case TTP_OP_SIN:
    case TTP_OP_COS:
    case TTP_OP_FLOOR:
    case TTP_OP_CEIL:
    case TTP_OP_LOGICAL_NOT:
    case TTP_OP_ERF:
    case TTP_OP_ERFC:
    case TTP_OP_RELU:
    case TTP_OP_EXPM1:
    case TTP_OP_LOG1P:
    case TTP_OP_ROUND:
    case TTP_OP_ROUND_AFZ:
    case TTP_OP_TO_LAYOUT:
    case TTP_OP_TO_MEMORY_CONFIG:
      return verify_same_as_input(plan, op);
    case TTP_OP_ADD:
    case TTP_OP_SUBTRACT:
    case TTP_OP_MULTIPLY:
    case TTP_OP_DIVIDE:
    case TTP_OP_REMAINDER:
    case TTP_OP_MAXIMUM:
    case TTP_OP_MINIMUM:
    case TTP_OP_POW:
    case TTP_OP_LOGICAL_AND:
    case TTP_OP_LOGICAL_OR:
    case TTP_OP_LOGICAL_XOR:
    case TTP_OP_SHIFT_LEFT:
    case TTP_OP_SHIFT_RIGHT_LOGICAL:
    case TTP_OP_SHIFT_RIGHT_ARITHMETIC:
    case TTP_OP_EQ:
    case TTP_OP_NE:
    case TTP_OP_LT:
    case TTP_OP_LE:
    case TTP_OP_GT:
    case TTP_OP_GE:
      return verify_binary(plan, op);
    case TTP_OP_WHERE: return verify_where(plan, op);
    case TTP_OP_TYPECAST: return verify_typecast(plan, op);
    case TTP_OP_MATMUL: return verify_matmul(plan, op);
    case TTP_OP_RESHAPE: return verify_reshape(plan, op);
    case TTP_OP_PERMUTE: return verify_permute(plan, op);
    case TTP_OP_CONCAT: return verify_concat(plan, op);
    case TTP_OP_SLICE: return verify_slice(plan, op);
    case TTP_OP_REPEAT: return verify_repeat(plan, op);
    case TTP_OP_SUM:
    case TTP_OP_MAX:
    case TTP_OP_MIN:
    case TTP_OP_PROD:
      return verify_reduce(plan, op);
    case TTP_OP_ARANGE: return verify_arange(plan, op);
    case TTP_OP_GELU: return verify_gelu(plan, op);
    case TTP_OP_SOFTMAX: return verify_softmax(plan, op);
    case TTP_OP_LAYER_NORM: return verify_layer_norm(plan, op);
    case TTP_OP_BATCH_NORM: return verify_batch_norm(plan, op);
    case TTP_OP_LINEAR: return verify_linear(plan, op);
    case TTP_OP_CONV2D: return verify_conv2d(plan, op);
    case TTP_OP_MAX_POOL2D:
    case TTP_OP_AVG_POOL2D:
    case TTP_OP_SUM_POOL2D:
      return verify_pool(plan, op);
    case TTP_OP_PAD: return verify_pad(plan, op);
    case TTP_OP_EMBEDDING: return verify_embedding(plan, op);
    case TTP_OP_ARGMAX:
    case TTP_OP_ARGMIN:
      return verify_arg(plan, op);
    case TTP_OP_CUMSUM:
    case TTP_OP_CUMPROD:
      return verify_cumsum(plan, op);
    case TTP_OP_ISFINITE: return verify_to_bool(plan, op);
    case TTP_OP_REVERSE: return verify_reverse(plan, op);
    case TTP_OP_SORT: return verify_sort(plan, op);
    case TTP_OP_TOP_K: return verify_top_k(plan, op);
    case TTP_OP_CONV_TRANSPOSE2D: return verify_conv_transpose2d(plan, op);
    case TTP_OP_GATHER: return verify_gather(plan, op);
    case TTP_OP_UPDATE_SLICE: return verify_update_slice(plan, op);
    case TTP_OP_SCATTER: return verify_scatter(plan, op);
    case TTP_OP_WHILE: return verify_while(plan, op);
    case TTP_OP_CASE: return verify_case(plan, op);
    case TTP_OP_BITCAST: return verify_bitcast(plan, op);
    case TTP_OP_COUNT: break;
  }
  return ttp_make_status(TTP_UNSUPPORTED, "this runtime (%s) cannot verify the op; upgrade ttpack",
                         TTP_RUNTIME_VERSION);
}

ttp_status* ttp_verify_ops(const ttp_plan* plan) {
  for (uint32_t i = 0; i < plan->n_ops; i++) {
    const ttp_op* op = &plan->ops[i];
    ttp_status* st = verify_op(plan, op);
    if (st) {
      int64_t r = region_of(plan, i);
      const char* name = ttp_op_defs[op->code].name;
      const char* loc = op->location[0] ? op->location : "unknown location";
      if (r < 0) return ttp_annotate(st, "operation %u '%s' (%s)", i, name, loc);
      return ttp_annotate(st, "region %" PRId64 " operation %u '%s' (%s)", r, i - plan->regions[r].first_op, name,
                          loc);
    }
  }
  return verify_region_tree(plan);
}
