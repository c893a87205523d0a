/* CPU kernels for every op in the registry (ttpack/compiler/ops.py), whose
 * numpy references define the semantics matched here bit for bit where the
 * reference is exact (integer ops, copies, comparisons) and to rounding
 * where it is not (transcendentals, float sums and matmuls).
 *
 * check is the security boundary: archives are untrusted, so it verifies
 * every count, dtype, shape relationship and attribute its run function
 * relies on. run never fails, allocates nothing and touches no buffer of a
 * tensor with no elements (such buffers may be NULL).
 *
 * Numerical choices: float32 matmuls and sums accumulate in double, so their
 * results are at least as accurate as numpy's float32 BLAS / pairwise sums.
 * int32 arithmetic wraps (computed in uint32_t). bool is one byte, 0 or 1;
 * ops that compute bools (logical ops, comparisons, casts, bool max/min) read
 * any nonzero byte as true and write 0 or 1, data movement copies bytes.
 */
#include "kernels.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* ---- element types ---------------------------------------------------------- */

/* Row index into the per-op kernel tables. */
enum { F32 = 0, I32 = 1, BOOL = 2, N_DTYPES = 3 };

/* Input dtype sets of the registry (ops.py NUMERIC, FLOAT, ALL, INTEGRAL). */
#define M_F32 (1u << F32)
#define M_I32 (1u << I32)
#define M_BOOL (1u << BOOL)
#define M_NUMERIC (M_F32 | M_I32)
#define M_FLOAT M_F32
#define M_ALL (M_F32 | M_I32 | M_BOOL)
#define M_INTEGRAL (M_I32 | M_BOOL)

static int dtype_index(int dtype) {
  switch (dtype) {
    case TTP_DTYPE_FLOAT32: return F32;
    case TTP_DTYPE_INT32: return I32;
    case TTP_DTYPE_BOOL: return BOOL;
    default: return -1;
  }
}

static size_t elem_size(int dtype) { return dtype == TTP_DTYPE_BOOL ? 1 : 4; }

/* The `dtypes` tuple of each op's registry entry; arange takes no inputs. */
static const unsigned op_input_dtypes[TTP_OP_COUNT] = {
    [TTP_OP_NEG] = M_NUMERIC,     [TTP_OP_ABS] = M_NUMERIC,      [TTP_OP_SIGN] = M_NUMERIC,
    [TTP_OP_EXP] = M_FLOAT,       [TTP_OP_LOG] = M_FLOAT,        [TTP_OP_SQRT] = M_FLOAT,
    [TTP_OP_RSQRT] = M_FLOAT,     [TTP_OP_TANH] = M_FLOAT,       [TTP_OP_SIGMOID] = M_FLOAT,
    [TTP_OP_SIN] = M_FLOAT,       [TTP_OP_COS] = M_FLOAT,        [TTP_OP_FLOOR] = M_FLOAT,
    [TTP_OP_CEIL] = M_FLOAT,      [TTP_OP_LOGICAL_NOT] = M_INTEGRAL,
    [TTP_OP_ADD] = M_NUMERIC,     [TTP_OP_SUBTRACT] = M_NUMERIC, [TTP_OP_MULTIPLY] = M_NUMERIC,
    [TTP_OP_DIVIDE] = M_NUMERIC,  [TTP_OP_REMAINDER] = M_NUMERIC,
    [TTP_OP_MAXIMUM] = M_ALL,     [TTP_OP_MINIMUM] = M_ALL,      [TTP_OP_POW] = M_NUMERIC,
    [TTP_OP_LOGICAL_AND] = M_INTEGRAL, [TTP_OP_LOGICAL_OR] = M_INTEGRAL,
    [TTP_OP_LOGICAL_XOR] = M_INTEGRAL,
    [TTP_OP_SHIFT_LEFT] = M_I32,  [TTP_OP_SHIFT_RIGHT_LOGICAL] = M_I32,
    [TTP_OP_SHIFT_RIGHT_ARITHMETIC] = M_I32,
    [TTP_OP_EQ] = M_ALL,          [TTP_OP_NE] = M_ALL,           [TTP_OP_LT] = M_ALL,
    [TTP_OP_LE] = M_ALL,          [TTP_OP_GT] = M_ALL,           [TTP_OP_GE] = M_ALL,
    [TTP_OP_WHERE] = M_ALL,       [TTP_OP_TYPECAST] = M_ALL,     [TTP_OP_MATMUL] = M_NUMERIC,
    [TTP_OP_RESHAPE] = M_ALL,     [TTP_OP_PERMUTE] = M_ALL,      [TTP_OP_CONCAT] = M_ALL,
    [TTP_OP_SLICE] = M_ALL,       [TTP_OP_REPEAT] = M_ALL,       [TTP_OP_SUM] = M_NUMERIC,
    [TTP_OP_MAX] = M_ALL,         [TTP_OP_MIN] = M_ALL,          [TTP_OP_ARANGE] = 0,
};

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

