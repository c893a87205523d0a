/* CPU kernels for every op in the registry (ttpack/compiler/ops.py), whose
 * numpy references define the semantics matched here bit for bit where the
 * reference is exact (integer ops, copies, comparisons) and to rounding
 * where it is not (transcendentals, float sums and matmuls).
 *
 * Kernels check nothing. Archives are untrusted, but a plan reaches a device
 * only after the op verifier (op_verify.c) has passed it, so every count,
 * shape relationship and attribute range a run function relies on already
 * holds; all the device asks here is whether a kernel exists for an op on its
 * element types. run never fails, allocates nothing and touches no buffer
 * of a tensor with no elements (such buffers may be NULL).
 *
 * Numerical choices: float32 sums accumulate in double, so their results are
 * at least as accurate as numpy's pairwise sums. The NN ops' references
 * compute in float64: pools, norms, softmax and the activations do too (one
 * rounding at the end, or two for softmax), while linear and conv2d, the hot
 * paths, and matmul accumulate in float32 (two-level sums, gemm.c) like
 * float32 BLAS; cumsum is float32
 * as its reference. int32 arithmetic wraps (computed in uint32_t). bool is one byte, 0 or 1;
 * ops that compute bools (logical ops, comparisons, casts, bool max/min) read
 * any nonzero byte as true and write 0 or 1, data movement copies bytes.
 */
#include "kernels.h"

#include "gemm.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

/* ---- element types ---------------------------------------------------------- */

/* Row index into the per-op kernel tables: the element types of the
   compute view (cpu_device.c), where bfloat16 tensors are float32. */
enum { F32 = 0, I32 = 1, BOOL = 2, N_DTYPES = 3 };

static int dtype_index(int dtype) {
  switch (dtype) {
    case TTP_DTYPE_FLOAT32: return F32;
    case TTP_DTYPE_INT32: return I32;
    case TTP_DTYPE_BOOL: return BOOL;
    default: return -1;
  }
}

static size_t elem_size(int dtype) { return dtype == TTP_DTYPE_BOOL ? 1 : 4; }

/* ---- scalar semantics ----------------------------------------------------------- */

/* Signed overflow is undefined in C, so int32 arithmetic runs on uint32_t
   and converts back through the bit pattern (memcpy: no implementation-
   defined narrowing; compiles to nothing). */
static inline int32_t i32_bits(uint32_t u) {
  int32_t r;
  memcpy(&r, &u, sizeof r);
  return r;
}
static inline int64_t i64_bits(uint64_t u) {
  int64_t r;
  memcpy(&r, &u, sizeof r);
  return r;
}
static inline int32_t i32_add(int32_t a, int32_t b) { return i32_bits((uint32_t)a + (uint32_t)b); }
static inline int32_t i32_sub(int32_t a, int32_t b) { return i32_bits((uint32_t)a - (uint32_t)b); }
static inline int32_t i32_mul(int32_t a, int32_t b) { return i32_bits((uint32_t)a * (uint32_t)b); }
static inline int32_t i32_neg(int32_t a) { return i32_bits(0u - (uint32_t)a); }
static inline int32_t i32_abs(int32_t a) { return a < 0 ? i32_neg(a) : a; }
static inline int32_t i32_sign(int32_t a) { return (a > 0) - (a < 0); }

/* XLA semantics: x/0 = -1; INT_MIN/-1 wraps to INT_MIN (= -INT_MIN). */
static inline int32_t i32_div(int32_t a, int32_t b) {
  if (b == 0) return -1;
  if (b == -1) return i32_neg(a);
  return a / b;
}
/* x%0 = x; x%-1 is 0, but INT_MIN % -1 traps on x86, so never evaluate it. */
static inline int32_t i32_rem(int32_t a, int32_t b) {
  if (b == 0) return a;
  if (b == -1) return 0;
  return a % b;
}
static inline int32_t i32_pow(int32_t a, int32_t b) {
  if (b < 0) return a == 1 ? 1 : a == -1 ? ((b & 1) ? -1 : 1) : 0;
  uint32_t base = (uint32_t)a, e = (uint32_t)b, r = 1;
  for (; e; e >>= 1) {
    if (e & 1) r *= base;
    base *= base;
  }
  return i32_bits(r);
}
/* Shift amounts outside [0, 32) saturate, as in XLA (C leaves them undefined). */
static inline int32_t i32_shl(int32_t a, int32_t b) {
  return (b < 0 || b >= 32) ? 0 : i32_bits((uint32_t)a << b);
}
static inline int32_t i32_shr_logical(int32_t a, int32_t b) {
  return (b < 0 || b >= 32) ? 0 : i32_bits((uint32_t)a >> b);
}
/* >> of a negative int is implementation-defined; shifting ~a (>= 0) is not. */
static inline int32_t i32_shr_arith(int32_t a, int32_t b) {
  if (b < 0 || b >= 32) return a < 0 ? -1 : 0;
  return a < 0 ? ~(~a >> b) : a >> b;
}

/* np.maximum / np.minimum propagate NaN from either side. */
static inline float f32_max(float a, float b) { return (a > b || isnan(a)) ? a : b; }
static inline float f32_min(float a, float b) { return (a < b || isnan(a)) ? a : b; }
/* XLA semantics: sign(+-0) keeps the zero's sign, NaN stays NaN. */
static inline float f32_sign(float x) { return x > 0 ? 1.0f : x < 0 ? -1.0f : x; }

/* Truncate, saturate, NaN -> 0 (out-of-range float->int casts are undefined
   in C). Large positives give INT32_MAX, as ops.py documents. */
static inline int32_t f64_to_i32(double x) {
  if (isnan(x)) return 0;
  if (x >= 2147483648.0) return INT32_MAX;
  if (x <= -2147483648.0) return INT32_MIN;
  return (int32_t)x;
}
static inline int32_t f32_to_i32(float x) { return f64_to_i32(x); }

/* Round half to even (np.rint, StableHLO round_nearest_even) without
   depending on the floating-point environment's rounding mode: roundf
   rounds ties away from zero, and a tie (x - trunc(x) is exact below 2^23,
   where ties exist) goes to twice the rounded half instead. Signed zeros,
   infinities and NaN come out as rint's. */
static inline float f32_round_even(float x) {
  if (fabsf(x - truncf(x)) == 0.5f) return 2.0f * roundf(x * 0.5f);
  return roundf(x);
}

/* ---- contiguous maps: unary ops and typecast ----------------------------------- */

typedef void (*map_fn)(void* out, const void* in, int64_t n);

#define MAP_FN(NAME, TI, TO, EXPR)                                   \
  static void NAME(void* out_, const void* in_, int64_t n) {         \
    TO* restrict o = out_;                                           \
    const TI* restrict a = in_;                                      \
    for (int64_t i = 0; i < n; i++) {                                \
      TI x = a[i];                                                   \
      o[i] = (EXPR);                                                 \
    }                                                                \
  }

MAP_FN(neg_f32, float, float, -x)
MAP_FN(neg_i32, int32_t, int32_t, i32_neg(x))
MAP_FN(abs_f32, float, float, fabsf(x))
MAP_FN(abs_i32, int32_t, int32_t, i32_abs(x))
MAP_FN(sign_f32, float, float, f32_sign(x))
MAP_FN(sign_i32, int32_t, int32_t, i32_sign(x))
MAP_FN(exp_f32, float, float, expf(x))
MAP_FN(log_f32, float, float, logf(x))
MAP_FN(sqrt_f32, float, float, sqrtf(x))
MAP_FN(rsqrt_f32, float, float, 1.0f / sqrtf(x))
MAP_FN(tanh_f32, float, float, tanhf(x))
/* Same float32 operation order as the reference 1.0 / (1.0 + np.exp(-x)). */
MAP_FN(sigmoid_f32, float, float, 1.0f / (1.0f + expf(-x)))
MAP_FN(sin_f32, float, float, sinf(x))
MAP_FN(cos_f32, float, float, cosf(x))
MAP_FN(floor_f32, float, float, floorf(x))
MAP_FN(ceil_f32, float, float, ceilf(x))
MAP_FN(not_i32, int32_t, int32_t, ~x)
MAP_FN(not_b8, uint8_t, uint8_t, !x)
/* The reference rounds math.erf of the float64 value; relu is np.maximum(x, 0)
   (NaN stays NaN, -0 becomes +0). */
MAP_FN(erf_f32, float, float, (float)erf((double)x))
MAP_FN(erfc_f32, float, float, (float)erfc((double)x))
MAP_FN(relu_f32, float, float, f32_max(x, 0.0f))
MAP_FN(relu_i32, int32_t, int32_t, x > 0 ? x : 0)
/* expm1 and log1p in double, rounded once: the float32 result is the
   correctly rounded one but for rare double-rounding ties. */
MAP_FN(expm1_f32, float, float, (float)expm1((double)x))
MAP_FN(log1p_f32, float, float, (float)log1p((double)x))
MAP_FN(round_f32, float, float, f32_round_even(x))
MAP_FN(round_afz_f32, float, float, roundf(x))
MAP_FN(isfinite_f32, float, uint8_t, isfinite(x) ? 1 : 0)

/* typecast[from][to] */
MAP_FN(cast_f32_f32, float, float, x)
MAP_FN(cast_f32_i32, float, int32_t, f32_to_i32(x))
MAP_FN(cast_f32_b8, float, uint8_t, x != 0) /* NaN != 0, as in numpy */
MAP_FN(cast_i32_f32, int32_t, float, (float)x)
MAP_FN(cast_i32_i32, int32_t, int32_t, x)
MAP_FN(cast_i32_b8, int32_t, uint8_t, x != 0)
MAP_FN(cast_b8_f32, uint8_t, float, x ? 1.0f : 0.0f)
MAP_FN(cast_b8_i32, uint8_t, int32_t, x != 0)
MAP_FN(cast_b8_b8, uint8_t, uint8_t, x != 0)

static const map_fn unary_fns[TTP_OP_COUNT][N_DTYPES] = {
    [TTP_OP_NEG] = {neg_f32, neg_i32, NULL},
    [TTP_OP_ABS] = {abs_f32, abs_i32, NULL},
    [TTP_OP_SIGN] = {sign_f32, sign_i32, NULL},
    [TTP_OP_EXP] = {exp_f32, NULL, NULL},
    [TTP_OP_LOG] = {log_f32, NULL, NULL},
    [TTP_OP_SQRT] = {sqrt_f32, NULL, NULL},
    [TTP_OP_RSQRT] = {rsqrt_f32, NULL, NULL},
    [TTP_OP_TANH] = {tanh_f32, NULL, NULL},
    [TTP_OP_SIGMOID] = {sigmoid_f32, NULL, NULL},
    [TTP_OP_SIN] = {sin_f32, NULL, NULL},
    [TTP_OP_COS] = {cos_f32, NULL, NULL},
    [TTP_OP_FLOOR] = {floor_f32, NULL, NULL},
    [TTP_OP_CEIL] = {ceil_f32, NULL, NULL},
    [TTP_OP_LOGICAL_NOT] = {NULL, not_i32, not_b8},
    [TTP_OP_ERF] = {erf_f32, NULL, NULL},
    [TTP_OP_ERFC] = {erfc_f32, NULL, NULL},
    [TTP_OP_RELU] = {relu_f32, relu_i32, NULL},
    [TTP_OP_EXPM1] = {expm1_f32, NULL, NULL},
    [TTP_OP_LOG1P] = {log1p_f32, NULL, NULL},
    [TTP_OP_ROUND] = {round_f32, NULL, NULL},
    [TTP_OP_ROUND_AFZ] = {round_afz_f32, NULL, NULL},
    [TTP_OP_ISFINITE] = {isfinite_f32, NULL, NULL},
};

static const map_fn cast_fns[N_DTYPES][N_DTYPES] = {
    [F32] = {cast_f32_f32, cast_f32_i32, cast_f32_b8},
    [I32] = {cast_i32_f32, cast_i32_i32, cast_i32_b8},
    [BOOL] = {cast_b8_f32, cast_b8_i32, cast_b8_b8},
};

/* ---- strided iteration ---------------------------------------------------------- */

#define MAX_INPUTS 3 /* where */

/* Walks the multi-indices of `rank` dims in row-major order, tracking the
   element offset they map to under `stride`. Offsets stay integers and become
   pointers only for indices that exist: forming a pointer outside a buffer,
   even without reading it, is undefined. */
typedef struct odometer {
  int rank;
  const int64_t *shape, *stride;
  int64_t idx[TTP_MAX_RANK];
  int64_t off;
} odometer;

