/* The GEMM driver and the ops built on it (gemm.h).
 *
 * Blocking: c[M x N] is split into tasks of at most MC rows by a run of
 * column panels (NR columns each, the micro-kernel's width). A task
 * initialises its tile with the bias, then for each KC block of k gathers
 * its rows of A (in place for linear and conv_transpose2d, im2col into the thread's
 * scratch for conv2d), and for each panel runs the micro-kernel over MR rows
 * at a time, so the kc x NR panel of packed B stays in L1 while it serves the
 * task's rows. The epilogue (activation) runs on the tile once its last
 * block is added, while it is still in cache.
 *
 * Numerics: every output is bias + the sum of its KC-block partial sums in
 * k order, each block summed in float32 (with FMA where the ISA has it).
 * Neither the number of threads nor the task split changes the order of any
 * output's sum, so results are the same for any num_threads.
 *
 * Packed B: for each KC block of k (k0, kc) and panel p, kc rows of NR
 * floats at k0 * npad + p * kc * NR (npad = panels * NR), zeros past N. */
#include "gemm.h"

#include <stdlib.h>
#include <string.h>

#define GEMM_KC 256
#define GEMM_MC_TARGET 64

/* Row a[q] of a pixel whose tap falls in the padding, for 1x1 convolutions read in place. */
static const float gemm_zeros[GEMM_KC];

static int64_t panels(const ttp_cpu_isa* isa, int64_t N) { return (N + isa->nr - 1) / isa->nr; }

static size_t packed_floats(const ttp_cpu_isa* isa, int64_t K, int64_t N) {
  return (size_t)K * (size_t)(panels(isa, N) * isa->nr);
}

static void pack_b(const ttp_cpu_isa* isa, const float* b, int64_t ldb, int64_t K, int64_t N, float* packed) {
  const int nr = isa->nr;
  const int64_t np = panels(isa, N), npad = np * nr;
  for (int64_t k0 = 0; k0 < K; k0 += GEMM_KC) {
    const int64_t kc = K - k0 < GEMM_KC ? K - k0 : GEMM_KC;
    for (int64_t p = 0; p < np; p++) {
      float* dst = packed + k0 * npad + p * kc * nr;
      const int64_t j0 = p * nr, w = N - j0 < nr ? N - j0 : nr;
      for (int64_t k = 0; k < kc; k++) {
        memcpy(dst + k * nr, b + (k0 + k) * ldb + j0, (size_t)w * sizeof(float));
        for (int64_t j = w; j < nr; j++) dst[k * nr + j] = 0.0f;
      }
    }
  }
}

/* ---- the driver ------------------------------------------------------------------------------ */

/* Where a task's rows of A come from. */
typedef struct conv_rows {
  const ttp_window2d* g;
  const float* x;
  int64_t cg;      /* channels per group: k = tap * cg + c */
  int64_t c_off;   /* the group's first input channel */
} conv_rows;

typedef struct gemm_job {
  const ttp_cpu_isa* isa;
  int64_t M, N, K;
  const float* packed;
  float* c;
  int64_t ldc;
  const float* bias; /* N values, or NULL for zeros */
  int accumulate;    /* add to c as it is (no bias) */
  int64_t act;
  const float* a;    /* row i of A at a + i * lda (when conv is NULL) */
  int64_t lda;
  const conv_rows* conv;
  const ttp_gemm_batches* batches; /* NULL: one */
  const float* b;                  /* batches, unpacked: batch i's B at batch offset i (b_stride) */
  size_t packed_batch_floats;      /* batches: packed B of batch i at packed + i * this (0: one B) */
  int64_t mc, panels_per_task, n_col_tasks, row_tasks;
  unsigned char* thread_scratch;
  size_t thread_stride;
} gemm_job;

/* conv2d's A rows q < m (pixels row0 + q), k in [k0, k0 + kc): the taps'
   input channels, zeros in the padding. A 1x1 window reads x in place. */
