/* The CPU device: executes a plan's ops in order with the kernels in
 * kernels.c, on dense row-major tensors in host memory.
 *
 * It runs archives built for any target. A chip's archive is emulated, not
 * run on a chip: the device computes on a "compute view" of the plan in
 * which every float tensor is float32 (bfloat16 and block-float values are
 * exactly representable in float32), integers int32 and predicates bool.
 *  - Weights stored in a chip's form (tilized, bfloat16, block-float packed)
 *    are decoded once, at prepare.
 *  - After an op runs, each output is rounded to what its storage holds:
 *    bfloat16 to nearest even, bfloat8_b / bfloat4_b by shared-exponent
 *    blocks of 16 along a row (tensor_codec.c), so the next op reads the
 *    values a chip's next op would read.
 *  - matmul, linear and conv2d with a compute config model the matrix
 *    engine's math fidelity by cutting operands to the bits each phase
 *    multiplies: A to its top 5 significant bits (hidden + 4), B to its top
 *    7 (hidden + 6); LoFi = hi(A)hi(B), HiFi2 = A hi(B), HiFi3 = A hi(B) +
 *    hi(A) lo(B), HiFi4 = A B. Without fp32_dest_acc_en the result leaves a
 *    bfloat16 destination register (rounded to bfloat16).
 * Everything is allocated in prepare (one arena for all intermediates,
 * reused by liveness; each op's kernel state, such as packed weights; the
 * scratch the kernels ask for), so a run allocates nothing.
 *
 * The device (opened once, shared by its programs) holds the thread pool
 * and the micro-kernels chosen for this CPU (isa/cpu_isa.c). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../device.h"
#include "../op_verify.h"
#include "../schema_generated.h"
#include "../status.h"
#include "../tensor_codec.h"
#include "control_flow.h"
#include "isa/cpu_isa.h"
#include "kernels.h"
#include "thread_pool.h"

#define ARENA_ALIGN 64

enum quantize { Q_NONE, Q_BF16, Q_BFP8, Q_BFP4, Q_F16 };
enum cut { CUT_NONE, CUT_HI5, CUT_HI7, CUT_LO7 };

/* One operand transform of an emulated op: dst = cut(src). */
typedef struct operand_cut {
  uint32_t src, dst;
  int cut;
} operand_cut;

/* How one matrix-engine op is emulated: run `first` (operands cut), then for
   two-phase fidelities `second` into `partial`, add, activate. */
typedef struct emulated_op {
  ttp_op first, second;
  uint32_t n_cuts;
  operand_cut cuts[2];   /* activation operands, cut at run time */
  int two_phase;
  uint32_t partial;      /* view tensor of the second phase's result */
  int64_t activation;    /* applied after the sum (two phases only) */
  int round_bf16;        /* !fp32_dest_acc_en */
} emulated_op;

typedef struct cpu_device {
  const ttp_cpu_isa* isa;
  ttp_thread_pool* pool;
} cpu_device;

typedef struct cpu_executable {
  const ttp_plan* plan;   /* as decoded: bindings and their host storage */
  ttp_cpu_ctx ctx;        /* the device's isa and pool, this executable's scratch */
  void** states;          /* per op: kernel state of the op (or of an emulated op's first phase), then of the second */
  ttp_plan view;          /* the compute view: view.tensors/ops are owned */
  uint8_t* quantize;      /* per view tensor: enum quantize, applied when produced */
  emulated_op** emulated; /* per op: NULL or how it is emulated */
  void** owned;           /* buffers owned by the executable (decoded weights, cut weights) */
  size_t n_owned, owned_cap;
  size_t* offsets;        /* arena offset per view tensor (intermediates, converted inputs) */
  uint8_t* in_arena;      /* per view tensor: lives in the arena */
  void** data;            /* per view tensor buffer pointers, rebound each run */
  unsigned char* arena;
  size_t arena_size;
  pthread_mutex_t lock;   /* one run at a time: data[] and the arena are shared */
} cpu_executable;

static size_t align_up(size_t n) { return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1); }

/* bfloat16 and float16 compute in float32, rounded where they are stored */
static int compute_dtype(int logical) {
  return logical == TTP_DTYPE_BFLOAT16 || logical == TTP_DTYPE_FLOAT16 ? TTP_DTYPE_FLOAT32 : logical;
}

/* Callers pass bfloat16 and float16 tensors as 16-bit patterns. */
static float half_to_f32(int dtype, uint16_t bits) {
  return dtype == TTP_DTYPE_FLOAT16 ? ttp_f16_to_f32(bits) : ttp_bf16_to_f32(bits);
}

static size_t compute_size(int dtype) { return dtype == TTP_DTYPE_BOOL ? 1 : 4; }