static void odo_init(odometer* o, int rank, const int64_t* shape, const int64_t* stride) {
  o->rank = rank;
  o->shape = shape;
  o->stride = stride;
  o->off = 0;
  memset(o->idx, 0, sizeof o->idx);
}

static bool odo_next(odometer* o) {
  for (int d = o->rank - 1; d >= 0; d--) {
    if (++o->idx[d] < o->shape[d]) {
      o->off += o->stride[d];
      return true;
    }
    o->idx[d] = 0;
    o->off -= o->stride[d] * (o->shape[d] - 1);
  }
  return false;
}

/* Broadcasting, where, permute, slice and repeat all read their inputs
   through per-dim element strides (0 along broadcast dims) while writing a
   dense output: an odometer per input walks all dims but the last, and a row
   function handles the last. Merging dims first makes that row as long as
   possible, so the common cases become one long contiguous loop. */
typedef struct strided {
  int rank; /* >= 1 once simplified */
  int n_in;
  int64_t shape[TTP_MAX_RANK];                 /* the output's dims */
  int64_t stride[MAX_INPUTS][TTP_MAX_RANK];    /* input strides, in elements */
} strided;

/* One output row of n elements; in[i] advances by step[i] elements. */
typedef void (*row_fn)(void* out, const void* const* in, const int64_t* step, int64_t n);

/* Drops size-1 dims and merges a dim into its outer neighbour wherever every
   input walks the pair as one dim. The dense output always does. */
static void strided_simplify(strided* s) {
  int r = 0;
  for (int d = 0; d < s->rank; d++) {
    if (s->shape[d] == 1) continue;
    bool merge = r > 0;
    for (int i = 0; merge && i < s->n_in; i++)
      merge = s->stride[i][r - 1] == s->stride[i][d] * s->shape[d];
    if (merge) {
      s->shape[r - 1] *= s->shape[d];
      for (int i = 0; i < s->n_in; i++) s->stride[i][r - 1] = s->stride[i][d];
      continue;
    }
    s->shape[r] = s->shape[d];
    for (int i = 0; i < s->n_in; i++) s->stride[i][r] = s->stride[i][d];
    r++;
  }
  if (r == 0) { /* a single element */
    s->shape[0] = 1;
    for (int i = 0; i < s->n_in; i++) s->stride[i][0] = 0;
    r = 1;
  }
  s->rank = r;
}

/* Element strides for reading t's first t_rank dims, right-aligned against
   out_rank iteration dims, when the innermost of them steps `inner` elements;
   0 along dims t lacks or has as 1 (broadcast). Callers ensure the output
   has elements, which bounds every product here. */
static void broadcast_strides(const ttp_tensor* t, int t_rank, int out_rank, int64_t inner,
                              int64_t* stride) {
  int64_t st = inner;
  for (int d = out_rank - 1; d >= 0; d--) {
    int k = d - (out_rank - t_rank);
    if (k < 0 || t->dims[k] == 1) {
      stride[d] = 0;
    } else {
      stride[d] = st;
      st *= t->dims[k];
    }
  }
}

/* Requires out to have at least one element. */
static void strided_broadcast(strided* s, const ttp_tensor* out, int n_in, const ttp_tensor* const* in) {
  s->rank = (int)out->rank;
  s->n_in = n_in;
  memcpy(s->shape, out->dims, sizeof(int64_t) * out->rank);
  for (int i = 0; i < n_in; i++)
    broadcast_strides(in[i], (int)in[i]->rank, (int)out->rank, 1, s->stride[i]);
  strided_simplify(s);
}

/* Dense row-major strides of t; only meaningful when t has elements. */
static void dense_strides(const ttp_tensor* t, int64_t* stride) {
  int64_t st = 1;
  for (int d = (int)t->rank - 1; d >= 0; d--) {
    stride[d] = st;
    st *= t->dims[d];
  }
}

static void strided_run(const strided* s, row_fn fn, void* out, size_t out_size,
                        const void* const* in, const size_t* in_size) {
  const int outer = s->rank - 1;
  const int64_t n = s->shape[outer];
  odometer it[MAX_INPUTS];
  int64_t step[MAX_INPUTS], rows = 1;
  for (int d = 0; d < outer; d++) rows *= s->shape[d];
  for (int i = 0; i < s->n_in; i++) {
    odo_init(&it[i], outer, s->shape, s->stride[i]);
    step[i] = s->stride[i][outer];
  }
  char* o = out;
  for (int64_t row = 0; row < rows; row++, o += n * (int64_t)out_size) {
    const void* p[MAX_INPUTS];
    for (int i = 0; i < s->n_in; i++) {
      p[i] = (const char*)in[i] + it[i].off * (int64_t)in_size[i];
      odo_next(&it[i]);
    }
    fn(o, p, step, n);
  }
}

/* ---- broadcasting binary rows ------------------------------------------------------- */

/* After strided_simplify every inner step is 0 or 1; the first three cases
   are the plain loops compilers vectorize. */
#define BINARY_ROW(NAME, TI, TO, EXPR)                                                     \
  static void NAME(void* out_, const void* const* in, const int64_t* st, int64_t n) {    \
    TO* restrict o = out_;                                                                \
    const TI* a = in[0];                                                                  \
    const TI* b = in[1];                                                                  \
    if (st[0] == 1 && st[1] == 1) {                                                       \
      for (int64_t i = 0; i < n; i++) {                                                   \
        TI x = a[i], y = b[i];                                                            \
        o[i] = (EXPR);                                                                    \
      }                                                                                   \
    } else if (st[0] == 1 && st[1] == 0) {                                                \
      const TI y = b[0];                                                                  \
      for (int64_t i = 0; i < n; i++) {                                                   \
        TI x = a[i];                                                                      \
        o[i] = (EXPR);                                                                    \
      }                                                                                   \
    } else if (st[0] == 0 && st[1] == 1) {                                                \
      const TI x = a[0];                                                                  \
      for (int64_t i = 0; i < n; i++) {                                                   \
        TI y = b[i];                                                                      \
        o[i] = (EXPR);                                                                    \
      }                                                                                   \
    } else {                                                                              \
      for (int64_t i = 0; i < n; i++) {                                                   \
        TI x = a[i * st[0]], y = b[i * st[1]];                                            \
        o[i] = (EXPR);                                                                    \
      }                                                                                   \
    }                                                                                     \
  }

BINARY_ROW(add_f32, float, float, x + y)
BINARY_ROW(add_i32, int32_t, int32_t, i32_add(x, y))
BINARY_ROW(sub_f32, float, float, x - y)
BINARY_ROW(sub_i32, int32_t, int32_t, i32_sub(x, y))
BINARY_ROW(mul_f32, float, float, x * y)
BINARY_ROW(mul_i32, int32_t, int32_t, i32_mul(x, y))
BINARY_ROW(div_f32, float, float, x / y)
BINARY_ROW(div_i32, int32_t, int32_t, i32_div(x, y))
BINARY_ROW(rem_f32, float, float, fmodf(x, y))
BINARY_ROW(rem_i32, int32_t, int32_t, i32_rem(x, y))
BINARY_ROW(max_f32, float, float, f32_max(x, y))
BINARY_ROW(max_i32, int32_t, int32_t, x > y ? x : y)
BINARY_ROW(max_b8, uint8_t, uint8_t, (x != 0) | (y != 0))
BINARY_ROW(min_f32, float, float, f32_min(x, y))
BINARY_ROW(min_i32, int32_t, int32_t, x < y ? x : y)
BINARY_ROW(min_b8, uint8_t, uint8_t, (x != 0) & (y != 0))
/* C99 powf; numpy differs only in corners such as (-inf)**0.5 (NaN, powf: inf). */
BINARY_ROW(pow_f32, float, float, powf(x, y))
BINARY_ROW(pow_i32, int32_t, int32_t, i32_pow(x, y))
BINARY_ROW(and_i32, int32_t, int32_t, x & y)
BINARY_ROW(and_b8, uint8_t, uint8_t, (x != 0) & (y != 0))
BINARY_ROW(or_i32, int32_t, int32_t, x | y)
BINARY_ROW(or_b8, uint8_t, uint8_t, (x != 0) | (y != 0))
BINARY_ROW(xor_i32, int32_t, int32_t, x ^ y)
BINARY_ROW(xor_b8, uint8_t, uint8_t, (x != 0) ^ (y != 0))
BINARY_ROW(shl_i32, int32_t, int32_t, i32_shl(x, y))
BINARY_ROW(shrl_i32, int32_t, int32_t, i32_shr_logical(x, y))
BINARY_ROW(shra_i32, int32_t, int32_t, i32_shr_arith(x, y))