static void conv_gather(const conv_rows* cr, int64_t row0, int64_t m, int64_t k0, int64_t kc, const float** a,
                        float* scratch) {
  const ttp_window2d* g = cr->g;
  for (int64_t q = 0; q < m; q++) {
    const int64_t p = row0 + q, n = p / (g->Ho * g->Wo), oh = p / g->Wo % g->Ho, ow = p % g->Wo;
    const int64_t ih0 = oh * g->sh - g->pt, iw0 = ow * g->sw - g->pl;
    if (g->kh * g->kw == 1) {
      const bool inside = ih0 >= 0 && ih0 < g->H && iw0 >= 0 && iw0 < g->W;
      a[q] = inside ? cr->x + ((n * g->H + ih0) * g->W + iw0) * g->C + cr->c_off + k0 : gemm_zeros;
      continue;
    }
    float* row = scratch + q * GEMM_KC;
    a[q] = row;
    for (int64_t k = k0; k < k0 + kc;) {
      const int64_t tap = k / cr->cg, c = k % cr->cg;
      const int64_t len = cr->cg - c < k0 + kc - k ? cr->cg - c : k0 + kc - k;
      const int64_t ih = ih0 + tap / g->kw * g->dh, iw = iw0 + tap % g->kw * g->dw;
      if (ih >= 0 && ih < g->H && iw >= 0 && iw < g->W)
        memcpy(row + (k - k0), cr->x + ((n * g->H + ih) * g->W + iw) * g->C + cr->c_off + c, (size_t)len * sizeof(float));
      else
        memset(row + (k - k0), 0, (size_t)len * sizeof(float));
      k += len;
    }
  }
}

int64_t ttp_gemm_batch_offset(const ttp_gemm_batches* bt, const int64_t* s, int64_t batch) {
  int64_t off = 0;
  for (int d = bt->rank - 1; d >= 0; d--) {
    off += batch % bt->dims[d] * s[d];
    batch /= bt->dims[d];
  }
  return off;
}

static void gemm_tile_task(const gemm_job* j, int64_t task, int thread);

static void gemm_task(void* arg, int64_t task, int thread) {
  const gemm_job* j = arg;
  if (!j->batches) {
    gemm_tile_task(j, task, thread);
    return;
  }
  /* one batch of a matmul: the same job on that batch's operands */
  const int64_t per_batch = j->row_tasks * j->n_col_tasks, batch = task / per_batch;
  gemm_job one = *j;
  one.a = j->a + ttp_gemm_batch_offset(j->batches, j->batches->a_stride, batch);
  one.c = j->c + batch * j->M * j->ldc;
  one.packed = j->packed + (size_t)batch * j->packed_batch_floats;
  gemm_tile_task(&one, task % per_batch, thread);
}

static void gemm_tile_task(const gemm_job* j, int64_t task, int thread) {
  const ttp_cpu_isa* isa = j->isa;
  const int mr = isa->mr, nr = isa->nr;
  const int64_t i0 = task / j->n_col_tasks * j->mc, m = j->M - i0 < j->mc ? j->M - i0 : j->mc;
  const int64_t np = panels(isa, j->N), npad = np * nr;
  const int64_t p0 = task % j->n_col_tasks * j->panels_per_task;
  const int64_t p1 = p0 + j->panels_per_task < np ? p0 + j->panels_per_task : np;
  const int64_t c0 = p0 * nr, c1 = p1 * nr < j->N ? p1 * nr : j->N;
  float* scratch = (float*)(j->thread_scratch + (size_t)thread * j->thread_stride);
  const float* a[GEMM_MC_TARGET + 8];
  for (int64_t q = 0; q < m && !j->accumulate; q++) {
    float* row = j->c + (i0 + q) * j->ldc + c0;
    if (j->bias) memcpy(row, j->bias + c0, (size_t)(c1 - c0) * sizeof(float));
    else memset(row, 0, (size_t)(c1 - c0) * sizeof(float));
  }
  for (int64_t k0 = 0; k0 < j->K; k0 += GEMM_KC) {
    const int64_t kc = j->K - k0 < GEMM_KC ? j->K - k0 : GEMM_KC;
    if (j->conv) conv_gather(j->conv, i0, m, k0, kc, a, scratch);
    else
      for (int64_t q = 0; q < m; q++) a[q] = j->a + (i0 + q) * j->lda + k0;
    if (m == 1 && isa->gemm_row) { /* one row (batch 1): four panels at a time */
      for (int64_t p = p0; p < p1; p += 4) {
        const int np = p1 - p < 4 ? (int)(p1 - p) : 4;
        const int64_t last = p + np - 1;
        const int w = j->N - last * nr < nr ? (int)(j->N - last * nr) : nr;
        isa->gemm_row(kc, a[0], j->packed + k0 * npad + p * kc * nr, kc * nr, np, j->c + i0 * j->ldc + p * nr, w);
      }
      continue;
    }
    for (int64_t p = p0; p < p1; p++) {
      const float* bp = j->packed + k0 * npad + p * kc * nr;
      const int w = j->N - p * nr < nr ? (int)(j->N - p * nr) : nr;
      for (int64_t r = 0; r < m; r += mr) {
        const int rows = m - r < mr ? (int)(m - r) : mr;
        isa->gemm(kc, a + r, bp, j->c + (i0 + r) * j->ldc + p * nr, j->ldc, rows, w);
      }
    }
  }
  if (j->act != TTP_ACTIVATION_NONE)
    for (int64_t q = 0; q < m; q++) ttp_cpu_activate(isa, j->c + (i0 + q) * j->ldc + c0, c1 - c0, j->act);
}