static bool is_comparison(int code) { return code >= TTP_OP_EQ && code <= TTP_OP_GE; }

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

/* ---- check helpers --------------------------------------------------------------- */

#define IN(k) (&plan->tensors[op->inputs[k]])
#define OUT(k) (&plan->tensors[op->outputs[k]])

static ttp_status* op_error(ttp_status_code code, const ttp_op* op, const char* fmt, ...) TTP_PRINTF(3, 4);
static ttp_status* op_error(ttp_status_code code, const ttp_op* op, const char* fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return ttp_make_status(code, "op %s at %s: %s", ttp_op_defs[op->code].name,
                         op->location[0] ? op->location : "unknown location", msg);
}
#define BAD(...) op_error(TTP_INVALID_ARCHIVE, op, __VA_ARGS__)

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

static bool same_dims(const ttp_tensor* t, const int64_t* dims, int rank) {
  if ((int)t->rank != rank) return false;
  for (int d = 0; d < rank; d++)
    if (t->dims[d] != dims[d]) return false;
  return true;
}

static ttp_status* check_arity(const ttp_plan* plan, const ttp_op* op, uint32_t min_in,
                               uint32_t max_in) {
  if (op->n_inputs < min_in || op->n_inputs > max_in) {
    if (min_in == max_in) return BAD("takes %u input(s), got %u", min_in, op->n_inputs);
    return BAD("takes at least %u input(s), got %u", min_in, op->n_inputs);
  }
  if (op->n_outputs != 1) return BAD("has 1 output, got %u", op->n_outputs);
  /* Kernels read inputs while writing the output (restrict). */
  for (uint32_t k = 0; k < op->n_inputs; k++)
    if (op->inputs[k] == op->outputs[0])
      return BAD("output tensor %u is also input %u", op->outputs[0], k);
  (void)plan;
  return NULL;
}

static void dtype_set_str(unsigned mask, char* buf, size_t n) {
  static const char* names[N_DTYPES] = {"float32", "int32", "bool"};
  buf[0] = 0;
  for (int i = 0; i < N_DTYPES; i++)
    if (mask & (1u << i)) {
      size_t len = strlen(buf);
      snprintf(buf + len, n - len, "%s%s", len ? ", " : "", names[i]);
    }
}

/* Input k's dtype is one the op's kernel takes. Decoded plans only hold
   float32/int32/bool, so a dtype outside the op's set is a valid archive
   this device cannot run. */
static ttp_status* check_input_dtype(const ttp_plan* plan, const ttp_op* op, uint32_t k) {
  int di = dtype_index(IN(k)->dtype);
  unsigned mask = op_input_dtypes[op->code];
  if (di < 0 || !(mask & (1u << di))) {
    char takes[64];
    dtype_set_str(mask, takes, sizeof takes);
    return op_error(TTP_UNSUPPORTED, op, "does not take %s operands (input %u is %s; takes %s)",
                    ttp_dtype_name(IN(k)->dtype), k, tstr(IN(k)).s, takes);
  }
  return NULL;
}

