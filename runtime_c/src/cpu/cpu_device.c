/* The CPU device: executes a plan's ops in order with the kernels in
 * kernels.c. Everything is allocated in prepare (one arena for all
 * intermediates, reused by liveness), so a run allocates nothing. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../device.h"
#include "../schema_generated.h"
#include "../status.h"
#include "kernels.h"

#define ARENA_ALIGN 64

typedef struct cpu_executable {
  const ttp_plan* plan;
  size_t* offsets;        /* arena offset per tensor (intermediates) */
  void** data;            /* per-tensor buffer pointers, rebound each run */
  unsigned char* arena;
  size_t arena_size;
  pthread_mutex_t lock;   /* one run at a time: data[] and the arena are shared */
} cpu_executable;

typedef struct block {
  size_t offset, size;
  uint32_t tensor;
} block;

static size_t align_up(size_t n) { return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1); }

/* First-fit placement of intermediates by lifetime: a tensor's block is
   freed after its last reader runs, so later tensors can reuse it. A
   build-time memory plan in the archive will replace this. */
static ttp_status* plan_memory(cpu_executable* ex) {
  const ttp_plan* p = ex->plan;
  uint32_t* last_use = calloc(p->n_tensors ? p->n_tensors : 1, sizeof *last_use);
  block* live = calloc(p->n_tensors ? p->n_tensors : 1, sizeof *live);
  if (!last_use || !live) {
    free(last_use);
    free(live);
    return ttp_make_status(TTP_OUT_OF_MEMORY, "out of memory planning memory");
  }
  /* An output nobody reads dies right after the op that writes it. */
  for (uint32_t i = 0; i < p->n_ops; i++) {
    for (uint32_t k = 0; k < p->ops[i].n_outputs; k++) last_use[p->ops[i].outputs[k]] = i;
    for (uint32_t k = 0; k < p->ops[i].n_inputs; k++) last_use[p->ops[i].inputs[k]] = i;
  }
  for (uint32_t i = 0; i < p->n_outputs; i++) last_use[p->outputs[i].tensor] = UINT32_MAX;

  size_t n_live = 0, high = 0;
  for (uint32_t i = 0; i < p->n_ops; i++) {
    const ttp_op* op = &p->ops[i];
    for (uint32_t k = 0; k < op->n_outputs; k++) {
      uint32_t t = op->outputs[k];
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
      if (last_use[live[j].tensor] != i) live[w++] = live[j];
    n_live = w;
  }
  free(last_use);
  free(live);
  ex->arena_size = high;
  return NULL;
}

static void cpu_release(void* handle) {
  cpu_executable* ex = handle;
  if (!ex) return;
  pthread_mutex_destroy(&ex->lock);
  free(ex->arena);
  free(ex->offsets);
  free(ex->data);
  free(ex);
}

/* "tensor 3", or "tensor 3 (input 'x')" when the signature names it. */
static void describe_tensor(const ttp_plan* plan, uint32_t t, char* buf, size_t size) {
  const char* role = NULL;
  const char* name = NULL;
  for (uint32_t i = 0; i < plan->n_inputs && !name; i++)
    if (plan->inputs[i].tensor == t) {
      role = "input";
      name = plan->inputs[i].name;
    }
  for (uint32_t i = 0; i < plan->n_outputs && !name; i++)
    if (plan->outputs[i].tensor == t) {
      role = "output";
      name = plan->outputs[i].name;
    }
  if (name) snprintf(buf, size, "tensor %u (%s '%s')", t, role, name);
  else snprintf(buf, size, "tensor %u", t);
}

/* The CPU computes on dense row-major tensors in host memory. */
static ttp_status* check_placement(const ttp_plan* plan) {
  char what[160];
  for (uint32_t t = 0; t < plan->n_tensors; t++) {
    const ttp_tensor* tensor = &plan->tensors[t];
    if (tensor->layout != TTP_FB_LAYOUT_ROWMAJOR) {
      describe_tensor(plan, t, what, sizeof what);
      return ttp_make_status(TTP_UNSUPPORTED,
                             "program '%s' %s has layout %s (%d); the cpu device computes on RowMajor "
                             "tensors only: rebuild the archive with target='cpu'",
                             plan->name, what, ttp_layout_name(tensor->layout), tensor->layout);
    }
    if (tensor->buffer_type != TTP_FB_BUFFERTYPE_DRAM && tensor->buffer_type != TTP_FB_BUFFERTYPE_SYSTEMMEMORY) {
      describe_tensor(plan, t, what, sizeof what);
      return ttp_make_status(TTP_UNSUPPORTED,
                             "program '%s' %s has buffer type %s (%d); the cpu device holds tensors in "
                             "DRAM or SystemMemory only: rebuild the archive with target='cpu'",
                             plan->name, what, ttp_buffer_type_name(tensor->buffer_type), tensor->buffer_type);
    }
  }
  return NULL;
}

static ttp_status* cpu_open(const ttp_device_options* options, void** state) {
  *state = NULL;
  if (options->num_threads > 1)
    return ttp_make_status(TTP_UNSUPPORTED, "the cpu device runs on one thread for now; "
                           "num_threads=%d is not supported yet", (int)options->num_threads);
  return NULL;
}

static void cpu_close(void* state) { (void)state; }

static ttp_status* cpu_prepare(void* state, const ttp_plan* plan, void** out) {
  (void)state;
  *out = NULL;
  TTP_RETURN_IF_ERROR(check_placement(plan));
  for (uint32_t i = 0; i < plan->n_ops; i++) {
    const ttp_op* op = &plan->ops[i];
    const ttp_cpu_kernel* k = &ttp_cpu_kernels[op->code];
    if (!k->check || !k->run)
      return ttp_make_status(TTP_UNSUPPORTED,
                             "program '%s' operation %u: op %s has no CPU kernel in this runtime (%s); "
                             "upgrade ttpack", plan->name, i, ttp_op_defs[op->code].name, TTP_RUNTIME_VERSION);
    ttp_status* st = k->check(plan, op);
    if (st) return ttp_annotate(st, "program '%s' operation %u", plan->name, i);
  }
  cpu_executable* ex = calloc(1, sizeof *ex);
  size_t n = plan->n_tensors ? plan->n_tensors : 1;
  if (ex) {
    ex->plan = plan;
    ex->offsets = calloc(n, sizeof *ex->offsets);
    ex->data = calloc(n, sizeof *ex->data);
  }
  if (!ex || !ex->offsets || !ex->data || pthread_mutex_init(&ex->lock, NULL) != 0) {
    if (ex) {
      free(ex->offsets);
      free(ex->data);
      free(ex);
    }
    return ttp_make_status(TTP_OUT_OF_MEMORY, "out of memory preparing program '%s'", plan->name);
  }
  ttp_status* st = plan_memory(ex);
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
  for (uint32_t t = 0; t < plan->n_tensors; t++) {
    const ttp_tensor* tensor = &plan->tensors[t];
    if (tensor->kind == TTP_TENSOR_WEIGHT) ex->data[t] = (void*)tensor->weight_data;
    else if (tensor->kind == TTP_TENSOR_INTERMEDIATE) ex->data[t] = ex->arena + ex->offsets[t];
  }
  *out = ex;
  return NULL;
}

static ttp_status* cpu_execute(void* handle, const ttp_buffer* inputs, const ttp_buffer* outputs) {
  cpu_executable* ex = handle;
  const ttp_plan* p = ex->plan;
  pthread_mutex_lock(&ex->lock);
  for (uint32_t i = 0; i < p->n_inputs; i++) ex->data[p->inputs[i].tensor] = inputs[i].data;
  for (uint32_t i = 0; i < p->n_ops; i++) {
    const ttp_op* op = &p->ops[i];
    ttp_cpu_kernels[op->code].run(p, op, ex->data);
  }
  for (uint32_t i = 0; i < p->n_outputs; i++) {
    const ttp_tensor* t = &p->tensors[p->outputs[i].tensor];
    if (t->nbytes) memcpy(outputs[i].data, ex->data[p->outputs[i].tensor], t->nbytes);
  }
  pthread_mutex_unlock(&ex->lock);
  return NULL;
}

const ttp_device_backend ttp_cpu_backend = {"cpu", cpu_open, cpu_close, cpu_prepare, cpu_execute, cpu_release};

const ttp_device_backend* ttp_find_device(const char* name) {
  if (strcmp(name, ttp_cpu_backend.name) == 0) return &ttp_cpu_backend;
  return NULL;
}