static int quantize_of(const ttp_tensor* t) {
  if (t->dtype != TTP_DTYPE_FLOAT32 && t->dtype != TTP_DTYPE_BFLOAT16 && t->dtype != TTP_DTYPE_FLOAT16)
    return Q_NONE;
  switch (t->storage.dtype) {
    case TTP_DTYPE_BFLOAT16: return Q_BF16;
    case TTP_DTYPE_FLOAT16: return Q_F16;
    case TTP_DTYPE_BFLOAT8_B: return Q_BFP8;
    case TTP_DTYPE_BFLOAT4_B: return Q_BFP4;
    default: return t->dtype == TTP_DTYPE_BFLOAT16 ? Q_BF16 : Q_NONE;
  }
}

static void quantize_tensor(const ttp_tensor* t, float* x, int q) {
  if (t->numel == 0) return;
  size_t width = t->rank ? (size_t)t->dims[t->rank - 1] : 1;
  switch (q) {
    case Q_BF16: ttp_round_bf16_inplace(x, (size_t)t->numel); break;
    case Q_F16: ttp_round_f16_inplace(x, (size_t)t->numel); break;
    case Q_BFP8: ttp_quantize_block_float_inplace(x, (size_t)t->numel / width, width, 7); break;
    case Q_BFP4: ttp_quantize_block_float_inplace(x, (size_t)t->numel / width, width, 3); break;
    default: break;
  }
}

static float cut_value(float x, int cut) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  /* sign and exponent, then the top 4 (HI5) or 6 (HI7) of 23 mantissa bits */
  uint32_t hi = cut == CUT_HI5 ? (u & 0xFFF80000u) : (u & 0xFFFE0000u);
  float h;
  memcpy(&h, &hi, sizeof h);
  return cut == CUT_LO7 ? x - h : h;
}

static void cut_tensor(const float* src, float* dst, int64_t n, int cut) {
  for (int64_t i = 0; i < n; i++) dst[i] = cut_value(src[i], cut);
}

/* ---- preparing the compute view ------------------------------------------------------- */

/* A buffer freed with the executable; NULL (reported as out of memory) when
   allocation fails or the table sized in build_view is full. */
static void* own(cpu_executable* ex, size_t bytes) {
  if (ex->n_owned == ex->owned_cap) return NULL;
  void* p = aligned_alloc(ARENA_ALIGN, align_up(bytes ? bytes : 1));
  if (p) ex->owned[ex->n_owned++] = p;
  return p;
}

/* A weight's bytes in compute form: in place when the stored form is
   already that, else decoded into a buffer the executable owns. */
static ttp_status* bind_weight(cpu_executable* ex, const ttp_tensor* stored, ttp_tensor* t) {
  const ttp_storage* s = &stored->storage;
  int dense = s->layout == TTP_FB_LAYOUT_ROWMAJOR && s->dtype == t->dtype;
  if (dense) return NULL; /* t->weight_data already points into the archive */
  void* buf = own(ex, t->nbytes);
  if (!buf) return ttp_make_status(TTP_OUT_OF_MEMORY, "out of memory decoding a %zu-byte weight", t->nbytes);
  int64_t n = t->numel;
  const void* src = stored->weight_data;
  if (s->layout == TTP_FB_LAYOUT_TILE) {
    if (t->dtype == TTP_DTYPE_FLOAT32) {
      ttp_decode_tiles_to_f32(src, s->dtype, t->dims, t->rank, buf);
    } else if (t->dtype == TTP_DTYPE_INT32) {
      ttp_decode_tiles_to_i32(src, s->dtype, t->dims, t->rank, buf);
    } else { /* bool held as uint8 tiles: decode through int32, one value at a time */
      int32_t* tmp = own(ex, (size_t)n * 4);
      if (!tmp) return ttp_make_status(TTP_OUT_OF_MEMORY, "out of memory decoding a weight");
      ttp_decode_tiles_to_i32(src, s->dtype, t->dims, t->rank, tmp);
      for (int64_t i = 0; i < n; i++) ((uint8_t*)buf)[i] = tmp[i] != 0;
    }
  } else {
    const uint8_t* b = src;
    for (int64_t i = 0; i < n; i++) {
      uint16_t u16;
      uint32_t u32;
      switch (s->dtype) {
        case TTP_DTYPE_BFLOAT16:
        case TTP_DTYPE_FLOAT16:
          memcpy(&u16, b + 2 * i, 2);
          ((float*)buf)[i] = half_to_f32(s->dtype, u16);
          break;
        case TTP_DTYPE_UINT32:
        case TTP_DTYPE_INT32:
          memcpy(&u32, b + 4 * i, 4);
          memcpy((uint8_t*)buf + 4 * i, &u32, 4);
          break;
        case TTP_DTYPE_UINT16:
          memcpy(&u16, b + 2 * i, 2);
          ((int32_t*)buf)[i] = u16;
          break;
        case TTP_DTYPE_UINT8:
        case TTP_DTYPE_BOOL:
          if (t->dtype == TTP_DTYPE_BOOL) ((uint8_t*)buf)[i] = b[i] != 0;
          else ((int32_t*)buf)[i] = b[i];
          break;
        default:
          return ttp_make_status(TTP_UNSUPPORTED, "the cpu device cannot read %s weights as %s",
                                 ttp_dtype_name(s->dtype), ttp_dtype_name(t->dtype));
      }
    }
  }
  t->weight_data = buf;
  return NULL;
}