/* Inputs [first, n_inputs) share one dtype, which the op takes. */
static ttp_status* check_same_dtypes(const ttp_plan* plan, const ttp_op* op, uint32_t first) {
  for (uint32_t k = first + 1; k < op->n_inputs; k++)
    if (IN(k)->dtype != IN(first)->dtype)
      return BAD("operands have different element types: input %u is %s, input %u is %s", first,
                 tstr(IN(first)).s, k, tstr(IN(k)).s);
  return check_input_dtype(plan, op, first);
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

/* The attribute in `slot` holds between min_n and max_n integers and no floats. */
static ttp_status* get_ints(const ttp_op* op, int slot, uint32_t min_n, uint32_t max_n,
                            const int64_t** ints, uint32_t* n) {
  const ttp_attr* a = &op->attrs[slot];
  const char* name = ttp_op_defs[op->code].attrs[slot];
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

/* A dtype attribute naming float32, int32 or bool. */
static ttp_status* get_dtype_attr(const ttp_op* op, int slot, int* dtype) {
  const int64_t* v;
  uint32_t n;
  TTP_RETURN_IF_ERROR(get_ints(op, slot, 1, 1, &v, &n));
  if (v[0] <= 0 || v[0] > 15)
    return BAD("attribute '%s' is %" PRId64 ", which is not a DataType", ttp_op_defs[op->code].attrs[slot], v[0]);
  if (dtype_index((int)v[0]) < 0)
    return op_error(TTP_UNSUPPORTED, op, "cannot produce element type %s on this device",
                    ttp_dtype_name((int)v[0]));
  *dtype = (int)v[0];
  return NULL;
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

/* ---- elementwise ops ----------------------------------------------------------------- */

static ttp_status* check_unary(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(plan, op, 1, 1));
  TTP_RETURN_IF_ERROR(check_input_dtype(plan, op, 0));
  if (!unary_fns[op->code][dtype_index(IN(0)->dtype)])
    return op_error(TTP_INTERNAL, op, "no kernel for %s", ttp_dtype_name(IN(0)->dtype));
  TTP_RETURN_IF_ERROR(check_out_dtype(plan, op, IN(0)->dtype));
  return check_out_dims(plan, op, IN(0)->dims, (int)IN(0)->rank);
}

static void run_unary(const ttp_plan* plan, const ttp_op* op, void* const* data) {
  const ttp_tensor* out = OUT(0);
  if (out->numel == 0) return;
  unary_fns[op->code][dtype_index(IN(0)->dtype)](data[op->outputs[0]], data[op->inputs[0]], out->numel);
}

static ttp_status* check_binary(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(plan, op, 2, 2));
  TTP_RETURN_IF_ERROR(check_same_dtypes(plan, op, 0));
  if (!binary_fns[op->code][dtype_index(IN(0)->dtype)])
    return op_error(TTP_INTERNAL, op, "no kernel for %s", ttp_dtype_name(IN(0)->dtype));
  TTP_RETURN_IF_ERROR(check_out_dtype(plan, op, is_comparison(op->code) ? TTP_DTYPE_BOOL : IN(0)->dtype));
  return check_broadcast_out(plan, op, 0);
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

static ttp_status* check_where(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(plan, op, 3, 3));
  if (IN(0)->dtype != TTP_DTYPE_BOOL) return BAD("condition (input 0) must be bool, got %s", tstr(IN(0)).s);
  TTP_RETURN_IF_ERROR(check_same_dtypes(plan, op, 1));
  TTP_RETURN_IF_ERROR(check_out_dtype(plan, op, IN(1)->dtype));
  return check_broadcast_out(plan, op, 0);
}

static void run_where(const ttp_plan* plan, const ttp_op* op, void* const* data) {
  run_broadcast(plan, op, data, elem_size(IN(1)->dtype) == 4 ? where_row4 : where_row1);
}

static ttp_status* check_typecast(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(plan, op, 1, 1));
  TTP_RETURN_IF_ERROR(check_input_dtype(plan, op, 0));
  int dtype;
  TTP_RETURN_IF_ERROR(get_dtype_attr(op, TTP_ATTR_TYPECAST_DTYPE, &dtype));
  TTP_RETURN_IF_ERROR(check_out_dtype(plan, op, dtype));
  return check_out_dims(plan, op, IN(0)->dims, (int)IN(0)->rank);
}

static void run_typecast(const ttp_plan* plan, const ttp_op* op, void* const* data) {
  const ttp_tensor* out = OUT(0);
  if (out->numel == 0) return;
  cast_fns[dtype_index(IN(0)->dtype)][dtype_index(out->dtype)](data[op->outputs[0]], data[op->inputs[0]],
                                                               out->numel);
}