#define COMPARE_ROWS(OPNAME, OP)                          \
  BINARY_ROW(OPNAME##_f32, float, uint8_t, x OP y)        \
  BINARY_ROW(OPNAME##_i32, int32_t, uint8_t, x OP y)      \
  BINARY_ROW(OPNAME##_b8, uint8_t, uint8_t, (x != 0) OP (y != 0))
COMPARE_ROWS(eq, ==)
COMPARE_ROWS(ne, !=)
COMPARE_ROWS(lt, <)
COMPARE_ROWS(le, <=)
COMPARE_ROWS(gt, >)
COMPARE_ROWS(ge, >=)

static const row_fn binary_fns[TTP_OP_COUNT][N_DTYPES] = {
    [TTP_OP_ADD] = {add_f32, add_i32, NULL},
    [TTP_OP_SUBTRACT] = {sub_f32, sub_i32, NULL},
    [TTP_OP_MULTIPLY] = {mul_f32, mul_i32, NULL},
    [TTP_OP_DIVIDE] = {div_f32, div_i32, NULL},
    [TTP_OP_REMAINDER] = {rem_f32, rem_i32, NULL},
    [TTP_OP_MAXIMUM] = {max_f32, max_i32, max_b8},
    [TTP_OP_MINIMUM] = {min_f32, min_i32, min_b8},
    [TTP_OP_POW] = {pow_f32, pow_i32, NULL},
    [TTP_OP_LOGICAL_AND] = {NULL, and_i32, and_b8},
    [TTP_OP_LOGICAL_OR] = {NULL, or_i32, or_b8},
    [TTP_OP_LOGICAL_XOR] = {NULL, xor_i32, xor_b8},
    [TTP_OP_SHIFT_LEFT] = {NULL, shl_i32, NULL},
    [TTP_OP_SHIFT_RIGHT_LOGICAL] = {NULL, shrl_i32, NULL},
    [TTP_OP_SHIFT_RIGHT_ARITHMETIC] = {NULL, shra_i32, NULL},
    [TTP_OP_EQ] = {eq_f32, eq_i32, eq_b8},
    [TTP_OP_NE] = {ne_f32, ne_i32, ne_b8},
    [TTP_OP_LT] = {lt_f32, lt_i32, lt_b8},
    [TTP_OP_LE] = {le_f32, le_i32, le_b8},
    [TTP_OP_GT] = {gt_f32, gt_i32, gt_b8},
    [TTP_OP_GE] = {ge_f32, ge_i32, ge_b8},
};

/* where(cond, a, b) and the strided copies move elements without looking at
   them, so they are typed by size only; memcpy of a constant size is one
   load/store and keeps float bits (NaN payloads included) intact. */
#define WHERE_ROW(NAME, SIZE)                                                          \
  static void NAME(void* out_, const void* const* in, const int64_t* st, int64_t n) { \
    char* o = out_;                                                                    \
    const uint8_t* c = in[0];                                                          \
    const char* a = in[1];                                                             \
    const char* b = in[2];                                                             \
    for (int64_t i = 0; i < n; i++) {                                                  \
      const char* src = c[i * st[0]] ? a + i * st[1] * SIZE : b + i * st[2] * SIZE;    \
      memcpy(o + i * SIZE, src, SIZE);                                                 \
    }                                                                                  \
  }
WHERE_ROW(where_row4, 4)
WHERE_ROW(where_row1, 1)

#define COPY_ROW(NAME, SIZE)                                                           \
  static void NAME(void* out_, const void* const* in, const int64_t* st, int64_t n) { \
    char* o = out_;                                                                    \
    const char* a = in[0];                                                             \
    if (st[0] == 1) {                                                                  \
      memcpy(o, a, (size_t)n * SIZE);                                                  \
    } else {                                                                           \
      for (int64_t i = 0; i < n; i++) memcpy(o + i * SIZE, a + i * st[0] * SIZE, SIZE); \
    }                                                                                  \
  }
COPY_ROW(copy_row4, 4)
COPY_ROW(copy_row1, 1)

static row_fn copy_row(int dtype) { return elem_size(dtype) == 4 ? copy_row4 : copy_row1; }

/* ---- kernel selection -------------------------------------------------------------- */

#define IN(k) (&plan->tensors[op->inputs[k]])
#define OUT(k) (&plan->tensors[op->outputs[k]])

/* Ops that pick their function from a table by the element type of input 0:
   whether the table has one. */
static bool has_unary(const ttp_plan* plan, const ttp_op* op) {
  const int di = dtype_index(IN(0)->dtype);
  return di >= 0 && unary_fns[op->code][di];
}
static bool has_binary(const ttp_plan* plan, const ttp_op* op) {
  const int di = dtype_index(IN(0)->dtype);
  return di >= 0 && binary_fns[op->code][di];
}

/* ---- elementwise ops ----------------------------------------------------------------- */

static void run_unary(const ttp_plan* plan, const ttp_op* op, void* const* data) {
  const ttp_tensor* out = OUT(0);
  if (out->numel == 0) return;
  unary_fns[op->code][dtype_index(IN(0)->dtype)](data[op->outputs[0]], data[op->inputs[0]], out->numel);
}

static void run_broadcast(const ttp_plan* plan, const ttp_op* op, void* const* data, row_fn fn) {
  const ttp_tensor* out = OUT(0);
  if (out->numel == 0) return;
  const ttp_tensor* ins[MAX_INPUTS];
  const void* ptrs[MAX_INPUTS];
  size_t sizes[MAX_INPUTS];
  for (uint32_t k = 0; k < op->n_inputs; k++) {
    ins[k] = IN(k);
    ptrs[k] = data[op->inputs[k]];
    sizes[k] = elem_size(ins[k]->dtype);
  }
  strided s;
  strided_broadcast(&s, out, (int)op->n_inputs, ins);
  strided_run(&s, fn, data[op->outputs[0]], elem_size(out->dtype), ptrs, sizes);
}

static void run_binary(const ttp_plan* plan, const ttp_op* op, void* const* data) {
  run_broadcast(plan, op, data, binary_fns[op->code][dtype_index(IN(0)->dtype)]);
}

static void run_where(const ttp_plan* plan, const ttp_op* op, void* const* data) {
  run_broadcast(plan, op, data, elem_size(IN(1)->dtype) == 4 ? where_row4 : where_row1);
}

static void run_typecast(const ttp_plan* plan, const ttp_op* op, void* const* data) {
  const ttp_tensor* out = OUT(0);
  if (out->numel == 0) return;
  cast_fns[dtype_index(IN(0)->dtype)][dtype_index(out->dtype)](data[op->outputs[0]], data[op->inputs[0]],
                                                               out->numel);
}

/* ---- matmul ---------------------------------------------------------------------------- */

/* float32 goes through the GEMM driver (gemm.h). int32 matmuls wrap
   (uint32_t sums) in an i-k-j loop whose accumulators, TILE output columns
   at a time, stay on the stack; rows are split into tasks for the device's
   threads. */
#define TILE 256
#define MATMUL_ROWS 16 /* int32 rows per task */

typedef struct matmul_i32_job {
  const ttp_gemm_batches* batches;
  int64_t M, K, N, row_tasks;
  const int32_t *a, *b;
  int32_t* c;
} matmul_i32_job;

static void matmul_i32_task(void* arg, int64_t task, int thread) {
  (void)thread;
  const matmul_i32_job* j = arg;
  const int64_t batch = task / j->row_tasks, i0 = task % j->row_tasks * MATMUL_ROWS;
  const int64_t M = j->M - i0 < MATMUL_ROWS ? j->M - i0 : MATMUL_ROWS, K = j->K, N = j->N;
  const int32_t* a = j->a + ttp_gemm_batch_offset(j->batches, j->batches->a_stride, batch) + i0 * K;
  const int32_t* b = j->b + ttp_gemm_batch_offset(j->batches, j->batches->b_stride, batch);
  int32_t* restrict c = j->c + (batch * j->M + i0) * N;
  uint32_t acc[TILE];
  for (int64_t i = 0; i < M; i++) {
    for (int64_t j0 = 0; j0 < N; j0 += TILE) {
      const int64_t nj = N - j0 < TILE ? N - j0 : TILE;
      for (int64_t jj = 0; jj < nj; jj++) acc[jj] = 0;
      for (int64_t k = 0; k < K; k++) {
        const uint32_t aik = (uint32_t)a[i * K + k];
        const int32_t* brow = b + k * N + j0;
        for (int64_t jj = 0; jj < nj; jj++) acc[jj] += aik * (uint32_t)brow[jj];
      }
      for (int64_t jj = 0; jj < nj; jj++) c[i * N + j0 + jj] = i32_bits(acc[jj]);
    }
  }
}

static void exec_matmul(const ttp_plan* plan, const ttp_op* op, void* const* data, const void* state,
                        const ttp_cpu_ctx* ctx) {
  const ttp_tensor *a = IN(0), *b = IN(1), *out = OUT(0);
  if (out->numel == 0) return;
  const int r = (int)out->rank - 2;
  const int64_t M = out->dims[r], N = out->dims[r + 1], K = a->dims[a->rank - 1];
  if (K == 0) { /* a and b are empty (possibly NULL); the sum over k is 0 */
    memset(data[op->outputs[0]], 0, out->nbytes);
    return;
  }
  int64_t sa[TTP_MAX_RANK], sb[TTP_MAX_RANK];
  broadcast_strides(a, (int)a->rank - 2, r, M * K, sa);
  broadcast_strides(b, (int)b->rank - 2, r, K * N, sb);
  ttp_gemm_batches batches = {r, out->dims, sa, sb, out->numel / (M * N)};
  if (out->dtype == TTP_DTYPE_FLOAT32) {
    ttp_gemm_matmul(state, ctx, &batches, M, data[op->inputs[0]], data[op->inputs[1]], data[op->outputs[0]]);
    return;
  }
  matmul_i32_job j = {&batches, M, K, N, (M + MATMUL_ROWS - 1) / MATMUL_ROWS, data[op->inputs[0]],
                      data[op->inputs[1]], data[op->outputs[0]]};
  ttp_thread_pool_run(ctx->pool, batches.count * j.row_tasks, matmul_i32_task, &j);
}

/* ---- data movement ------------------------------------------------------------------------ */

/* Also to_layout and to_memory_config: the device computes on dense
   row-major tensors, so a change of layout, storage type or memory config
   is a copy here; what a lossy storage type does to the values the CPU
   device applies to every tensor it produces (cpu_device.c). */
static void run_reshape(const ttp_plan* plan, const ttp_op* op, void* const* data) {
  void* out = data[op->outputs[0]];
  const void* in = data[op->inputs[0]];
  if (OUT(0)->nbytes && out != in) memcpy(out, in, OUT(0)->nbytes);
}

static void run_permute(const ttp_plan* plan, const ttp_op* op, void* const* data) {
  const ttp_tensor *in = IN(0), *out = OUT(0);
  if (out->numel == 0) return;
  const int64_t* perm = op->attrs[TTP_ATTR_PERMUTE_PERM].ints;
  int64_t st[TTP_MAX_RANK];
  dense_strides(in, st);
  strided s = {.rank = (int)out->rank, .n_in = 1};
  for (int d = 0; d < s.rank; d++) {
    s.shape[d] = out->dims[d];
    s.stride[0][d] = st[perm[d]];
  }
  strided_simplify(&s);
  const void* src = data[op->inputs[0]];
  size_t size = elem_size(in->dtype);
  strided_run(&s, copy_row(in->dtype), data[op->outputs[0]], size, &src, &size);
}

static void run_concat(const ttp_plan* plan, const ttp_op* op, void* const* data) {
  const ttp_tensor* out = OUT(0);
  if (out->numel == 0) return;
  const int dim = (int)op->attrs[TTP_ATTR_CONCAT_DIM].ints[0];
  int64_t outer = 1, inner = (int64_t)elem_size(out->dtype);
  for (int d = 0; d < dim; d++) outer *= out->dims[d];
  for (int d = dim + 1; d < (int)out->rank; d++) inner *= out->dims[d];
  char* dst = data[op->outputs[0]];
  for (int64_t o = 0; o < outer; o++) {
    for (uint32_t k = 0; k < op->n_inputs; k++) {
      const int64_t chunk = IN(k)->dims[dim] * inner;
      if (chunk == 0) continue; /* empty input: its buffer may be NULL */
      memcpy(dst, (const char*)data[op->inputs[k]] + o * chunk, (size_t)chunk);
      dst += chunk;
    }
  }
}

static void run_slice(const ttp_plan* plan, const ttp_op* op, void* const* data) {
  const ttp_tensor *in = IN(0), *out = OUT(0);
  if (out->numel == 0) return;
  const int64_t* b = op->attrs[TTP_ATTR_SLICE_BEGINS].ints;
  const int64_t* s_ = op->attrs[TTP_ATTR_SLICE_STEPS].ints;
  int64_t st[TTP_MAX_RANK], base = 0;
  dense_strides(in, st);
  strided s = {.rank = (int)out->rank, .n_in = 1};
  for (int d = 0; d < s.rank; d++) {
    base += b[d] * st[d]; /* b < dims since every dim is nonempty */
    s.shape[d] = out->dims[d];
    /* A single-element dim may have a huge step; its stride is never used. */
    s.stride[0][d] = out->dims[d] == 1 ? 0 : st[d] * s_[d];
  }
  strided_simplify(&s);
  size_t size = elem_size(in->dtype);
  const void* src = (const char*)data[op->inputs[0]] + base * (int64_t)size;
  strided_run(&s, copy_row(in->dtype), data[op->outputs[0]], size, &src, &size);
}

static void run_repeat(const ttp_plan* plan, const ttp_op* op, void* const* data) {
  run_broadcast(plan, op, data, copy_row(IN(0)->dtype));
}

/* ---- reductions ---------------------------------------------------------------------------- */

/* The input seen as kept and reduced dims (size-1 dims dropped, adjacent
   dims of one kind merged); the output is dense over the kept dims. */
typedef struct reduce_layout {
  int64_t n_out;   /* output elements, > 0 */
  int64_t count;   /* input elements per output element */
  int n_kept, n_red;
  int64_t kshape[TTP_MAX_RANK], kstride[TTP_MAX_RANK];
  int64_t rshape[TTP_MAX_RANK], rstride[TTP_MAX_RANK];
  bool inner_reduced; /* the input's innermost dim is reduced (stride 1) */
} reduce_layout;

/* Two traversals, both reading the input's innermost dim contiguously:
   innermost dim reduced -> one accumulator per output, running along it;
   innermost dim kept -> TILE outputs' accumulators at once, adding one
   input row segment per reduced index. */
#define REDUCE_FN(NAME, T, ACC, INIT, COMBINE, STORE)                                     \
  static void NAME(const reduce_layout* L, const void* in_, void* out_) {                \
    const T* in = in_;                                                                   \
    T* restrict out = out_;                                                              \
    if (L->count == 0) {                                                                 \
      for (int64_t o = 0; o < L->n_out; o++) out[o] = STORE(INIT);                       \
      return;                                                                            \
    }                                                                                    \
    odometer ko, ro;                                                                     \
    if (L->inner_reduced) {                                                              \
      const int64_t n = L->rshape[L->n_red - 1];                                         \
      odo_init(&ko, L->n_kept, L->kshape, L->kstride);                                   \
      int64_t o = 0;                                                                     \
      do {                                                                               \
        ACC acc = INIT;                                                                  \
        odo_init(&ro, L->n_red - 1, L->rshape, L->rstride);                              \
        do {                                                                             \
          const T* p = in + ko.off + ro.off;                                             \
          for (int64_t i = 0; i < n; i++) acc = COMBINE(acc, p[i]);                      \
        } while (odo_next(&ro));                                                         \
        out[o++] = STORE(acc);                                                           \
      } while (odo_next(&ko));                                                           \
    } else {                                                                             \
      const int64_t n = L->kshape[L->n_kept - 1];                                        \
      ACC acc[TILE];                                                                     \
      odo_init(&ko, L->n_kept - 1, L->kshape, L->kstride);                               \
      T* o = out;                                                                        \
      do {                                                                               \
        for (int64_t j0 = 0; j0 < n; j0 += TILE) {                                       \
          const int64_t nj = n - j0 < TILE ? n - j0 : TILE;                              \
          for (int64_t j = 0; j < nj; j++) acc[j] = INIT;                                \
          odo_init(&ro, L->n_red, L->rshape, L->rstride);                                \
          do {                                                                           \
            const T* p = in + ko.off + ro.off + j0;                                      \
            for (int64_t j = 0; j < nj; j++) acc[j] = COMBINE(acc[j], p[j]);             \
          } while (odo_next(&ro));                                                       \
          for (int64_t j = 0; j < nj; j++) o[j0 + j] = STORE(acc[j]);                    \
        }                                                                                \
        o += n;                                                                          \
      } while (odo_next(&ko));                                                           \
    }                                                                                    \
  }

#define STORE_F32(x) ((float)(x))
#define SUM_F(acc, x) ((acc) + (double)(x))
#define SUM_I(acc, x) ((acc) + (uint32_t)(x))
#define MAX_F(acc, x) f32_max((acc), (x))
#define MIN_F(acc, x) f32_min((acc), (x))
#define MAX_I(acc, x) ((x) > (acc) ? (x) : (acc))
#define MIN_I(acc, x) ((x) < (acc) ? (x) : (acc))
#define MAX_B(acc, x) ((uint8_t)((acc) | ((x) != 0)))
#define MIN_B(acc, x) ((uint8_t)((acc) & ((x) != 0)))
#define AS_IS(x) (x)

/* f32_max(acc, x) keeps acc when it is NaN: np.max propagates NaN. */
REDUCE_FN(sum_f32, float, double, 0.0, SUM_F, STORE_F32)
REDUCE_FN(sum_i32, int32_t, uint32_t, 0u, SUM_I, i32_bits)
REDUCE_FN(rmax_f32, float, float, -INFINITY, MAX_F, AS_IS)
REDUCE_FN(rmax_i32, int32_t, int32_t, INT32_MIN, MAX_I, AS_IS)
REDUCE_FN(rmax_b8, uint8_t, uint8_t, 0, MAX_B, AS_IS)
REDUCE_FN(rmin_f32, float, float, INFINITY, MIN_F, AS_IS)
REDUCE_FN(rmin_i32, int32_t, int32_t, INT32_MAX, MIN_I, AS_IS)
REDUCE_FN(rmin_b8, uint8_t, uint8_t, 1, MIN_B, AS_IS)
/* Products: float32 in double, rounded once (an intermediate float32
   product could overflow or underflow where the result does not); int32
   wraps. */
#define PROD_F(acc, x) ((acc) * (double)(x))
#define PROD_I(acc, x) ((acc) * (uint32_t)(x))
REDUCE_FN(prod_f32, float, double, 1.0, PROD_F, STORE_F32)
REDUCE_FN(prod_i32, int32_t, uint32_t, 1u, PROD_I, i32_bits)

typedef void (*reduce_fn)(const reduce_layout* L, const void* in, void* out);
static const reduce_fn reduce_fns[TTP_OP_COUNT][N_DTYPES] = {
    [TTP_OP_SUM] = {sum_f32, sum_i32, NULL},
    [TTP_OP_MAX] = {rmax_f32, rmax_i32, rmax_b8},
    [TTP_OP_MIN] = {rmin_f32, rmin_i32, rmin_b8},
    [TTP_OP_PROD] = {prod_f32, prod_i32, NULL},
};

static bool has_reduce(const ttp_plan* plan, const ttp_op* op) {
  const int di = dtype_index(IN(0)->dtype);
  return di >= 0 && reduce_fns[op->code][di];
}

static void run_reduce(const ttp_plan* plan, const ttp_op* op, void* const* data) {
  const ttp_tensor *in = IN(0), *out = OUT(0);
  if (out->numel == 0) return;
  const ttp_attr* da = &op->attrs[TTP_ATTR_SUM_DIMS];
  unsigned reduced = 0;
  for (uint32_t i = 0; i < da->n_ints; i++) reduced |= 1u << da->ints[i];
  reduce_layout L = {.n_out = out->numel, .count = 1};
  for (uint32_t d = 0; d < in->rank; d++)
    if ((reduced & (1u << d)) && in->dims[d] == 0) L.count = 0;
  if (L.count != 0) { /* every dim is nonempty, so strides and counts fit */
    int64_t st[TTP_MAX_RANK];
    dense_strides(in, st);
    int last = -1; /* kind of the previous entry: 0 kept, 1 reduced */
    for (uint32_t d = 0; d < in->rank; d++) {
      if (in->dims[d] == 1) continue;
      const int kind = (reduced >> d) & 1;
      int64_t* shape = kind ? L.rshape : L.kshape;
      int64_t* stride = kind ? L.rstride : L.kstride;
      int* count = kind ? &L.n_red : &L.n_kept;
      if (kind) L.count *= in->dims[d];
      if (kind == last) { /* dense: adjacent dims of one kind are one dim */
        shape[*count - 1] *= in->dims[d];
        stride[*count - 1] = st[d];
      } else {
        shape[*count] = in->dims[d];
        stride[*count] = st[d];
        ++*count;
      }
      last = kind;
    }
    if (L.n_kept == 0 && L.n_red == 0) { /* a single element */
      L.kshape[0] = 1;
      L.kstride[0] = 0;
      L.n_kept = 1;
      last = 0;
    }
    L.inner_reduced = last == 1;
  }
  reduce_fns[op->code][dtype_index(in->dtype)](&L, L.count ? data[op->inputs[0]] : NULL,
                                                data[op->outputs[0]]);
}

/* ---- arange ---------------------------------------------------------------------------------- */

/* start/step hold one integer or one float each (verified). Integers follow
   the reference's int64 arithmetic (wrapping); a float makes it double
   arithmetic. */
static void run_arange(const ttp_plan* plan, const ttp_op* op, void* const* data) {
  const ttp_tensor* out = OUT(0);
  const ttp_attr *start = &op->attrs[TTP_ATTR_ARANGE_START], *step = &op->attrs[TTP_ATTR_ARANGE_STEP];
  void* o = data[op->outputs[0]];
  const int dt = dtype_index(out->dtype);
  if (start->n_floats || step->n_floats) {
    const double s0 = start->n_floats ? start->floats[0] : (double)start->ints[0];
    const double ds = step->n_floats ? step->floats[0] : (double)step->ints[0];
    for (int64_t i = 0; i < out->numel; i++) {
      const double v = s0 + ds * (double)i;
      if (dt == F32) ((float*)o)[i] = (float)v;
      else if (dt == I32) ((int32_t*)o)[i] = f64_to_i32(v);
      else ((uint8_t*)o)[i] = v != 0;
    }
  } else {
    const uint64_t s0 = (uint64_t)start->ints[0], ds = (uint64_t)step->ints[0];
    for (int64_t i = 0; i < out->numel; i++) {
      const uint64_t u = s0 + ds * (uint64_t)i;
      if (dt == F32) ((float*)o)[i] = (float)i64_bits(u);
      else if (dt == I32) ((int32_t*)o)[i] = i32_bits((uint32_t)u); /* astype wraps */
      else ((uint8_t*)o)[i] = u != 0;
    }
  }
}

/* ==== NN ops: the registry entries from erf on =============================================== */

/* ---- shared helpers ------------------------------------------------------------------------- */

/* activation attribute of linear and conv2d (ops.py ACTIVATIONS). */
/* activation codes: ops.py ACTIVATIONS, generated into ops_generated.h */
enum {
  ACT_NONE = TTP_ACTIVATION_NONE,
  ACT_RELU = TTP_ACTIVATION_RELU,
  ACT_RELU6 = TTP_ACTIVATION_RELU6,
  ACT_GELU = TTP_ACTIVATION_GELU,
  ACT_GELU_TANH = TTP_ACTIVATION_GELU_TANH,
};

/* gelu (erf form) is the ISA's vectorised polynomial (isa/rows_generic.h,
   error bound there). The tanh form is computed in float64 and rounded
   once, in the reference's operation order. */
static inline float gelu_tanh(float x) {
  const double v = x;
  return (float)(0.5 * v * (1.0 + tanh(0.7978845608028654 * (v + 0.044715 * (v * v * v))))); /* sqrt(2/pi) */
}
/* np.maximum(x, 0) keeps NaN and gives +0 for -0; np.clip(x, 0, 6) keeps NaN and -0. */
static inline float relu6(float x) { return x < 0 ? 0.0f : x > 6 ? 6.0f : x; }

void ttp_cpu_activate(const ttp_cpu_isa* isa, float* y, int64_t n, int64_t code) {
  switch (code) {
    case ACT_RELU:
      for (int64_t i = 0; i < n; i++) y[i] = f32_max(y[i], 0.0f);
      break;
    case ACT_RELU6:
      for (int64_t i = 0; i < n; i++) y[i] = relu6(y[i]);
      break;
    case ACT_GELU:
      isa->gelu(y, y, n);
      break;
    case ACT_GELU_TANH:
      for (int64_t i = 0; i < n; i++) y[i] = gelu_tanh(y[i]);
      break;
    default:
      break;
  }
}

/* t seen as [outer, n, inner] around `dim`. Only for tensors with elements,
   which bounds every product. */
static void around_dim(const ttp_tensor* t, int dim, int64_t* outer, int64_t* n, int64_t* inner) {
  *outer = 1;
  *inner = 1;
  for (int d = 0; d < dim; d++) *outer *= t->dims[d];
  for (int d = dim + 1; d < (int)t->rank; d++) *inner *= t->dims[d];
  *n = t->dims[dim];
}

/* ---- erf, relu, gelu ------------------------------------------------------------------------ */

MAP_FN(gelu_tanh_f32, float, float, gelu_tanh(x))

/* Rows of a contiguous op split into about 4 tasks per thread (at least
   `min_rows` rows each), for ops whose rows are independent. */
typedef struct rows_job {
  const ttp_plan* plan;
  const ttp_op* op;
  void* const* data;
  const ttp_cpu_isa* isa;
  int64_t rows, per_task, width;
} rows_job;

static void run_rows(rows_job* j, const ttp_cpu_ctx* ctx, int64_t min_rows, ttp_task_fn fn) {
  const int64_t tasks = 4 * (int64_t)ttp_thread_pool_size(ctx->pool);
  j->isa = ctx->isa;
  j->per_task = (j->rows + tasks - 1) / tasks;
  if (j->per_task < min_rows) j->per_task = min_rows;
  ttp_thread_pool_run(ctx->pool, (j->rows + j->per_task - 1) / j->per_task, fn, j);
}

static void gelu_task(void* arg, int64_t task, int thread) {
  (void)thread;
  const rows_job* j = arg;
  const int64_t i0 = task * j->per_task, n = j->rows - i0 < j->per_task ? j->rows - i0 : j->per_task;
  const float* x = j->data[j->op->inputs[0]];
  float* y = j->data[j->op->outputs[0]];
  j->isa->gelu(y + i0, x + i0, n);
}

static void exec_gelu(const ttp_plan* plan, const ttp_op* op, void* const* data, const void* state,
                      const ttp_cpu_ctx* ctx) {
  (void)state;
  const ttp_tensor* out = OUT(0);
  if (out->numel == 0) return;
  if (op->attrs[TTP_ATTR_GELU_APPROXIMATE].ints[0] != 0) {
    gelu_tanh_f32(data[op->outputs[0]], data[op->inputs[0]], out->numel);
    return;
  }
  rows_job j = {plan, op, data, NULL, out->numel, 0, 1};
  run_rows(&j, ctx, 4096, gelu_task); /* elements as rows */
}

/* ---- softmax -------------------------------------------------------------------------------- */

/* Over the last dim (contiguous rows): the ISA's float32 row kernel
   (isa/rows_generic.h), rows split among threads. Over another dim: exp(x -
   max) is formed in double (x - max is then exact) and summed in double;
   the exponentials are parked in the output as float32 and scaled by 1/sum,
   one extra rounding against the reference's float64 e / sum. Either way a
   NaN, or a max of +-inf, makes the slice NaN as in the reference. The
   reduced dim is walked with the inner dims contiguous, TILE at a time. */
static void softmax_task(void* arg, int64_t task, int thread) {
  (void)thread;
  const rows_job* j = arg;
  const float* x = j->data[j->op->inputs[0]];
  float* y = j->data[j->op->outputs[0]];
  const int64_t r1 = (task + 1) * j->per_task < j->rows ? (task + 1) * j->per_task : j->rows;
  for (int64_t r = task * j->per_task; r < r1; r++) j->isa->softmax_row(y + r * j->width, x + r * j->width, j->width);
}

static void exec_softmax(const ttp_plan* plan, const ttp_op* op, void* const* data, const void* state,
                         const ttp_cpu_ctx* ctx) {
  (void)state;
  const ttp_tensor* in = IN(0);
  if (in->numel == 0) return;
  int64_t outer, n, inner;
  around_dim(in, (int)op->attrs[TTP_ATTR_SOFTMAX_DIM].ints[0], &outer, &n, &inner);
  const float* x = data[op->inputs[0]];
  float* y = data[op->outputs[0]];
  if (inner == 1) {
    rows_job j = {plan, op, data, NULL, outer, 0, n};
    run_rows(&j, ctx, 1, softmax_task);
    return;
  }
  float m[TILE];
  double sum[TILE];
  for (int64_t o = 0; o < outer; o++) {
    for (int64_t j0 = 0; j0 < inner; j0 += TILE) {
      const int64_t nj = inner - j0 < TILE ? inner - j0 : TILE;
      const float* xb = x + o * n * inner + j0;
      float* yb = y + o * n * inner + j0;
      for (int64_t j = 0; j < nj; j++) m[j] = xb[j];
      for (int64_t i = 1; i < n; i++)
        for (int64_t j = 0; j < nj; j++) m[j] = f32_max(m[j], xb[i * inner + j]);
      for (int64_t j = 0; j < nj; j++) sum[j] = 0;
      for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < nj; j++) {
          const double e = exp((double)xb[i * inner + j] - (double)m[j]);
          yb[i * inner + j] = (float)e;
          sum[j] += e;
        }
      for (int64_t j = 0; j < nj; j++) sum[j] = 1.0 / sum[j];
      for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < nj; j++) yb[i * inner + j] = (float)(yb[i * inner + j] * sum[j]);
    }
  }
}

/* ---- layer_norm, batch_norm ----------------------------------------------------------------- */

/* The ISA's row kernel (isa/rows_generic.h: statistics in double), rows
   split among threads. */
static void layer_norm_task(void* arg, int64_t task, int thread) {
  (void)thread;
  const rows_job* j = arg;
  const ttp_op* op = j->op;
  const double eps = op->attrs[TTP_ATTR_LAYER_NORM_EPSILON].floats[0];
  const float *x = j->data[op->inputs[0]], *w = j->data[op->inputs[1]], *b = j->data[op->inputs[2]];
  float* y = j->data[op->outputs[0]];
  const int64_t r1 = (task + 1) * j->per_task < j->rows ? (task + 1) * j->per_task : j->rows;
  for (int64_t r = task * j->per_task; r < r1; r++) j->isa->layer_norm_row(y + r * j->width, x + r * j->width, w, b, j->width, eps);
}

static void exec_layer_norm(const ttp_plan* plan, const ttp_op* op, void* const* data, const void* state,
                            const ttp_cpu_ctx* ctx) {
  (void)state;
  const ttp_tensor* x_t = IN(0);
  if (x_t->numel == 0) return;
  const int64_t D = x_t->dims[x_t->rank - 1];
  rows_job j = {plan, op, data, NULL, x_t->numel / D, 0, D};
  run_rows(&j, ctx, 1, layer_norm_task);
}

/* The reference's (x - mean) / sqrt(var + eps) * w + b in double, with the
   per-channel values of TILE channels at a time held in double. */
static void run_batch_norm(const ttp_plan* plan, const ttp_op* op, void* const* data) {
  const ttp_tensor* x_t = IN(0);
  if (x_t->numel == 0) return;
  int64_t outer, C, inner;
  around_dim(x_t, (int)op->attrs[TTP_ATTR_BATCH_NORM_DIM].ints[0], &outer, &C, &inner);
  const double eps = op->attrs[TTP_ATTR_BATCH_NORM_EPSILON].floats[0];
  const float* x = data[op->inputs[0]];
  const float *mean = data[op->inputs[1]], *var = data[op->inputs[2]];
  const float *w = data[op->inputs[3]], *b = data[op->inputs[4]];
  float* y = data[op->outputs[0]];
  double m[TILE], sd[TILE], ww[TILE], bb[TILE];
  for (int64_t c0 = 0; c0 < C; c0 += TILE) {
    const int64_t nc = C - c0 < TILE ? C - c0 : TILE;
    for (int64_t j = 0; j < nc; j++) {
      m[j] = mean[c0 + j];
      sd[j] = sqrt((double)var[c0 + j] + eps);
      ww[j] = w[c0 + j];
      bb[j] = b[c0 + j];
    }
    for (int64_t o = 0; o < outer; o++) {
      const float* xb = x + (o * C + c0) * inner;
      float* yb = y + (o * C + c0) * inner;
      if (inner == 1) {
        for (int64_t j = 0; j < nc; j++) yb[j] = (float)(((double)xb[j] - m[j]) / sd[j] * ww[j] + bb[j]);
      } else {
        for (int64_t j = 0; j < nc; j++)
          for (int64_t i = 0; i < inner; i++)
            yb[j * inner + i] = (float)(((double)xb[j * inner + i] - m[j]) / sd[j] * ww[j] + bb[j]);
      }
    }
  }
}

/* ---- linear --------------------------------------------------------------------------------- */

/* y = act(x @ w + b) over rows of x, on the GEMM driver (gemm.h). K == 0
   leaves y = act(b) without reading x or w. */
static void exec_linear(const ttp_plan* plan, const ttp_op* op, void* const* data, const void* state,
                        const ttp_cpu_ctx* ctx) {
  const ttp_tensor* out = OUT(0);
  if (out->numel == 0) return;
  const int64_t N = IN(1)->dims[1], M = out->numel / N;
  const int64_t act = op->attrs[TTP_ATTR_LINEAR_ACTIVATION].ints[0];
  ttp_gemm_linear(state, ctx, data[op->inputs[0]], data[op->inputs[1]], data[op->inputs[2]], data[op->outputs[0]],
                  M, act);
}

/* ---- windows: conv2d and pooling ------------------------------------------------------------ */

/* The taps k in [0, count) of a window whose tap k reads position
   start + k * d, clipped to those inside [0, size): [*lo, *hi). The
   verifier's window_out bounds start >= -padding and size - start <= padded
   size. */
static void tap_range(int64_t start, int64_t d, int64_t count, int64_t size, int64_t* lo, int64_t* hi) {
  int64_t l = 0, h = 0;
  if (start < 0) l = -start / d + (-start % d != 0);
  if (size - start > 0) h = (size - start - 1) / d + 1;
  if (h > count) h = count;
  if (l > h) l = h;
  *lo = l;
  *hi = h;
}

typedef ttp_window2d window2d;

static void window2d_init(window2d* g, const ttp_tensor* x, const ttp_tensor* out, int64_t kh, int64_t kw,
                          const int64_t* stride, const int64_t* padding, const int64_t* dilation) {
  g->N = x->dims[0];
  g->H = x->dims[1];
  g->W = x->dims[2];
  g->C = x->dims[3];
  g->Ho = out->dims[1];
  g->Wo = out->dims[2];
  g->kh = kh;
  g->kw = kw;
  g->sh = stride[0];
  g->sw = stride[1];
  g->pt = padding[0];
  g->pl = padding[2];
  g->dh = dilation ? dilation[0] : 1;
  g->dw = dilation ? dilation[1] : 1;
}

/* The taps of output pixel (oh, ow) inside the input: rows [*h0, *h1),
   columns [*w0, *w1), both empty if either is (then x may have no elements
   and the other range can be huge). oh * sh <= padded - span, so nothing
   overflows. */
static void window2d_taps(const window2d* g, int64_t oh, int64_t ow, int64_t* h0, int64_t* h1, int64_t* w0,
                          int64_t* w1) {
  tap_range(oh * g->sh - g->pt, g->dh, g->kh, g->H, h0, h1);
  tap_range(ow * g->sw - g->pl, g->dw, g->kw, g->W, w0, w1);
  if (*h0 == *h1 || *w0 == *w1) {
    *h1 = *h0;
    *w1 = *w0;
  }
}

/* ---- conv2d --------------------------------------------------------------------------------- */

/* Depthwise (C/groups == 1, O = C * multiplier): per output pixel, each
   tap inside the input adds x[c] * w[c * mult + m] to out[c * mult + m]. */
static void conv2d_depthwise(const ttp_cpu_isa* isa, const window2d* g, const float* x, const float* w,
                             const float* bias, float* y, int64_t O, int64_t act) {
  const int64_t C = g->C, mult = O / C;
  for (int64_t p = 0; p < g->N * g->Ho * g->Wo; p++) {
    const int64_t n = p / (g->Ho * g->Wo), oh = p / g->Wo % g->Ho, ow = p % g->Wo;
    float* restrict yp = y + p * O;
    memcpy(yp, bias, (size_t)O * sizeof(float));
    int64_t h0, h1, w0, w1;
    window2d_taps(g, oh, ow, &h0, &h1, &w0, &w1);
    for (int64_t i = h0; i < h1; i++) {
      for (int64_t j = w0; j < w1; j++) {
        const int64_t ih = oh * g->sh - g->pt + i * g->dh, iw = ow * g->sw - g->pl + j * g->dw;
        const float* xp = x + ((n * g->H + ih) * g->W + iw) * C;
        const float* wp = w + (i * g->kw + j) * O;
        if (mult == 1) {
          for (int64_t c = 0; c < C; c++) yp[c] += xp[c] * wp[c];
        } else {
          for (int64_t c = 0; c < C; c++)
            for (int64_t m = 0; m < mult; m++) yp[c * mult + m] += xp[c] * wp[c * mult + m];
        }
      }
    }
    ttp_cpu_activate(isa, yp, O, act);
  }
}

/* Depthwise and channel-less convolutions here; everything else is an
   implicit GEMM (gemm.h), which ttp_gemm_conv2d_prepare gave a state. */
static void exec_conv2d(const ttp_plan* plan, const ttp_op* op, void* const* data, const void* state,
                        const ttp_cpu_ctx* ctx) {
  const ttp_tensor *out = OUT(0), *w_t = IN(1);
  if (out->numel == 0) return;
  const int64_t cg = w_t->dims[2], O = w_t->dims[3];
  const int64_t groups = op->attrs[TTP_ATTR_CONV2D_GROUPS].ints[0];
  const int64_t act = op->attrs[TTP_ATTR_CONV2D_ACTIVATION].ints[0];
  window2d g;
  window2d_init(&g, IN(0), out, w_t->dims[0], w_t->dims[1], op->attrs[TTP_ATTR_CONV2D_STRIDE].ints,
                op->attrs[TTP_ATTR_CONV2D_PADDING].ints, op->attrs[TTP_ATTR_CONV2D_DILATION].ints);
  const float *x = data[op->inputs[0]], *w = data[op->inputs[1]], *bias = data[op->inputs[2]];
  float* y = data[op->outputs[0]];
  if (cg == 0) { /* no input channels: x and w are empty, y = act(b) */
    for (int64_t p = 0; p < out->numel / O; p++) {
      memcpy(y + p * O, bias, (size_t)O * sizeof(float));
      ttp_cpu_activate(ctx->isa, y + p * O, O, act);
    }
  } else if (cg == 1 && groups == g.C) {
    conv2d_depthwise(ctx->isa, &g, x, w, bias, y, O, act);
  } else {
    ttp_gemm_conv2d(state, ctx, &g, x, w, bias, y, act);
  }
}

/* ---- pooling -------------------------------------------------------------------------------- */

/* The pools share one attribute layout (op_verify.h). */
#define POOL_KERNEL TTP_ATTR_MAX_POOL2D_KERNEL
#define POOL_STRIDE TTP_ATTR_MAX_POOL2D_STRIDE
#define POOL_PADDING TTP_ATTR_MAX_POOL2D_PADDING

/* Max pooling: padding is -inf (INT32_MIN), the identity of max, so only
   taps inside the input are visited; an all-padding window gives -inf.
   f32_max propagates NaN like the reference's np.maximum.reduce. */
#define MAX_POOL_FN(NAME, T, LOWEST, MAX)                                                  \
  static void NAME(const window2d* g, const void* x_, void* y_) {                          \
    const T* x = x_;                                                                        \
    T* restrict y = y_;                                                                     \
    const int64_t C = g->C;                                                                 \
    for (int64_t p = 0; p < g->N * g->Ho * g->Wo; p++) {                                    \
      const int64_t n = p / (g->Ho * g->Wo), oh = p / g->Wo % g->Ho, ow = p % g->Wo;        \
      T* yp = y + p * C;                                                                    \
      for (int64_t c = 0; c < C; c++) yp[c] = LOWEST;                                       \
      int64_t h0, h1, w0, w1;                                                               \
      window2d_taps(g, oh, ow, &h0, &h1, &w0, &w1);                                         \
      for (int64_t i = h0; i < h1; i++)                                                     \
        for (int64_t j = w0; j < w1; j++) {                                                 \
          const int64_t ih = oh * g->sh - g->pt + i * g->dh, iw = ow * g->sw - g->pl + j * g->dw; \
          const T* xp = x + ((n * g->H + ih) * g->W + iw) * C;                              \
          for (int64_t c = 0; c < C; c++) yp[c] = MAX(yp[c], xp[c]);                        \
        }                                                                                   \
    }                                                                                       \
  }
MAX_POOL_FN(max_pool_f32, float, -INFINITY, f32_max)
MAX_POOL_FN(max_pool_i32, int32_t, INT32_MIN, MAX_I)

/* Sum and average pooling: zero padding, sums in double over TILE channels
   at a time, as the reference's float64 window sum. avg divides by kh * kw
   (count_include_pad) or by the taps inside the input (NaN if none). */
enum { POOL_SUM, POOL_AVG_INCLUDE_PAD, POOL_AVG };

static void sum_pool_f32(const window2d* g, const float* x, float* y, int mode) {
  const int64_t C = g->C;
  const double full = (double)g->kh * (double)g->kw;
  double acc[TILE];
  for (int64_t p = 0; p < g->N * g->Ho * g->Wo; p++) {
    const int64_t n = p / (g->Ho * g->Wo), oh = p / g->Wo % g->Ho, ow = p % g->Wo;
    int64_t h0, h1, w0, w1;
    window2d_taps(g, oh, ow, &h0, &h1, &w0, &w1);
    const double count = (double)(h1 - h0) * (double)(w1 - w0);
    for (int64_t c0 = 0; c0 < C; c0 += TILE) {
      const int64_t nc = C - c0 < TILE ? C - c0 : TILE;
      for (int64_t c = 0; c < nc; c++) acc[c] = 0;
      for (int64_t i = h0; i < h1; i++)
        for (int64_t j = w0; j < w1; j++) {
          const int64_t ih = oh * g->sh - g->pt + i * g->dh, iw = ow * g->sw - g->pl + j * g->dw;
          const float* xp = x + ((n * g->H + ih) * g->W + iw) * C + c0;
          for (int64_t c = 0; c < nc; c++) acc[c] += xp[c];
        }
      float* yp = y + p * C + c0;
      if (mode == POOL_SUM) {
        for (int64_t c = 0; c < nc; c++) yp[c] = (float)acc[c];
      } else if (mode == POOL_AVG_INCLUDE_PAD) {
        for (int64_t c = 0; c < nc; c++) yp[c] = (float)(acc[c] / full);
      } else if (count > 0) {
        for (int64_t c = 0; c < nc; c++) yp[c] = (float)(acc[c] / count);
      } else {
        for (int64_t c = 0; c < nc; c++) yp[c] = NAN; /* 0 / 0 in the reference */
      }
    }
  }
}

static void run_pool(const ttp_plan* plan, const ttp_op* op, void* const* data) {
  const ttp_tensor *x = IN(0), *out = OUT(0);
  if (out->numel == 0) return;
  const int64_t* k = op->attrs[POOL_KERNEL].ints;
  window2d g;
  window2d_init(&g, x, out, k[0], k[1], op->attrs[POOL_STRIDE].ints, op->attrs[POOL_PADDING].ints,
                op->code == TTP_OP_MAX_POOL2D ? op->attrs[TTP_ATTR_MAX_POOL2D_DILATION].ints : NULL);
  /* x may be empty (H or W is 0, every window all padding); it is then never read. */
  const void* xd = data[op->inputs[0]];
  void* yd = data[op->outputs[0]];
  switch (op->code) {
    case TTP_OP_MAX_POOL2D:
      (x->dtype == TTP_DTYPE_FLOAT32 ? max_pool_f32 : max_pool_i32)(&g, xd, yd);
      break;
    case TTP_OP_SUM_POOL2D:
      sum_pool_f32(&g, xd, yd, POOL_SUM);
      break;
    default:
      sum_pool_f32(&g, xd, yd, op->attrs[TTP_ATTR_AVG_POOL2D_COUNT_INCLUDE_PAD].ints[0]
                                   ? POOL_AVG_INCLUDE_PAD
                                   : POOL_AVG);
      break;
  }
}

/* ---- pad ------------------------------------------------------------------------------------ */

static void fill_value(void* dst, const void* value, size_t size, int64_t n) {
  if (size == 1) {
    memset(dst, *(const uint8_t*)value, (size_t)n);
  } else {
    for (int64_t i = 0; i < n; i++) memcpy((char*)dst + i * 4, value, 4);
  }
}

/* Output rows (the last dim) are either all padding or padding, one input
   row, padding. The value converts to the element type like typecast. */
static void run_pad(const ttp_plan* plan, const ttp_op* op, void* const* data) {
  const ttp_tensor *x = IN(0), *out = OUT(0);
  if (out->numel == 0) return;
  const double v = op->attrs[TTP_ATTR_PAD_VALUE].floats[0];
  const size_t size = elem_size(x->dtype);
  unsigned char value[4];
  if (x->dtype == TTP_DTYPE_FLOAT32) {
    const float f = (float)v;
    memcpy(value, &f, 4);
  } else if (x->dtype == TTP_DTYPE_INT32) {
    const int32_t i = f64_to_i32(v);
    memcpy(value, &i, 4);
  } else {
    value[0] = v != 0;
  }
  char* y = data[op->outputs[0]];
  const int r = (int)out->rank;
  if (x->numel == 0 || r == 0) { /* all padding, or a scalar (nothing to pad) */
    if (x->numel == 0) fill_value(y, value, size, out->numel);
    else memcpy(y, data[op->inputs[0]], size);
    return;
  }
  const int64_t *lo = op->attrs[TTP_ATTR_PAD_LOW].ints, *hi = op->attrs[TTP_ATTR_PAD_HIGH].ints;
  const int64_t n = out->dims[r - 1], xn = x->dims[r - 1];
  int64_t xst[TTP_MAX_RANK];
  dense_strides(x, xst);
  const char* xd = data[op->inputs[0]];
  odometer it; /* over the output's outer dims; offsets unused */
  odo_init(&it, r - 1, out->dims, xst);
  const int64_t rows = out->numel / n;
  for (int64_t row = 0; row < rows; row++, y += n * (int64_t)size) {
    bool inside = true;
    int64_t src = 0;
    for (int d = 0; d < r - 1 && inside; d++) {
      inside = it.idx[d] >= lo[d] && it.idx[d] - lo[d] < x->dims[d];
      if (inside) src += (it.idx[d] - lo[d]) * xst[d];
    }
    if (inside) {
      fill_value(y, value, size, lo[r - 1]);
      memcpy(y + lo[r - 1] * (int64_t)size, xd + src * (int64_t)size, (size_t)(xn * (int64_t)size));
      fill_value(y + (lo[r - 1] + xn) * (int64_t)size, value, size, hi[r - 1]);
    } else {
      fill_value(y, value, size, n);
    }
    odo_next(&it);
  }
}

/* ---- embedding ------------------------------------------------------------------------------ */

/* Ids are clamped to [0, V), as XLA's gather clamps its indices. */
static void run_embedding(const ttp_plan* plan, const ttp_op* op, void* const* data) {
  const ttp_tensor *ids_t = IN(0), *table_t = IN(1), *out = OUT(0);
  if (out->numel == 0) return;
  const int64_t V = table_t->dims[0], D = table_t->dims[1];
  const int32_t* ids = data[op->inputs[0]];
  const char* table = data[op->inputs[1]];
  char* y = data[op->outputs[0]];
  const int64_t row = D * 4;
  for (int64_t t = 0; t < ids_t->numel; t++) {
    const int64_t id = ids[t] < 0 ? 0 : ids[t] >= V ? V - 1 : ids[t];
    memcpy(y + t * row, table + id * row, (size_t)row);
  }
}

/* ---- argmax, argmin ------------------------------------------------------------------------- */

/* np.argmax / np.argmin: the first extreme wins ties, and the first NaN
   counts as the extreme. Indices are stored like astype(int32). */
#define BETTER_MAX_F(x, b) ((x) > (b) || (isnan(x) && !isnan(b)))
#define BETTER_MIN_F(x, b) ((x) < (b) || (isnan(x) && !isnan(b)))
#define BETTER_MAX_I(x, b) ((x) > (b))
#define BETTER_MIN_I(x, b) ((x) < (b))
#define ARG_FN(NAME, T, BETTER)                                                             \
  static void NAME(const void* in_, int32_t* restrict out, int64_t outer, int64_t n, int64_t inner) { \
    const T* in = in_;                                                                      \
    if (inner == 1) {                                                                       \
      for (int64_t o = 0; o < outer; o++) {                                                 \
        const T* row = in + o * n;                                                          \
        T best = row[0];                                                                    \
        int64_t at = 0;                                                                     \
        for (int64_t i = 1; i < n; i++)                                                     \
          if (BETTER(row[i], best)) {                                                       \
            best = row[i];                                                                  \
            at = i;                                                                         \
          }                                                                                 \
        out[o] = i32_bits((uint32_t)at);                                                    \
      }                                                                                     \
      return;                                                                               \
    }                                                                                       \
    T best[TILE];                                                                           \
    int64_t at[TILE];                                                                       \
    for (int64_t o = 0; o < outer; o++)                                                     \
      for (int64_t j0 = 0; j0 < inner; j0 += TILE) {                                        \
        const int64_t nj = inner - j0 < TILE ? inner - j0 : TILE;                           \
        const T* p = in + o * n * inner + j0;                                               \
        for (int64_t j = 0; j < nj; j++) {                                                  \
          best[j] = p[j];                                                                   \
          at[j] = 0;                                                                        \
        }                                                                                   \
        for (int64_t i = 1; i < n; i++)                                                     \
          for (int64_t j = 0; j < nj; j++)                                                  \
            if (BETTER(p[i * inner + j], best[j])) {                                        \
              best[j] = p[i * inner + j];                                                   \
              at[j] = i;                                                                    \
            }                                                                               \
        for (int64_t j = 0; j < nj; j++) out[o * inner + j0 + j] = i32_bits((uint32_t)at[j]); \
      }                                                                                     \
  }
ARG_FN(argmax_f32, float, BETTER_MAX_F)
ARG_FN(argmin_f32, float, BETTER_MIN_F)
ARG_FN(argmax_i32, int32_t, BETTER_MAX_I)
ARG_FN(argmin_i32, int32_t, BETTER_MIN_I)

static void run_arg(const ttp_plan* plan, const ttp_op* op, void* const* data) {
  const ttp_tensor* x = IN(0);
  if (OUT(0)->numel == 0) return; /* x is nonempty along dim, so x has elements iff the output does */
  int64_t outer, n, inner;
  around_dim(x, (int)op->attrs[TTP_ATTR_ARGMAX_DIM].ints[0], &outer, &n, &inner);
  const bool f32 = x->dtype == TTP_DTYPE_FLOAT32, is_max = op->code == TTP_OP_ARGMAX;
  void (*fn)(const void*, int32_t*, int64_t, int64_t, int64_t) =
      f32 ? (is_max ? argmax_f32 : argmin_f32) : (is_max ? argmax_i32 : argmin_i32);
  fn(data[op->inputs[0]], data[op->outputs[0]], outer, n, inner);
}

/* ---- cumsum, cumprod ------------------------------------------------------------------------ */

/* Sequential sums (products) in the element type, as np.cumsum(dtype=x.dtype)
   and np.cumprod: float32 matches the reference bit for bit, int32 wraps.
   Each step combines an input row with the previous output row, contiguous
   over the inner dims. */
#define CUMSUM_FN(NAME, T, ADD)                                                             \
  static void NAME(const void* in_, void* out_, int64_t outer, int64_t n, int64_t inner) { \
    const T* in = in_;                                                                      \
    T* restrict out = out_;                                                                 \
    for (int64_t o = 0; o < outer; o++) {                                                   \
      const T* x = in + o * n * inner;                                                      \
      T* y = out + o * n * inner;                                                           \
      for (int64_t j = 0; j < inner; j++) y[j] = x[j];                                      \
      for (int64_t i = 1; i < n; i++)                                                       \
        for (int64_t j = 0; j < inner; j++)                                                 \
          y[i * inner + j] = ADD(y[(i - 1) * inner + j], x[i * inner + j]);                 \
    }                                                                                       \
  }
#define ADD_F(a, b) ((a) + (b))
CUMSUM_FN(cumsum_f32, float, ADD_F)
CUMSUM_FN(cumsum_i32, int32_t, i32_add)
#define MUL_F(a, b) ((a) * (b))
CUMSUM_FN(cumprod_f32, float, MUL_F)
CUMSUM_FN(cumprod_i32, int32_t, i32_mul)

static void run_cumsum(const ttp_plan* plan, const ttp_op* op, void* const* data) {
  const ttp_tensor* x = IN(0);
  if (x->numel == 0) return;
  int64_t outer, n, inner;
  around_dim(x, (int)op->attrs[TTP_ATTR_CUMSUM_DIM].ints[0], &outer, &n, &inner);
  const bool f32 = x->dtype == TTP_DTYPE_FLOAT32;
  void (*fn)(const void*, void*, int64_t, int64_t, int64_t) =
      op->code == TTP_OP_CUMPROD ? (f32 ? cumprod_f32 : cumprod_i32) : (f32 ? cumsum_f32 : cumsum_i32);
  fn(data[op->inputs[0]], data[op->outputs[0]], outer, n, inner);
}

/* ---- reverse -------------------------------------------------------------------------------- */

/* A strided copy reading the reversed dims backwards: their strides are
   negated and the start is the last element along each of them. */
static void run_reverse(const ttp_plan* plan, const ttp_op* op, void* const* data) {
  const ttp_tensor *in = IN(0), *out = OUT(0);
  if (out->numel == 0) return;
  const ttp_attr* da = &op->attrs[TTP_ATTR_REVERSE_DIMS];
  unsigned reversed = 0;
  for (uint32_t i = 0; i < da->n_ints; i++) reversed |= 1u << da->ints[i];
  int64_t st[TTP_MAX_RANK], base = 0;
  dense_strides(in, st);
  strided s = {.rank = (int)in->rank, .n_in = 1};
  for (int d = 0; d < s.rank; d++) {
    s.shape[d] = in->dims[d];
    s.stride[0][d] = (reversed & (1u << d)) ? -st[d] : st[d];
    if (reversed & (1u << d)) base += (in->dims[d] - 1) * st[d];
  }
  strided_simplify(&s); /* (a scalar becomes one element of rank 1) */
  size_t size = elem_size(in->dtype);
  const void* src = (const char*)data[op->inputs[0]] + base * (int64_t)size;
  strided_run(&s, copy_row(in->dtype), data[op->outputs[0]], size, &src, &size);
}

/* ---- sort, top_k ---------------------------------------------------------------------------- */

/* Both order a row (a dim of n elements, `stride` apart) by the elements'
   keys, lexicographically (sort's inputs are its keys, the first deciding;
   top_k's one input is), and break ties by index, a strict total order: any correct
   algorithm then gives the stable result. They heap-sort int32 indices in
   place in the index output, so nothing is allocated: sort builds a heap of
   the whole row; top_k keeps a heap of the k best seen, its root the worst
   of them, then sorts those. Values are copied from the first key by the sorted
   indices (bit for bit: NaN payloads and signed zeros are kept). */

/* A float's key as an int32 whose order is IEEE totalOrder (negative
   floats have their magnitude bits flipped); without total_order, -0 is
   keyed as +0 and every NaN as the positive quiet NaN, above +inf. */
static inline int32_t f32_order_key(float x, bool total_order) {
  uint32_t u;
  if (!total_order && x == 0) {
    u = 0;
  } else if (!total_order && isnan(x)) {
    u = 0x7FC00000u;
  } else {
    memcpy(&u, &x, sizeof u);
  }
  return i32_bits((u & 0x80000000u) ? u ^ 0x7FFFFFFFu : u);
}

typedef struct sort_row {
  const ttp_plan* plan;
  const ttp_op* op;     /* its inputs are the keys, the first deciding */
  void* const* data;
  int64_t start;        /* the row's first element, as an element offset into every key */
  int64_t stride;       /* in elements */
  uint32_t n_keys;
  const int64_t *descending, *total_order; /* one flag per key */
  const char* first;    /* the first key's row, which decides most comparisons */
  bool first_f32, first_total_order, first_descending;
} sort_row;

static inline int32_t order_key(const char* p, bool f32, bool total_order) {
  if (f32) {
    float v;
    memcpy(&v, p, 4);
    return f32_order_key(v, total_order);
  }
  int32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* Key k (k >= 1) of the row's element i. */
static inline int32_t later_key(const sort_row* r, uint32_t k, int64_t i) {
  const uint32_t t = r->op->inputs[k];
  const char* p = (const char*)r->data[t] + (r->start + i * r->stride) * 4;
  return order_key(p, r->plan->tensors[t].dtype == TTP_DTYPE_FLOAT32, r->total_order[k] != 0);
}

/* Element a comes before element b: by the first key that differs, then by index. */
static inline bool row_before(const sort_row* r, int32_t a, int32_t b) {
  const int32_t ka = order_key(r->first + (int64_t)a * r->stride * 4, r->first_f32, r->first_total_order);
  const int32_t kb = order_key(r->first + (int64_t)b * r->stride * 4, r->first_f32, r->first_total_order);
  if (ka != kb) return r->first_descending ? ka > kb : ka < kb;
  for (uint32_t k = 1; k < r->n_keys; k++) {
    const int32_t la = later_key(r, k, a), lb = later_key(r, k, b);
    if (la != lb) return r->descending[k] ? la > lb : la < lb;
  }
  return a < b;
}

/* h[0], h[st], ... h[(n - 1) * st] is a heap whose every parent comes after
   its children, but for the subtree at root. */
static void sift_down(const sort_row* r, int32_t* h, int64_t st, int64_t root, int64_t n) {
  for (;;) {
    int64_t child = 2 * root + 1;
    if (child >= n) return;
    if (child + 1 < n && row_before(r, h[child * st], h[(child + 1) * st])) child++;
    if (!row_before(r, h[root * st], h[child * st])) return;
    const int32_t t = h[root * st];
    h[root * st] = h[child * st];
    h[child * st] = t;
    root = child;
  }
}

static void heapify(const sort_row* r, int32_t* h, int64_t st, int64_t n) {
  for (int64_t i = n / 2; i-- > 0;) sift_down(r, h, st, i, n);
}

/* A heap of n into order: the element that comes first at h[0]. */
static void heap_to_order(const sort_row* r, int32_t* h, int64_t st, int64_t n) {
  for (int64_t end = n - 1; end > 0; end--) {
    const int32_t t = h[0];
    h[0] = h[end * st];
    h[end * st] = t;
    sift_down(r, h, st, 0, end);
  }
}

/* values[p] = the first key's x[idx[p]] for p < k, along a row. */
static void gather_row(const sort_row* r, const int32_t* idx, char* values, int64_t st, int64_t k) {
  for (int64_t p = 0; p < k; p++) memcpy(values + p * st * 4, r->first + (int64_t)idx[p * st] * r->stride * 4, 4);
}

/* sort and top_k (the latter with k of the n elements along dim). */
static void run_sort(const ttp_plan* plan, const ttp_op* op, void* const* data) {
  const ttp_tensor* x = IN(0);
  const bool is_top_k = op->code == TTP_OP_TOP_K;
  if (OUT(0)->numel == 0) return; /* else x has elements too */
  const int dim = (int)op->attrs[is_top_k ? TTP_ATTR_TOP_K_DIM : TTP_ATTR_SORT_DIM].ints[0];
  int64_t outer, n, inner;
  around_dim(x, dim, &outer, &n, &inner);
  const int64_t k = is_top_k ? op->attrs[TTP_ATTR_TOP_K_K].ints[0] : n;
  static const int64_t total_order = 1; /* top_k: IEEE totalOrder */
  sort_row r = {.plan = plan, .op = op, .data = data, .stride = inner, .n_keys = op->n_inputs,
                .first_f32 = x->dtype == TTP_DTYPE_FLOAT32};
  r.total_order = is_top_k ? &total_order : op->attrs[TTP_ATTR_SORT_TOTAL_ORDER].ints;
  r.descending = op->attrs[is_top_k ? TTP_ATTR_TOP_K_LARGEST : TTP_ATTR_SORT_DESCENDING].ints;
  r.first_total_order = r.total_order[0] != 0;
  r.first_descending = r.descending[0] != 0;
  char* values = data[op->outputs[0]];
  int32_t* indices = data[op->outputs[1]];
  for (int64_t o = 0; o < outer; o++) {
    for (int64_t j = 0; j < inner; j++) {
      r.start = o * n * inner + j;
      r.first = (const char*)data[op->inputs[0]] + r.start * 4;
      int32_t* h = indices + o * k * inner + j;
      for (int64_t p = 0; p < k; p++) h[p * inner] = i32_bits((uint32_t)p);
      heapify(&r, h, inner, k);
      for (int64_t e = k; e < n; e++) { /* top_k: e replaces the worst kept if it comes before it */
        if (row_before(&r, i32_bits((uint32_t)e), h[0])) {
          h[0] = i32_bits((uint32_t)e);
          sift_down(&r, h, inner, 0, k);
        }
      }
      heap_to_order(&r, h, inner, k);
      gather_row(&r, h, values + (o * k * inner + j) * 4, inner, k);
    }
  }
}

/* ---- conv_transpose2d ----------------------------------------------------------------------- */

static void exec_conv_transpose2d(const ttp_plan* plan, const ttp_op* op, void* const* data, const void* state,
                                  const ttp_cpu_ctx* ctx) {
  const ttp_tensor *x_t = IN(0), *w_t = IN(1), *out = OUT(0);
  if (out->numel == 0) return;
  const int64_t O = w_t->dims[3];
  const int64_t act = op->attrs[TTP_ATTR_CONV_TRANSPOSE2D_ACTIVATION].ints[0];
  const int64_t* st = op->attrs[TTP_ATTR_CONV_TRANSPOSE2D_STRIDE].ints;
  const int64_t* pad = op->attrs[TTP_ATTR_CONV_TRANSPOSE2D_PADDING].ints;
  const int64_t* dil = op->attrs[TTP_ATTR_CONV_TRANSPOSE2D_DILATION].ints;
  const float* bias = data[op->inputs[2]];
  float* y = data[op->outputs[0]];
  for (int64_t p = 0; p < out->numel / O; p++) memcpy(y + p * O, bias, (size_t)O * sizeof(float));
  if (state) { /* no state: no input channels, y = act(b) */
    const ttp_window2d g = {.N = x_t->dims[0], .H = x_t->dims[1], .W = x_t->dims[2], .C = x_t->dims[3],
                            .Ho = out->dims[1], .Wo = out->dims[2], .kh = w_t->dims[0], .kw = w_t->dims[1],
                            .sh = st[0], .sw = st[1], .pt = pad[0], .pl = pad[2], .dh = dil[0], .dw = dil[1]};
    ttp_gemm_conv_transpose2d(state, ctx, &g, data[op->inputs[0]], data[op->inputs[1]], y);
  }
  ttp_cpu_activate(ctx->isa, y, out->numel, act);
}

/* ---- gather --------------------------------------------------------------------------------- */

/* For each index position b, the slice of x of slice_sizes at the clamped
   starts (op_verify.c: 0 <= slice_sizes <= x.dims, so every clamped slice
   lies inside x) is copied to output block b. One strided walk, made once,
   serves every block; only its source moves. */
static void run_gather(const ttp_plan* plan, const ttp_op* op, void* const* data) {
  const ttp_tensor *x = IN(0), *idx_t = IN(1), *out = OUT(0);
  if (out->numel == 0) return; /* then every slice size and batch dim is nonzero below */
  const int64_t* dims = op->attrs[TTP_ATTR_GATHER_INDEX_DIMS].ints;
  const int64_t* sizes = op->attrs[TTP_ATTR_GATHER_SLICE_SIZES].ints;
  const int64_t K = idx_t->dims[idx_t->rank - 1];
  const int R = (int)x->rank;
  int64_t st[TTP_MAX_RANK], block = 1, batch = 1;
  dense_strides(x, st);
  strided s = {.rank = R, .n_in = 1};
  for (int d = 0; d < R; d++) {
    s.shape[d] = sizes[d];
    s.stride[0][d] = st[d];
    block *= sizes[d];
  }
  for (uint32_t d = 0; d + 1 < idx_t->rank; d++) batch *= idx_t->dims[d];
  strided_simplify(&s);
  const size_t size = elem_size(x->dtype);
  const row_fn copy = copy_row(x->dtype);
  const int32_t* idx = data[op->inputs[1]];
  const char* xd = data[op->inputs[0]];
  char* y = data[op->outputs[0]];
  for (int64_t b = 0; b < batch; b++, y += block * (int64_t)size) {
    int64_t base = 0;
    for (int64_t k = 0; k < K; k++) {
      const int d = (int)dims[k];
      const int64_t hi = x->dims[d] - sizes[d], v = idx[b * K + k];
      base += (v < 0 ? 0 : v > hi ? hi : v) * st[d];
    }
    const void* src = xd + base * (int64_t)size;
    strided_run(&s, copy, y, size, &src, &size);
  }
}

/* x copied to the output, then the update's rows written at the clamped
   starts (op_verify.c: the update fits x along every dim). */
static void run_update_slice(const ttp_plan* plan, const ttp_op* op, void* const* data) {
  const ttp_tensor *x = IN(0), *u = IN(1), *out = OUT(0);
  if (out->numel == 0) return;
  char* y = data[op->outputs[0]];
  memcpy(y, data[op->inputs[0]], (size_t)out->nbytes);
  if (u->numel == 0) return;
  const int32_t* starts = data[op->inputs[2]];
  const size_t size = elem_size(x->dtype);
  const int R = (int)x->rank;
  if (R == 0) {
    memcpy(y, data[op->inputs[1]], size);
    return;
  }
  int64_t st[TTP_MAX_RANK], base = 0;
  dense_strides(x, st);
  for (int d = 0; d < R; d++) {
    const int64_t hi = x->dims[d] - u->dims[d], v = starts[d];
    base += (v < 0 ? 0 : v > hi ? hi : v) * st[d];
  }
  const int64_t n = u->dims[R - 1], rows = u->numel / n;
  const char* src = data[op->inputs[1]];
  odometer it; /* over the update's outer dims, at the output's strides */
  odo_init(&it, R - 1, u->dims, st);
  for (int64_t r = 0; r < rows; r++, src += n * (int64_t)size) {
    memcpy(y + (base + it.off) * (int64_t)size, src, (size_t)n * size);
    odo_next(&it);
  }
}

/* ---- scatter -------------------------------------------------------------------------------- */

/* One window row combined into the output: y[i] = combine(y[i], u[i]). */
typedef void (*scatter_row_fn)(void* y, const void* u, int64_t n);

#define SCATTER_ROW(NAME, T, EXPR)                              \
  static void NAME(void* y_, const void* u_, int64_t n) {       \
    T* restrict y = y_;                                         \
    const T* restrict u = u_;                                   \
    for (int64_t i = 0; i < n; i++) {                           \
      const T a = y[i], b = u[i];                               \
      y[i] = (EXPR);                                            \
    }                                                           \
  }

SCATTER_ROW(scatter_add_f32, float, a + b)
SCATTER_ROW(scatter_mul_f32, float, a * b)
SCATTER_ROW(scatter_min_f32, float, f32_min(a, b))
SCATTER_ROW(scatter_max_f32, float, f32_max(a, b))
SCATTER_ROW(scatter_add_i32, int32_t, i32_add(a, b))
SCATTER_ROW(scatter_mul_i32, int32_t, i32_mul(a, b))
SCATTER_ROW(scatter_min_i32, int32_t, b < a ? b : a)
SCATTER_ROW(scatter_max_i32, int32_t, b > a ? b : a)
SCATTER_ROW(scatter_min_b8, uint8_t, (uint8_t)(a && b))
SCATTER_ROW(scatter_max_b8, uint8_t, (uint8_t)(a || b))

/* [mode][dtype]; assign (mode 0) is a copy, add and multiply of bool are
   refused by the verifier. */
static const scatter_row_fn scatter_fns[5][N_DTYPES] = {
    {NULL, NULL, NULL},
    {scatter_add_f32, scatter_add_i32, NULL},
    {scatter_mul_f32, scatter_mul_i32, NULL},
    {scatter_min_f32, scatter_min_i32, scatter_min_b8},
    {scatter_max_f32, scatter_max_i32, scatter_max_b8},
};

/* x copied to the output, then each window, in index order, combined in at
   its start; a window that would not lie wholly inside x is dropped, as
   XLA drops out-of-bounds scatter updates. Starts are compared in int64:
   an int32 index plus a window no larger than the dim cannot overflow. */
static void run_scatter(const ttp_plan* plan, const ttp_op* op, void* const* data) {
  const ttp_tensor *x = IN(0), *idx_t = IN(1), *u = IN(2), *out = OUT(0);
  if (out->numel == 0) return;
  char* y = data[op->outputs[0]];
  memcpy(y, data[op->inputs[0]], (size_t)out->nbytes);
  if (u->numel == 0) return; /* then below every window and batch dim is nonzero */
  const int64_t* dims = op->attrs[TTP_ATTR_SCATTER_INDEX_DIMS].ints;
  const int64_t mode = op->attrs[TTP_ATTR_SCATTER_MODE].ints[0];
  const scatter_row_fn fn = scatter_fns[mode][dtype_index(x->dtype)];
  const int64_t K = idx_t->dims[idx_t->rank - 1];
  const int R = (int)x->rank, nb = (int)idx_t->rank - 1;
  const int64_t* window = u->dims + nb;
  int64_t st[TTP_MAX_RANK], block = 1, batch = 1;
  dense_strides(x, st);
  for (int d = 0; d < R; d++) block *= window[d];
  for (int d = 0; d < nb; d++) batch *= idx_t->dims[d];
  const size_t size = elem_size(x->dtype);
  const int64_t n = R ? window[R - 1] : 1, rows = block / n;
  const int32_t* idx = data[op->inputs[1]];
  const char* src = data[op->inputs[2]];
  for (int64_t b = 0; b < batch; b++, src += block * (int64_t)size) {
    int64_t base = 0;
    bool inside = true;
    for (int64_t k = 0; k < K && inside; k++) {
      const int d = (int)dims[k];
      const int64_t v = idx[b * K + k];
      inside = v >= 0 && v <= x->dims[d] - window[d];
      if (inside) base += v * st[d]; /* an offset inside x: no overflow */
    }
    if (!inside) continue;
    odometer it; /* over the window's outer dims, at the output's strides */
    odo_init(&it, R ? R - 1 : 0, window, st);
    const char* row = src;
    for (int64_t r = 0; r < rows; r++, row += n * (int64_t)size) {
      char* dst = y + (base + it.off) * (int64_t)size;
      if (fn) fn(dst, row, n);
      else memcpy(dst, row, (size_t)n * size);
      odo_next(&it);
    }
  }
}

/* ---- the table ------------------------------------------------------------------------------ */

#define UNARY {has_unary, run_unary}
#define BINARY {has_binary, run_binary}
#define REDUCE {has_reduce, run_reduce}

const ttp_cpu_kernel ttp_cpu_kernels[TTP_OP_COUNT] = {
    [TTP_OP_NEG] = UNARY,
    [TTP_OP_ABS] = UNARY,
    [TTP_OP_SIGN] = UNARY,
    [TTP_OP_EXP] = UNARY,
    [TTP_OP_LOG] = UNARY,
    [TTP_OP_SQRT] = UNARY,
    [TTP_OP_RSQRT] = UNARY,
    [TTP_OP_TANH] = UNARY,
    [TTP_OP_SIGMOID] = UNARY,
    [TTP_OP_SIN] = UNARY,
    [TTP_OP_COS] = UNARY,
    [TTP_OP_FLOOR] = UNARY,
    [TTP_OP_CEIL] = UNARY,
    [TTP_OP_LOGICAL_NOT] = UNARY,
    [TTP_OP_ADD] = BINARY,
    [TTP_OP_SUBTRACT] = BINARY,
    [TTP_OP_MULTIPLY] = BINARY,
    [TTP_OP_DIVIDE] = BINARY,
    [TTP_OP_REMAINDER] = BINARY,
    [TTP_OP_MAXIMUM] = BINARY,
    [TTP_OP_MINIMUM] = BINARY,
    [TTP_OP_POW] = BINARY,
    [TTP_OP_LOGICAL_AND] = BINARY,
    [TTP_OP_LOGICAL_OR] = BINARY,
    [TTP_OP_LOGICAL_XOR] = BINARY,
    [TTP_OP_SHIFT_LEFT] = BINARY,
    [TTP_OP_SHIFT_RIGHT_LOGICAL] = BINARY,
    [TTP_OP_SHIFT_RIGHT_ARITHMETIC] = BINARY,
    [TTP_OP_EQ] = BINARY,
    [TTP_OP_NE] = BINARY,
    [TTP_OP_LT] = BINARY,
    [TTP_OP_LE] = BINARY,
    [TTP_OP_GT] = BINARY,
    [TTP_OP_GE] = BINARY,
    [TTP_OP_WHERE] = {NULL, run_where},
    [TTP_OP_TYPECAST] = {NULL, run_typecast},
    [TTP_OP_MATMUL] = {NULL, NULL, ttp_gemm_matmul_prepare, exec_matmul},
    [TTP_OP_RESHAPE] = {NULL, run_reshape},
    [TTP_OP_PERMUTE] = {NULL, run_permute},
    [TTP_OP_CONCAT] = {NULL, run_concat},
    [TTP_OP_SLICE] = {NULL, run_slice},
    [TTP_OP_REPEAT] = {NULL, run_repeat},
    [TTP_OP_SUM] = REDUCE,
    [TTP_OP_MAX] = REDUCE,
    [TTP_OP_MIN] = REDUCE,
    [TTP_OP_ARANGE] = {NULL, run_arange},
    [TTP_OP_ERF] = UNARY,
    [TTP_OP_RELU] = UNARY,
    [TTP_OP_GELU] = {NULL, NULL, NULL, exec_gelu},
    [TTP_OP_SOFTMAX] = {NULL, NULL, NULL, exec_softmax},
    [TTP_OP_LAYER_NORM] = {NULL, NULL, NULL, exec_layer_norm},
    [TTP_OP_BATCH_NORM] = {NULL, run_batch_norm},
    [TTP_OP_LINEAR] = {NULL, NULL, ttp_gemm_linear_prepare, exec_linear},
    [TTP_OP_CONV2D] = {NULL, NULL, ttp_gemm_conv2d_prepare, exec_conv2d},
    [TTP_OP_MAX_POOL2D] = {NULL, run_pool},
    [TTP_OP_AVG_POOL2D] = {NULL, run_pool},
    [TTP_OP_SUM_POOL2D] = {NULL, run_pool},
    [TTP_OP_PAD] = {NULL, run_pad},
    [TTP_OP_EMBEDDING] = {NULL, run_embedding},
    [TTP_OP_ARGMAX] = {NULL, run_arg},
    [TTP_OP_ARGMIN] = {NULL, run_arg},
    [TTP_OP_CUMSUM] = {NULL, run_cumsum},
    [TTP_OP_ERFC] = UNARY,
    [TTP_OP_EXPM1] = UNARY,
    [TTP_OP_LOG1P] = UNARY,
    [TTP_OP_ROUND] = UNARY,
    [TTP_OP_ROUND_AFZ] = UNARY,
    [TTP_OP_ISFINITE] = UNARY,
    [TTP_OP_REVERSE] = {NULL, run_reverse},
    [TTP_OP_PROD] = REDUCE,
    [TTP_OP_CUMPROD] = {NULL, run_cumsum},
    [TTP_OP_SORT] = {NULL, run_sort},
    [TTP_OP_TOP_K] = {NULL, run_sort},
    [TTP_OP_CONV_TRANSPOSE2D] = {NULL, NULL, ttp_gemm_conv_transpose2d_prepare, exec_conv_transpose2d},
    [TTP_OP_GATHER] = {NULL, run_gather},
    [TTP_OP_UPDATE_SLICE] = {NULL, run_update_slice},
    [TTP_OP_SCATTER] = {NULL, run_scatter},
    [TTP_OP_TO_LAYOUT] = {NULL, run_reshape},
    [TTP_OP_BITCAST] = {NULL, run_reshape}, /* float32 <-> int32: the same 4 bytes per element */
    [TTP_OP_TO_MEMORY_CONFIG] = {NULL, run_reshape},
};