static int64_t attr_int(const ttp_op* op, const char* name, int64_t fallback) {
  for (int s = 0; s < TTP_MAX_ATTRS && ttp_op_defs[op->code].attrs[s]; s++)
    if (strcmp(ttp_op_defs[op->code].attrs[s], name) == 0) {
      const ttp_attr* a = &op->attrs[s];
      return a->present && a->n_ints == 1 ? a->ints[0] : fallback;
    }
  return fallback;
}

static int attr_slot(const ttp_op* op, const char* name) {
  for (int s = 0; s < TTP_MAX_ATTRS && ttp_op_defs[op->code].attrs[s]; s++)
    if (strcmp(ttp_op_defs[op->code].attrs[s], name) == 0) return s;
  return -1;
}

static const int64_t no_activation = TTP_ACTIVATION_NONE;

/* A new view tensor shaped like `like`: an arena intermediate, or (weight
   data given) a weight bound to it. */
static uint32_t add_tensor(cpu_executable* ex, const ttp_tensor* like, const void* weight_data) {
  uint32_t t = ex->view.n_tensors++;
  ttp_tensor* v = &ex->view.tensors[t];
  *v = *like;
  v->kind = weight_data ? TTP_TENSOR_WEIGHT : TTP_TENSOR_INTERMEDIATE;
  v->weight_data = weight_data;
  ex->quantize[t] = Q_NONE;
  return t;
}

/* Operand `index` of op cut to `cut`: a weight is cut once, now; an
   activation gets an arena tensor cut at run time. */
static ttp_status* cut_operand(cpu_executable* ex, emulated_op* e, ttp_op* op, uint32_t index, int cut) {
  uint32_t src = op->inputs[index];
  const ttp_tensor* t = &ex->view.tensors[src];
  uint32_t dst;
  if (t->kind == TTP_TENSOR_WEIGHT) {
    float* buf = own(ex, t->nbytes);
    if (!buf) return ttp_make_status(TTP_OUT_OF_MEMORY, "out of memory emulating math fidelity");
    cut_tensor(t->weight_data, buf, t->numel, cut);
    dst = add_tensor(ex, t, buf);
  } else {
    dst = add_tensor(ex, t, NULL);
    e->cuts[e->n_cuts++] = (operand_cut){src, dst, cut};
  }
  uint32_t* inputs = own(ex, sizeof(uint32_t) * op->n_inputs);
  if (!inputs) return ttp_make_status(TTP_OUT_OF_MEMORY, "out of memory emulating math fidelity");
  memcpy(inputs, op->inputs, sizeof(uint32_t) * op->n_inputs);
  inputs[index] = dst;
  op->inputs = inputs;
  return NULL;
}

/* Extra view tensors an emulated op may add: two cut operands per phase,
   a partial result and a zero bias. */
#define EMULATION_TENSORS 6

static int is_matrix_engine(int code) {
  return code == TTP_OP_MATMUL || code == TTP_OP_LINEAR || code == TTP_OP_CONV2D || code == TTP_OP_CONV_TRANSPOSE2D;
}