/* ---- matmul ---------------------------------------------------------------------------- */

/* Output columns are produced TILE at a time so an i-k-j loop can keep its
   accumulators (double for float32: see the file comment) on the stack. */
#define TILE 256

#define MATMUL_FN(NAME, T, ACC, LOAD, STORE)                                          \
  static void NAME(const void* a_, const void* b_, void* c_, int64_t M, int64_t K,    \
                   int64_t N) {                                                       \
    const T* a = a_;                                                                  \
    const T* b = b_;                                                                  \
    T* restrict c = c_;                                                               \
    ACC acc[TILE];                                                                    \
    for (int64_t i = 0; i < M; i++) {                                                 \
      for (int64_t j0 = 0; j0 < N; j0 += TILE) {                                      \
        const int64_t nj = N - j0 < TILE ? N - j0 : TILE;                             \
        for (int64_t j = 0; j < nj; j++) acc[j] = 0;                                  \
        for (int64_t k = 0; k < K; k++) {                                             \
          const ACC aik = LOAD(a[i * K + k]);                                         \
          const T* brow = b + k * N + j0;                                             \
          for (int64_t j = 0; j < nj; j++) acc[j] += aik * LOAD(brow[j]);             \
        }                                                                             \
        for (int64_t j = 0; j < nj; j++) c[i * N + j0 + j] = STORE(acc[j]);           \
      }                                                                               \
    }                                                                                 \
  }
#define LOAD_F64(x) ((double)(x))
#define STORE_F32(x) ((float)(x))
#define LOAD_U32(x) ((uint32_t)(x))
MATMUL_FN(matmul_f32, float, double, LOAD_F64, STORE_F32)
MATMUL_FN(matmul_i32, int32_t, uint32_t, LOAD_U32, i32_bits)

static ttp_status* check_matmul(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(plan, op, 2, 2));
  TTP_RETURN_IF_ERROR(check_same_dtypes(plan, op, 0));
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

static void run_matmul(const ttp_plan* plan, const ttp_op* op, void* const* data) {
  const ttp_tensor *a = IN(0), *b = IN(1), *out = OUT(0);
  if (out->numel == 0) return;
  const int r = (int)out->rank - 2;
  const int64_t M = out->dims[r], N = out->dims[r + 1], K = a->dims[a->rank - 1];
  void* c = data[op->outputs[0]];
  if (K == 0) { /* a and b are empty (possibly NULL); the sum over k is 0 */
    memset(c, 0, out->nbytes);
    return;
  }
  const bool f32 = out->dtype == TTP_DTYPE_FLOAT32;
  const size_t esize = 4;
  int64_t sa[TTP_MAX_RANK], sb[TTP_MAX_RANK], batches = 1;
  broadcast_strides(a, (int)a->rank - 2, r, M * K, sa);
  broadcast_strides(b, (int)b->rank - 2, r, K * N, sb);
  for (int d = 0; d < r; d++) batches *= out->dims[d];
  odometer ia, ib;
  odo_init(&ia, r, out->dims, sa);
  odo_init(&ib, r, out->dims, sb);
  for (int64_t batch = 0; batch < batches; batch++) {
    const char* pa = (const char*)data[op->inputs[0]] + ia.off * (int64_t)esize;
    const char* pb = (const char*)data[op->inputs[1]] + ib.off * (int64_t)esize;
    char* pc = (char*)c + batch * M * N * (int64_t)esize;
    (f32 ? matmul_f32 : matmul_i32)(pa, pb, pc, M, K, N);
    odo_next(&ia);
    odo_next(&ib);
  }
}

/* ---- data movement ------------------------------------------------------------------------ */

static ttp_status* check_reshape(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(plan, op, 1, 1));
  TTP_RETURN_IF_ERROR(check_input_dtype(plan, op, 0));
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

static void run_reshape(const ttp_plan* plan, const ttp_op* op, void* const* data) {
  void* out = data[op->outputs[0]];
  const void* in = data[op->inputs[0]];
  if (OUT(0)->nbytes && out != in) memcpy(out, in, OUT(0)->nbytes);
}

static ttp_status* check_permute(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(plan, op, 1, 1));
  TTP_RETURN_IF_ERROR(check_input_dtype(plan, op, 0));
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