static int64_t row_block(const ttp_cpu_isa* isa) { return GEMM_MC_TARGET / isa->mr * isa->mr; }

/* Splits the job into tasks (row blocks by column-panel runs) so every
   thread gets a share, and runs them. */
static void gemm_run(gemm_job* j, const ttp_cpu_ctx* ctx) {
  if (j->M == 0 || j->N == 0) return;
  const int threads = ttp_thread_pool_size(ctx->pool);
  const int64_t np = panels(j->isa, j->N), batches = j->batches ? j->batches->count : 1;
  j->mc = row_block(j->isa);
  j->row_tasks = (j->M + j->mc - 1) / j->mc;
  int64_t col_tasks = 1;
  if (threads > 1 && batches * j->row_tasks < 2 * threads) {
    col_tasks = (2 * threads + batches * j->row_tasks - 1) / (batches * j->row_tasks);
    if (col_tasks > np) col_tasks = np;
  }
  j->panels_per_task = (np + col_tasks - 1) / col_tasks;
  j->n_col_tasks = (np + j->panels_per_task - 1) / j->panels_per_task;
  j->thread_scratch = ctx->thread_scratch;
  j->thread_stride = ctx->thread_stride;
  ttp_thread_pool_run(ctx->pool, batches * j->row_tasks * j->n_col_tasks, gemm_task, j);
}

/* ---- per-op state ---------------------------------------------------------------------------- */

/* An op's Bs: n_b matrices of K x N, row stride ldb; B number i starts at
   (i / groups) * tap_step + (i % groups) * group_step in the operand (conv2d:
   one per group; conv_transpose2d: one per tap and group). */
typedef struct gemm_state {
  int64_t K, N, ldb, n_b, groups, tap_step, group_step;
  size_t b_floats;       /* packed floats per B */
  int prepacked;         /* 0: packed at run into the shared scratch */
} gemm_state;

/* The packed data follows the header, on a cache line. */
#define STATE_HEADER ((sizeof(gemm_state) + 63) / 64 * 64)

static const float* state_packed(const gemm_state* s) { return (const float*)((const char*)s + STATE_HEADER); }

static void pack_all(const ttp_cpu_isa* isa, const gemm_state* s, const float* b, float* dst) {
  for (int64_t i = 0; i < s->n_b; i++)
    pack_b(isa, b + i / s->groups * s->tap_step + i % s->groups * s->group_step, s->ldb, s->K, s->N,
           dst + (size_t)i * s->b_floats);
}

/* b: the operand when it is a weight (packed now), else NULL (packed at run). */
static ttp_status* make_state(const ttp_cpu_isa* isa, gemm_state shape, const float* b, ttp_kernel_prepared* out) {
  shape.b_floats = packed_floats(isa, shape.K, shape.N);
  shape.prepacked = b != NULL;
  const size_t bytes = shape.b_floats * (size_t)shape.n_b * sizeof(float);
  const size_t total = STATE_HEADER + (b ? bytes : 0);
  gemm_state* s = aligned_alloc(64, (total + 63) & ~(size_t)63);
  if (!s) return ttp_make_status(TTP_OUT_OF_MEMORY, "out of memory packing a %lld x %lld weight",
                                 (long long)shape.K, (long long)shape.N);
  *s = shape;
  if (b) pack_all(isa, s, b, (float*)state_packed(s));
  else out->scratch_bytes = bytes;
  out->state = s;
  return NULL;
}

#define IN(k) (&plan->tensors[op->inputs[k]])
#define OUT(k) (&plan->tensors[op->outputs[k]])

static const float* weight_or_null(const ttp_tensor* t) {
  return t->kind == TTP_TENSOR_WEIGHT && t->numel > 0 ? t->weight_data : NULL;
}