static ttp_status* emulate_fidelity(cpu_executable* ex, uint32_t i) {
  ttp_op* op = &ex->view.ops[i];
  if (!is_matrix_engine(op->code)) return NULL;
  /* The verifier has checked both: the fidelity is absent (-1) or one of the four below, the flag 0 or 1. */
  int64_t fidelity = attr_int(op, "math_fidelity", -1);
  int64_t fp32_acc = attr_int(op, "fp32_dest_acc_en", 1);
  if (fidelity < 0 && fp32_acc) return NULL; /* no compute config: exact float32 (a cpu build) */
  if (ex->view.tensors[op->inputs[0]].dtype != TTP_DTYPE_FLOAT32) return NULL; /* integer matmul: exact */
  emulated_op* e = calloc(1, sizeof *e);
  if (!e) return ttp_make_status(TTP_OUT_OF_MEMORY, "out of memory emulating math fidelity");
  ex->emulated[i] = e;
  e->round_bf16 = !fp32_acc;
  e->first = *op;
  if (fidelity == TTP_MATH_FIDELITY_LOFI) {
    TTP_RETURN_IF_ERROR(cut_operand(ex, e, &e->first, 0, CUT_HI5));
    TTP_RETURN_IF_ERROR(cut_operand(ex, e, &e->first, 1, CUT_HI7));
  } else if (fidelity == TTP_MATH_FIDELITY_HIFI2) {
    TTP_RETURN_IF_ERROR(cut_operand(ex, e, &e->first, 1, CUT_HI7));
  } else if (fidelity == TTP_MATH_FIDELITY_HIFI3) {
    e->two_phase = 1;
    int act_slot = attr_slot(op, "activation");
    e->activation = act_slot >= 0 ? op->attrs[act_slot].ints[0] : TTP_ACTIVATION_NONE;
    e->second = *op;
    TTP_RETURN_IF_ERROR(cut_operand(ex, e, &e->first, 1, CUT_HI7));
    TTP_RETURN_IF_ERROR(cut_operand(ex, e, &e->second, 0, CUT_HI5));
    TTP_RETURN_IF_ERROR(cut_operand(ex, e, &e->second, 1, CUT_LO7));
    if (act_slot >= 0) { /* activate once, after both phases are summed */
      e->first.attrs[act_slot].ints = &no_activation;
      e->second.attrs[act_slot].ints = &no_activation;
    }
    const ttp_tensor* out = &ex->view.tensors[op->outputs[0]];
    e->partial = add_tensor(ex, out, NULL);
    uint32_t* outputs = own(ex, sizeof(uint32_t));
    if (!outputs) return ttp_make_status(TTP_OUT_OF_MEMORY, "out of memory emulating math fidelity");
    outputs[0] = e->partial;
    e->second.outputs = outputs;
    if (op->n_inputs == 3) { /* the bias is added once: phase two gets zeros */
      const ttp_tensor* bias = &ex->view.tensors[op->inputs[2]];
      float* zeros = own(ex, bias->nbytes);
      uint32_t* inputs = own(ex, sizeof(uint32_t) * 3);
      if (!zeros || !inputs) return ttp_make_status(TTP_OUT_OF_MEMORY, "out of memory emulating math fidelity");
      memset(zeros, 0, bias->nbytes);
      memcpy(inputs, e->second.inputs, sizeof(uint32_t) * 3);
      inputs[2] = add_tensor(ex, bias, zeros);
      e->second.inputs = inputs;
    }
  }
  return NULL;
}

/* ---- memory ------------------------------------------------------------------------------ */

typedef struct block {
  size_t offset, size;
  uint32_t tensor;
} block;

/* The step at which each op runs, for the memory plan: i + 1 for the
   program's op i; a region's ops (and its inputs and outputs) at the step of
   the program op that runs the region, directly or through nested regions,
   so every tensor of a loop lives for the whole loop. Regions are verified
   to form a tree in which an op names only regions laid out after it. */
static void op_steps(const ttp_plan* p, uint32_t* step_of, uint32_t* birth, uint32_t* last_use) {
  for (uint32_t i = 0; i < p->n_ops; i++) step_of[i] = i < p->n_main_ops ? i + 1 : 0;
  for (uint32_t i = 0; i < p->n_ops; i++) {
    const ttp_op* op = &p->ops[i];
    for (uint32_t k = 0; k < ttp_op_region_count(op); k++) {
      const ttp_region* r = &p->regions[ttp_op_region(op, k)];
      for (uint32_t j = 0; j < r->n_ops; j++) step_of[r->first_op + j] = step_of[i];
      for (int side = 0; side < 2; side++) {
        const uint32_t* ts = side ? r->outputs : r->inputs;
        for (uint32_t j = 0; j < (side ? r->n_outputs : r->n_inputs); j++) {
          if (birth[ts[j]] == UINT32_MAX) birth[ts[j]] = step_of[i];
          last_use[ts[j]] = step_of[i];
        }
      }
    }
  }
}

/* First-fit placement of arena tensors by lifetime: a tensor's block is
   freed after its last reader runs, so later tensors can reuse it. Converted
   inputs are born before the first op; an op's outputs and the scratch its
   emulation uses are born when it runs. */