static ttp_status* check_concat(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(plan, op, 1, UINT32_MAX));
  TTP_RETURN_IF_ERROR(check_same_dtypes(plan, op, 0));
  const int64_t* v;
  uint32_t n;
  TTP_RETURN_IF_ERROR(get_ints(op, TTP_ATTR_CONCAT_DIM, 1, 1, &v, &n));
  const ttp_tensor *first = IN(0), *out = OUT(0);
  if (v[0] < 0 || v[0] >= (int64_t)first->rank)
    return BAD("attribute 'dim' is %" PRId64 ", out of range for %s", v[0], tstr(first).s);
  const int dim = (int)v[0];
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

static ttp_status* check_slice(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(plan, op, 1, 1));
  TTP_RETURN_IF_ERROR(check_input_dtype(plan, op, 0));
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

static ttp_status* check_repeat(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(plan, op, 1, 1));
  TTP_RETURN_IF_ERROR(check_input_dtype(plan, op, 0));
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

typedef void (*reduce_fn)(const reduce_layout* L, const void* in, void* out);
static const reduce_fn reduce_fns[TTP_OP_COUNT][N_DTYPES] = {
    [TTP_OP_SUM] = {sum_f32, sum_i32, NULL},
    [TTP_OP_MAX] = {rmax_f32, rmax_i32, rmax_b8},
    [TTP_OP_MIN] = {rmin_f32, rmin_i32, rmin_b8},
};

/* Reduction attributes' slots are the same for sum, max and min. */
_Static_assert(TTP_ATTR_SUM_DIMS == TTP_ATTR_MAX_DIMS && TTP_ATTR_SUM_DIMS == TTP_ATTR_MIN_DIMS &&
                   TTP_ATTR_SUM_KEEPDIM == TTP_ATTR_MAX_KEEPDIM && TTP_ATTR_SUM_KEEPDIM == TTP_ATTR_MIN_KEEPDIM,
               "reduction attribute slots differ");

static ttp_status* check_reduce(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(plan, op, 1, 1));
  TTP_RETURN_IF_ERROR(check_input_dtype(plan, op, 0));
  const ttp_tensor* in = IN(0);
  if (!reduce_fns[op->code][dtype_index(in->dtype)])
    return op_error(TTP_INTERNAL, op, "no kernel for %s", ttp_dtype_name(in->dtype));
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

/* start/step: one integer or one float each. Integers follow the reference's
   int64 arithmetic (wrapping); a float makes it double arithmetic. */
static ttp_status* get_number(const ttp_op* op, int slot) {
  const ttp_attr* a = &op->attrs[slot];
  const char* name = ttp_op_defs[op->code].attrs[slot];
  if (!a->present) return BAD("missing attribute '%s'", name);
  if (a->n_ints + a->n_floats != 1)
    return BAD("attribute '%s' must hold one number, has %u integer(s) and %u float(s)", name, a->n_ints,
               a->n_floats);
  return NULL;
}

static ttp_status* check_arange(const ttp_plan* plan, const ttp_op* op) {
  TTP_RETURN_IF_ERROR(check_arity(plan, op, 0, 0));
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

/* ---- the table ----------------------------------------------------------------------------------- */

#define UNARY {check_unary, run_unary}
#define BINARY {check_binary, run_binary}
#define REDUCE {check_reduce, run_reduce}

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
    [TTP_OP_WHERE] = {check_where, run_where},
    [TTP_OP_TYPECAST] = {check_typecast, run_typecast},
    [TTP_OP_MATMUL] = {check_matmul, run_matmul},
    [TTP_OP_RESHAPE] = {check_reshape, run_reshape},
    [TTP_OP_PERMUTE] = {check_permute, run_permute},
    [TTP_OP_CONCAT] = {check_concat, run_concat},
    [TTP_OP_SLICE] = {check_slice, run_slice},
    [TTP_OP_REPEAT] = {check_repeat, run_repeat},
    [TTP_OP_SUM] = REDUCE,
    [TTP_OP_MAX] = REDUCE,
    [TTP_OP_MIN] = REDUCE,
    [TTP_OP_ARANGE] = {check_arange, run_arange},
};