ttp_status* ttp_gemm_linear_prepare(const ttp_plan* plan, const ttp_op* op, const ttp_cpu_isa* isa,
                                    ttp_kernel_prepared* out) {
  const ttp_tensor* w = IN(1);
  const gemm_state shape = {.K = w->dims[0], .N = w->dims[1], .ldb = w->dims[1], .n_b = 1, .groups = 1};
  return make_state(isa, shape, weight_or_null(w), out);
}

ttp_status* ttp_gemm_conv2d_prepare(const ttp_plan* plan, const ttp_op* op, const ttp_cpu_isa* isa,
                                    ttp_kernel_prepared* out) {
  const ttp_tensor* w = IN(1);
  const int64_t kh = w->dims[0], kw = w->dims[1], cg = w->dims[2], O = w->dims[3];
  const int64_t groups = op->attrs[TTP_ATTR_CONV2D_GROUPS].ints[0];
  if (cg == 0 || OUT(0)->numel == 0 || (cg == 1 && groups == IN(0)->dims[3])) return NULL; /* direct kernels */
  out->thread_scratch_bytes = (size_t)(row_block(isa)) * GEMM_KC * sizeof(float);
  /* HWIO is a (kh * kw * cg) x O matrix; group g is its columns [g * og, (g + 1) * og) */
  const gemm_state shape = {.K = kh * kw * cg, .N = O / groups, .ldb = O, .n_b = groups, .groups = groups,
                            .group_step = O / groups};
  return make_state(isa, shape, weight_or_null(w), out);
}

ttp_status* ttp_gemm_conv_transpose2d_prepare(const ttp_plan* plan, const ttp_op* op, const ttp_cpu_isa* isa,
                                              ttp_kernel_prepared* out) {
  const ttp_tensor* w = IN(1);
  const int64_t taps = w->dims[0] * w->dims[1], cg = w->dims[2], O = w->dims[3];
  const int64_t groups = op->attrs[TTP_ATTR_CONV_TRANSPOSE2D_GROUPS].ints[0];
  if (cg == 0 || OUT(0)->numel == 0) return NULL;
  /* tap t, group g: rows [t * cg, (t + 1) * cg) of HWIO, columns [g * og, (g + 1) * og) */
  const gemm_state shape = {.K = cg, .N = O / groups, .ldb = O, .n_b = taps * groups, .groups = groups,
                            .tap_step = cg * O, .group_step = O / groups};
  return make_state(isa, shape, weight_or_null(w), out);
}

ttp_status* ttp_gemm_matmul_prepare(const ttp_plan* plan, const ttp_op* op, const ttp_cpu_isa* isa,
                                    ttp_kernel_prepared* out) {
  const ttp_tensor *b = IN(1), *c = OUT(0);
  if (c->dtype != TTP_DTYPE_FLOAT32 || c->numel == 0) return NULL; /* int32: kernels.c's exact kernel */
  const int64_t K = b->dims[b->rank - 2], N = b->dims[b->rank - 1];
  const gemm_state shape = {.K = K, .N = N, .ldb = N, .n_b = 1, .groups = 1};
  /* a constant 2-D right operand serves every batch: packed once; else each
     batch's B is packed at run, all batches before the products start */
  const float* w = b->rank == 2 ? weight_or_null(b) : NULL;
  TTP_RETURN_IF_ERROR(make_state(isa, shape, w, out));
  int64_t batches = 1;
  for (uint32_t d = 0; d + 2 < c->rank; d++) batches *= c->dims[d];
  if (!w) out->scratch_bytes *= (size_t)batches;
  return NULL;
}

/* ---- running ------------------------------------------------------------------------------ */

static const float* packed_b(const gemm_state* s, const ttp_cpu_ctx* ctx, const float* b) {
  if (s->prepacked) return state_packed(s);
  pack_all(ctx->isa, s, b, (float*)ctx->scratch);
  return (const float*)ctx->scratch;
}

void ttp_gemm_linear(const void* state, const ttp_cpu_ctx* ctx, const float* x, const float* w, const float* bias,
                     float* y, int64_t M, int64_t act) {
  const gemm_state* s = state;
  gemm_job j = {.isa = ctx->isa, .M = M, .N = s->N, .K = s->K, .c = y, .ldc = s->N, .bias = bias, .act = act,
                .a = x, .lda = s->K};
  j.packed = s->K ? packed_b(s, ctx, w) : NULL;
  gemm_run(&j, ctx);
}