static ttp_status* plan_memory(cpu_executable* ex) {
  const ttp_plan* p = &ex->view;
  uint32_t n = p->n_tensors ? p->n_tensors : 1;
  uint32_t* last_use = calloc(n, sizeof *last_use);
  uint32_t* birth = malloc(n * sizeof *birth);
  uint32_t* step_of = malloc((p->n_ops ? p->n_ops : 1) * sizeof *step_of);
  block* live = calloc(n, sizeof *live);
  if (!last_use || !birth || !step_of || !live) {
    free(last_use);
    free(birth);
    free(step_of);
    free(live);
    return ttp_make_status(TTP_OUT_OF_MEMORY, "out of memory planning memory");
  }
  /* steps: 0 = before the first op, i + 1 = the program's op i (op_steps) */
  for (uint32_t t = 0; t < p->n_tensors; t++) birth[t] = UINT32_MAX;
  for (uint32_t t = 0; t < p->n_tensors; t++)
    if (ex->in_arena[t] && p->tensors[t].kind == TTP_TENSOR_INPUT) birth[t] = last_use[t] = 0;
  op_steps(p, step_of, birth, last_use);
  for (uint32_t i = 0; i < p->n_ops; i++) {
    uint32_t step = step_of[i];
    const ttp_op* ops[2] = {&p->ops[i], NULL};
    const emulated_op* e = ex->emulated[i];
    if (e) {
      ops[0] = &e->first;
      ops[1] = e->two_phase ? &e->second : NULL;
    }
    for (int k = 0; k < 2 && ops[k]; k++) {
      for (uint32_t j = 0; j < ops[k]->n_outputs; j++) {
        uint32_t t = ops[k]->outputs[j];
        if (birth[t] == UINT32_MAX) birth[t] = step;
        last_use[t] = step;
      }
      for (uint32_t j = 0; j < ops[k]->n_inputs; j++) {
        uint32_t t = ops[k]->inputs[j];
        if (birth[t] == UINT32_MAX) birth[t] = step; /* a cut operand */
        last_use[t] = step;
      }
    }
    /* an emulated op's cuts read the original operands at this step too */
    for (uint32_t j = 0; j < p->ops[i].n_inputs; j++) last_use[p->ops[i].inputs[j]] = step;
    for (uint32_t j = 0; j < p->ops[i].n_outputs; j++) last_use[p->ops[i].outputs[j]] = step;
  }
  for (uint32_t i = 0; i < p->n_outputs; i++) last_use[p->outputs[i].tensor] = UINT32_MAX;

  size_t n_live = 0, high = 0;
  for (uint32_t step = 0; step <= p->n_main_ops; step++) {
    for (uint32_t t = 0; t < p->n_tensors; t++) {
      if (!ex->in_arena[t] || birth[t] != step) continue;
      size_t need = align_up(p->tensors[t].nbytes ? p->tensors[t].nbytes : 1);
      size_t at = 0, j = 0;
      for (; j < n_live; j++) { /* live is sorted by offset */
        if (live[j].offset - at >= need) break;
        at = live[j].offset + live[j].size;
      }
      memmove(&live[j + 1], &live[j], (n_live - j) * sizeof *live);
      live[j] = (block){at, need, t};
      n_live++;
      ex->offsets[t] = at;
      if (at + need > high) high = at + need;
    }
    size_t w = 0;
    for (size_t j = 0; j < n_live; j++)
      if (last_use[live[j].tensor] != step) live[w++] = live[j];
    n_live = w;
  }
  free(last_use);
  free(birth);
  free(step_of);
  free(live);
  ex->arena_size = high;
  return NULL;
}

static void cpu_release(void* handle) {
  cpu_executable* ex = handle;
  if (!ex) return;
  pthread_mutex_destroy(&ex->lock);
  if (ex->states)
    for (uint32_t i = 0; i < 2 * ex->plan->n_ops; i++) free(ex->states[i]);
  free(ex->states);
  free(ex->ctx.scratch);
  free(ex->ctx.thread_scratch);
  if (ex->emulated)
    for (uint32_t i = 0; i < ex->plan->n_ops; i++) free(ex->emulated[i]);
  for (size_t i = 0; i < ex->n_owned; i++) free(ex->owned[i]);
  free(ex->owned);
  free(ex->emulated);
  free(ex->view.tensors);
  free(ex->view.ops);
  free(ex->quantize);
  free(ex->arena);
  free(ex->offsets);
  free(ex->in_arena);
  free(ex->data);
  free(ex);
}

/* More compute threads than this are refused as a likely mistake. */
#define MAX_THREADS 256

static void cpu_close(void* state) {
  cpu_device* d = state;
  if (!d) return;
  ttp_thread_pool_free(d->pool);
  free(d);
}