void ttp_gemm_conv2d(const void* state, const ttp_cpu_ctx* ctx, const ttp_window2d* g, const float* x,
                     const float* w, const float* bias, float* y, int64_t act) {
  const gemm_state* s = state;
  const int64_t og = s->N, O = og * s->groups, cg = s->K / (g->kh * g->kw);
  const float* packed = packed_b(s, ctx, w);
  for (int64_t grp = 0; grp < s->groups; grp++) {
    conv_rows rows = {g, x, cg, grp * cg};
    gemm_job j = {.isa = ctx->isa, .M = g->N * g->Ho * g->Wo, .N = og, .K = s->K,
                  .packed = packed + grp * s->b_floats, .c = y + grp * og, .ldc = O, .bias = bias + grp * og,
                  .act = act, .conv = &rows};
    gemm_run(&j, ctx);
  }
}

typedef struct pack_job {
  const ttp_cpu_isa* isa;
  const gemm_state* s;
  const ttp_gemm_batches* batches;
  const float* b;
  float* dst;
} pack_job;

static void pack_task(void* arg, int64_t batch, int thread) {
  (void)thread;
  const pack_job* p = arg;
  pack_b(p->isa, p->b + ttp_gemm_batch_offset(p->batches, p->batches->b_stride, batch), p->s->ldb, p->s->K, p->s->N,
         p->dst + (size_t)batch * p->s->b_floats);
}

void ttp_gemm_matmul(const void* state, const ttp_cpu_ctx* ctx, const ttp_gemm_batches* batches, int64_t M,
                     const float* a, const float* b, float* c) {
  const gemm_state* s = state;
  gemm_job j = {.isa = ctx->isa, .M = M, .N = s->N, .K = s->K, .c = c, .ldc = s->N, .a = a, .lda = s->K,
                .batches = batches};
  if (s->prepacked) {
    j.packed = state_packed(s);
  } else {
    pack_job p = {ctx->isa, s, batches, b, (float*)ctx->scratch};
    ttp_thread_pool_run(ctx->pool, batches->count, pack_task, &p);
    j.packed = p.dst;
    j.packed_batch_floats = s->b_floats;
  }
  gemm_run(&j, ctx);
}

/* Each input pixel (h, w) adds x[h, w] @ w[i][j] to the output pixel
   (h * sh - pt + i * dh, w * sw - pl + j * dw), for each tap inside the
   output. For one input row, tap and group, the pixels of consecutive w
   land sw output pixels apart, so each such run of inputs is one GEMM whose
   output rows are sw * O floats apart, added to what the other taps left. The
   verifier bounds every position by the uncropped output extent. */
void ttp_gemm_conv_transpose2d(const void* state, const ttp_cpu_ctx* ctx, const ttp_window2d* g, const float* x,
                               const float* w, float* y) {
  const gemm_state* s = state;
  const int64_t cg = s->K, og = s->N, O = og * s->groups;
  const float* packed = packed_b(s, ctx, w);
  for (int64_t n = 0; n < g->N; n++) {
    for (int64_t h = 0; h < g->H; h++) {
      for (int64_t i = 0; i < g->kh; i++) {
        const int64_t oh = h * g->sh - g->pt + i * g->dh;
        if (oh < 0 || oh >= g->Ho) continue;
        for (int64_t j = 0; j < g->kw; j++) {
          /* output column ow = w * sw + off; the w with 0 <= ow < Wo are [w0, w1) */
          const int64_t off = j * g->dw - g->pl;
          const int64_t w0 = off >= 0 ? 0 : (-off + g->sw - 1) / g->sw;
          int64_t w1 = g->Wo - 1 - off >= 0 ? (g->Wo - 1 - off) / g->sw + 1 : 0;
          if (w1 > g->W) w1 = g->W;
          if (w0 >= w1) continue;
          const float* xrow = x + ((n * g->H + h) * g->W + w0) * g->C;
          float* yrow = y + ((n * g->Ho + oh) * g->Wo + w0 * g->sw + off) * O;
          for (int64_t grp = 0; grp < s->groups; grp++) {
            gemm_job jb = {.isa = ctx->isa, .M = w1 - w0, .N = og, .K = cg,
                           .packed = packed + ((i * g->kw + j) * s->groups + grp) * s->b_floats,
                           .c = yrow + grp * og, .ldc = g->sw * O, .accumulate = 1, .a = xrow + grp * cg,
                           .lda = g->C};
            gemm_run(&jb, ctx);
          }
        }
      }
    }
  }
}