static ttp_status* cpu_open(const ttp_device_options* options, void** state) {
  *state = NULL;
  int threads = options->num_threads;
  if (threads < 0 || threads > MAX_THREADS)
    return ttp_make_status(TTP_INVALID_ARGUMENT, "num_threads=%d: give 1 to %d, or 0 for one per core",
                           (int)threads, MAX_THREADS);
  if (threads == 0) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    threads = cores < 1 ? 1 : cores > MAX_THREADS ? MAX_THREADS : (int)cores;
  }
  cpu_device* d = calloc(1, sizeof *d);
  if (!d) return ttp_make_status(TTP_OUT_OF_MEMORY, "out of memory opening the cpu device");
  ttp_status* st = ttp_cpu_isa_select(getenv("TTPACK_CPU_ISA"), &d->isa);
  if (!st) st = ttp_thread_pool_create(threads, &d->pool);
  if (st) {
    cpu_close(d);
    return st;
  }
  *state = d;
  return NULL;
}

static ttp_status* build_view(cpu_executable* ex) {
  const ttp_plan* plan = ex->plan;
  ttp_plan* v = &ex->view;
  *v = *plan;
  /* every op may add EMULATION_TENSORS tensors and owned buffers */
  size_t cap = (size_t)plan->n_tensors + (size_t)EMULATION_TENSORS * plan->n_ops + 1;
  /* per weight: a decoded buffer and a scratch; per emulated op at most 9 (cut operands and their input lists) */
  size_t owned_cap = (size_t)plan->n_tensors * 2 + (size_t)plan->n_ops * 12 + 1;
  v->tensors = calloc(cap, sizeof *v->tensors);
  v->ops = calloc(plan->n_ops ? plan->n_ops : 1, sizeof *v->ops);
  ex->quantize = calloc(cap, 1);
  ex->emulated = calloc(plan->n_ops ? plan->n_ops : 1, sizeof *ex->emulated);
  ex->owned = calloc(owned_cap, sizeof *ex->owned);
  ex->owned_cap = owned_cap;
  if (!v->tensors || !v->ops || !ex->quantize || !ex->emulated || !ex->owned)
    return ttp_make_status(TTP_OUT_OF_MEMORY, "out of memory preparing program '%s'", plan->name);
  for (uint32_t t = 0; t < plan->n_tensors; t++) {
    ttp_tensor* c = &v->tensors[t];
    *c = plan->tensors[t];
    c->dtype = compute_dtype(c->dtype);
    c->nbytes = (size_t)c->numel * compute_size(c->dtype);
    ex->quantize[t] = (uint8_t)quantize_of(&plan->tensors[t]);
    if (c->kind == TTP_TENSOR_WEIGHT) TTP_RETURN_IF_ERROR(bind_weight(ex, &plan->tensors[t], c));
  }
  memcpy(v->ops, plan->ops, sizeof *v->ops * plan->n_ops);
  /* The plan is verified (op_verify.c), and what the kernels rely on
     survives the view: it keeps every shape, maps equal types to equal
     types, and kernels read types from tensors, not from dtype attributes.
     What remains to ask is whether a kernel exists. */
  for (uint32_t i = 0; i < plan->n_ops; i++) {
    const ttp_op* op = &v->ops[i];
    const ttp_cpu_kernel* k = &ttp_cpu_kernels[op->code];
    const char* name = ttp_op_defs[op->code].name;
    if (ttp_cpu_is_control_flow(op->code)) continue; /* run by control_flow.c, not a kernel */
    if (!k->run && !k->exec)
      return ttp_make_status(TTP_UNSUPPORTED,
                             "program '%s' operation %u: op %s has no CPU kernel in this runtime (%s); "
                             "upgrade ttpack", plan->name, i, name, TTP_RUNTIME_VERSION);
    /* The kernel tables are meant to cover every type the registry gives an op: a gap is a bug here. */
    if (k->supports && !k->supports(v, op))
      return ttp_make_status(TTP_INTERNAL, "program '%s' operation %u: op %s at %s: no kernel for %s", plan->name,
                             i, name, op->location[0] ? op->location : "unknown location",
                             ttp_dtype_name(v->tensors[op->inputs[0]].dtype));
    /* typecast to or from bfloat16 is a float32 copy in the view: its output rounds as it is stored */
    if (op->code == TTP_OP_TYPECAST && v->tensors[op->inputs[0]].dtype == v->tensors[op->outputs[0]].dtype)
      v->ops[i].code = TTP_OP_TO_LAYOUT;
  }
  for (uint32_t i = 0; i < plan->n_ops; i++) {
    ttp_status* st = emulate_fidelity(ex, i);
    if (st) return ttp_annotate(st, "program '%s' operation %u", plan->name, i);
  }
  return NULL;
}

/* Each op's kernel state, and scratch for the largest need of any op: one
   shared block and one per thread. */
static ttp_status* prepare_kernels(cpu_executable* ex) {
  const ttp_plan* v = &ex->view;
  size_t shared = 0, per_thread = 0;
  ex->states = calloc(2 * (size_t)v->n_ops + 1, sizeof *ex->states);
  if (!ex->states) return ttp_make_status(TTP_OUT_OF_MEMORY, "out of memory preparing kernels");
  for (uint32_t i = 0; i < v->n_ops; i++) {
    const emulated_op* e = ex->emulated[i];
    const ttp_op* ops[2] = {e ? &e->first : &v->ops[i], e && e->two_phase ? &e->second : NULL};
    for (int k = 0; k < 2 && ops[k]; k++) {
      const ttp_cpu_kernel* kernel = &ttp_cpu_kernels[ops[k]->code];
      if (!kernel->prepare) continue;
      ttp_kernel_prepared p = {0};
      ttp_status* st = kernel->prepare(v, ops[k], ex->ctx.isa, &p);
      if (st) return ttp_annotate(st, "program '%s' operation %u", v->name, i);
      ex->states[2 * i + k] = p.state;
      if (p.scratch_bytes > shared) shared = p.scratch_bytes;
      if (p.thread_scratch_bytes > per_thread) per_thread = p.thread_scratch_bytes;
    }
  }
  int threads = ttp_thread_pool_size(ex->ctx.pool);
  ex->ctx.thread_stride = align_up(per_thread);
  if (shared) ex->ctx.scratch = aligned_alloc(ARENA_ALIGN, align_up(shared));
  if (per_thread) ex->ctx.thread_scratch = aligned_alloc(ARENA_ALIGN, ex->ctx.thread_stride * (size_t)threads);
  if ((shared && !ex->ctx.scratch) || (per_thread && !ex->ctx.thread_scratch))
    return ttp_make_status(TTP_OUT_OF_MEMORY, "out of memory: program '%s' needs %zu bytes of kernel scratch",
                           v->name, shared + per_thread * (size_t)threads);
  return NULL;
}

static ttp_status* cpu_prepare(void* state, const ttp_plan* plan, void** out) {
  const cpu_device* device = state;
  *out = NULL;
  cpu_executable* ex = calloc(1, sizeof *ex);
  if (!ex || pthread_mutex_init(&ex->lock, NULL) != 0) {
    free(ex);
    return ttp_make_status(TTP_OUT_OF_MEMORY, "out of memory preparing program '%s'", plan->name);
  }
  ex->plan = plan;
  ex->ctx.isa = device->isa;
  ex->ctx.pool = device->pool;
  ttp_status* st = build_view(ex);
  if (!st) st = prepare_kernels(ex);
  size_t n = ex->view.n_tensors ? ex->view.n_tensors : 1;
  if (!st) {
    ex->offsets = calloc(n, sizeof *ex->offsets);
    ex->in_arena = calloc(n, 1);
    ex->data = calloc(n, sizeof *ex->data);
    if (!ex->offsets || !ex->in_arena || !ex->data)
      st = ttp_make_status(TTP_OUT_OF_MEMORY, "out of memory preparing program '%s'", plan->name);
  }
  if (!st) {
    for (uint32_t t = 0; t < ex->view.n_tensors; t++) {
      const ttp_tensor* c = &ex->view.tensors[t];
      /* inputs the caller passes in another form (bfloat16 bits) are converted into the arena */
      ex->in_arena[t] = c->kind == TTP_TENSOR_INTERMEDIATE ||
                        (c->kind == TTP_TENSOR_INPUT && t < plan->n_tensors && plan->tensors[t].dtype != c->dtype);
    }
    st = plan_memory(ex);
  }
  if (!st && ex->arena_size) {
    ex->arena = aligned_alloc(ARENA_ALIGN, ex->arena_size);
    if (!ex->arena)
      st = ttp_make_status(TTP_OUT_OF_MEMORY, "out of memory: program '%s' needs %zu bytes of activations",
                           plan->name, ex->arena_size);
  }
  if (st) {
    cpu_release(ex);
    return st;
  }
  for (uint32_t t = 0; t < ex->view.n_tensors; t++) {
    const ttp_tensor* c = &ex->view.tensors[t];
    if (ex->in_arena[t]) ex->data[t] = ex->arena + ex->offsets[t];
    else if (c->kind == TTP_TENSOR_WEIGHT) ex->data[t] = (void*)c->weight_data;
  }
  *out = ex;
  return NULL;
}

static void run_op(cpu_executable* ex, const ttp_op* op, const void* state) {
  const ttp_cpu_kernel* k = &ttp_cpu_kernels[op->code];
  if (k->exec) k->exec(&ex->view, op, ex->data, state, &ex->ctx);
  else k->run(&ex->view, op, ex->data);
}

static void run_emulated(cpu_executable* ex, const emulated_op* e, void* const* states) {
  const ttp_plan* v = &ex->view;
  for (uint32_t k = 0; k < e->n_cuts; k++)
    cut_tensor(ex->data[e->cuts[k].src], ex->data[e->cuts[k].dst], v->tensors[e->cuts[k].src].numel, e->cuts[k].cut);
  run_op(ex, &e->first, states[0]);
  const ttp_tensor* out = &v->tensors[e->first.outputs[0]];
  float* y = ex->data[e->first.outputs[0]];
  if (e->two_phase) {
    run_op(ex, &e->second, states[1]);
    const float* partial = ex->data[e->partial];
    for (int64_t j = 0; j < out->numel; j++) y[j] += partial[j];
    if (e->round_bf16) ttp_round_bf16_inplace(y, (size_t)out->numel);
    ttp_cpu_activate(ex->ctx.isa, y, out->numel, e->activation);
  } else if (e->round_bf16) {
    ttp_round_bf16_inplace(y, (size_t)out->numel);
  }
}

static void run_ops(cpu_executable* ex, uint32_t first, uint32_t count);

static void run_region(void* ctx, uint32_t region) {
  cpu_executable* ex = ctx;
  run_ops(ex, ex->view.regions[region].first_op, ex->view.regions[region].n_ops);
}

static void stored(void* ctx, uint32_t t) {
  cpu_executable* ex = ctx;
  if (ex->quantize[t]) quantize_tensor(&ex->view.tensors[t], ex->data[t], ex->quantize[t]);
}

/* Runs ops [first, first + count) of the view in order; each output is
   rounded to what its storage holds. */
static void run_ops(cpu_executable* ex, uint32_t first, uint32_t count) {
  const ttp_plan* v = &ex->view;
  for (uint32_t i = first; i < first + count; i++) {
    const ttp_op* op = &v->ops[i];
    if (ttp_cpu_is_control_flow(op->code)) {
      const ttp_region_runner runner = {ex, run_region, stored};
      ttp_cpu_run_control_flow(v, op, ex->data, &runner);
    } else if (ex->emulated[i]) {
      run_emulated(ex, ex->emulated[i], &ex->states[2 * i]);
    } else {
      run_op(ex, op, ex->states[2 * i]);
    }
    for (uint32_t k = 0; k < op->n_outputs; k++) stored(ex, op->outputs[k]);
  }
}

static ttp_status* cpu_execute(void* handle, const ttp_buffer* inputs, const ttp_buffer* outputs) {
  cpu_executable* ex = handle;
  const ttp_plan* p = ex->plan;
  const ttp_plan* v = &ex->view;
  pthread_mutex_lock(&ex->lock);
  for (uint32_t i = 0; i < p->n_inputs; i++) {
    uint32_t t = p->inputs[i].tensor;
    if (!ex->in_arena[t]) {
      ex->data[t] = inputs[i].data;
      continue;
    }
    const uint8_t* bits = inputs[i].data; /* bfloat16 or float16 */
    float* x = ex->data[t];
    for (int64_t j = 0; j < v->tensors[t].numel; j++) {
      uint16_t b;
      memcpy(&b, bits + 2 * j, 2);
      x[j] = half_to_f32(p->tensors[t].dtype, b);
    }
  }
  run_ops(ex, 0, v->n_main_ops);
  for (uint32_t i = 0; i < p->n_outputs; i++) {
    uint32_t t = p->outputs[i].tensor;
    const ttp_tensor* host = &p->tensors[t];
    if (!host->nbytes) continue;
    if (host->dtype == TTP_DTYPE_BFLOAT16 || host->dtype == TTP_DTYPE_FLOAT16) {
      const float* x = ex->data[t];
      uint8_t* bits = outputs[i].data;
      for (int64_t j = 0; j < host->numel; j++) {
        uint16_t b = host->dtype == TTP_DTYPE_FLOAT16 ? ttp_f32_to_f16(x[j]) : ttp_f32_to_bf16(x[j]);
        memcpy(bits + 2 * j, &b, 2);
      }
    } else {
      memcpy(outputs[i].data, ex->data[t], host->nbytes);
    }
  }
  pthread_mutex_unlock(&ex->lock);
  return NULL;
}

const ttp_device_backend ttp_cpu_backend = {"cpu", true, cpu_open, cpu_close, cpu_prepare, cpu_execute,
                                             cpu_release};
