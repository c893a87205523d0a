/* The public program API: load a decoded plan onto a device, check caller
 * buffers against the signature, run. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "model.h"
#include "status.h"

struct ttp_device {
  atomic_int refs;
  const ttp_device_backend* backend;
  void* state;
};

struct ttp_program {
  ttp_model* model;   /* retained: the plan points into the archive */
  ttp_device* device; /* retained */
  ttp_plan plan;
  void* executable;
};

ttp_status* ttp_device_open(const char* name, const ttp_device_options* options, ttp_device** out) {
  if (!out) return ttp_make_status(TTP_INVALID_ARGUMENT, "ttp_device_open: out_device is NULL");
  *out = NULL;
  if (!name) return ttp_make_status(TTP_INVALID_ARGUMENT, "ttp_device_open: name is NULL");
  const ttp_device_backend* backend = ttp_find_device(name);
  if (!backend) return ttp_make_status(TTP_NOT_FOUND, "no device '%s' in this runtime (available: cpu)", name);
  /* Copy what the caller's struct has; newer fields keep their defaults. */
  ttp_device_options opts = {sizeof opts, 0};
  if (options) {
    if (options->struct_size < sizeof(size_t))
      return ttp_make_status(TTP_INVALID_ARGUMENT, "ttp_device_open: options.struct_size is not set");
    size_t n = options->struct_size < sizeof opts ? options->struct_size : sizeof opts;
    memcpy(&opts, options, n);
    opts.struct_size = sizeof opts;
  }
  ttp_device* d = calloc(1, sizeof *d);
  if (!d) return ttp_make_status(TTP_OUT_OF_MEMORY, "out of memory");
  ttp_status* st = backend->open(&opts, &d->state);
  if (st) {
    free(d);
    return ttp_annotate(st, "device '%s'", name);
  }
  atomic_init(&d->refs, 1);
  d->backend = backend;
  *out = d;
  return NULL;
}

void ttp_device_free(ttp_device* d) {
  if (!d || atomic_fetch_sub(&d->refs, 1) != 1) return;
  d->backend->close(d->state);
  free(d);
}

const char* ttp_device_name(const ttp_device* d) { return d ? d->backend->name : NULL; }

static ttp_status* load(ttp_model* model, const char* name, ttp_device* device, ttp_program** out);

ttp_status* ttp_program_load(ttp_model* model, const char* name, ttp_device* device, ttp_program** out) {
  if (!out) return ttp_make_status(TTP_INVALID_ARGUMENT, "ttp_program_load: out_program is NULL");
  *out = NULL;
  if (!model) return ttp_make_status(TTP_INVALID_ARGUMENT, "ttp_program_load: model is NULL");
  if (device) {
    atomic_fetch_add(&device->refs, 1);
  } else {
    TTP_RETURN_IF_ERROR(ttp_device_open("cpu", NULL, &device));
  }
  ttp_status* st = load(model, name, device, out);
  if (st) ttp_device_free(device);
  return st;
}

static ttp_status* load(ttp_model* model, const char* name, ttp_device* device, ttp_program** out) {
  const ttp_device_backend* backend = device->backend;
  /* A program is compiled for one target (layouts, memory, kernels): a
     chip device runs archives built for its chip only; the cpu device runs
     any, emulating a chip's numerics. */
  if (!backend->runs_any_target && strcmp(model->target, backend->name) != 0)
    return ttp_make_status(TTP_UNSUPPORTED, "archive was built for target '%s'; this device is '%s': "
                           "rebuild with target='%s'", model->target, backend->name, backend->name);
  uint32_t index = 0;
  if (name) {
    for (index = 0; index < model->n_programs; index++)
      if (strcmp(model->program_names[index], name) == 0) break;
    if (index == model->n_programs)
      return ttp_make_status(TTP_NOT_FOUND, "no program '%s' in the archive (first is '%s')", name,
                             model->program_names[0]);
  }
  ttp_program* p = calloc(1, sizeof *p);
  if (!p) return ttp_make_status(TTP_OUT_OF_MEMORY, "out of memory");
  ttp_status* st = ttp_plan_decode(model, index, &p->plan);
  if (!st) st = backend->prepare(device->state, &p->plan, &p->executable);
  if (st) {
    ttp_plan_free(&p->plan);
    free(p);
    return st;
  }
  ttp_model_retain(model);
  p->model = model;
  p->device = device; /* the caller's reference passes to the program */
  *out = p;
  return NULL;
}

void ttp_program_free(ttp_program* p) {
  if (!p) return;
  p->device->backend->release(p->executable);
  ttp_plan_free(&p->plan);
  ttp_model_free(p->model);
  ttp_device_free(p->device);
  free(p);
}

const char* ttp_program_name(const ttp_program* p) { return p ? p->plan.name : NULL; }
size_t ttp_program_input_count(const ttp_program* p) { return p ? p->plan.n_inputs : 0; }
size_t ttp_program_output_count(const ttp_program* p) { return p ? p->plan.n_outputs : 0; }
size_t ttp_program_op_count(const ttp_program* p) { return p ? p->plan.n_ops : 0; }

/* Index out of range (or a NULL program): a zeroed info, name NULL. */
static ttp_tensor_info info(const ttp_plan* plan, const ttp_binding* sig, size_t count, size_t i) {
  if (i >= count) return (ttp_tensor_info){NULL, 0, 0, NULL, 0};
  const ttp_tensor* t = &plan->tensors[sig[i].tensor];
  return (ttp_tensor_info){sig[i].name, t->dtype, t->rank, t->dims, t->nbytes};
}

ttp_tensor_info ttp_program_input(const ttp_program* p, size_t i) {
  return p ? info(&p->plan, p->plan.inputs, p->plan.n_inputs, i) : info(NULL, NULL, 0, 0);
}

ttp_tensor_info ttp_program_output(const ttp_program* p, size_t i) {
  return p ? info(&p->plan, p->plan.outputs, p->plan.n_outputs, i) : info(NULL, NULL, 0, 0);
}

static ttp_status* check_buffers(const ttp_plan* plan, const ttp_binding* sig, size_t expected,
                                 const ttp_buffer* bufs, size_t count, const char* what) {
  if (count != expected)
    return ttp_make_status(TTP_INVALID_ARGUMENT, "program '%s' takes %zu %ss, got %zu", plan->name, expected, what, count);
  if (count && !bufs)
    return ttp_make_status(TTP_INVALID_ARGUMENT, "program '%s': %s_count is %zu but %ss is NULL",
                           plan->name, what, count, what);
  for (size_t i = 0; i < count; i++) {
    const ttp_tensor* t = &plan->tensors[sig[i].tensor];
    if (bufs[i].size != t->nbytes)
      return ttp_make_status(TTP_INVALID_ARGUMENT, "%s '%s' needs %zu bytes (%s, %u dims), got %zu",
                             what, sig[i].name, t->nbytes, ttp_dtype_name(t->dtype), t->rank, bufs[i].size);
    if (!bufs[i].data && t->nbytes)
      return ttp_make_status(TTP_INVALID_ARGUMENT, "%s '%s' has a NULL buffer", what, sig[i].name);
    size_t esize = ttp_dtype_size(t->dtype);
    if ((uintptr_t)bufs[i].data % esize != 0)
      return ttp_make_status(TTP_INVALID_ARGUMENT, "%s '%s' buffer is not aligned to its %zu-byte elements",
                             what, sig[i].name, esize);
  }
  return NULL;
}

ttp_status* ttp_program_run(ttp_program* p, const ttp_buffer* inputs, size_t n_in,
                            const ttp_buffer* outputs, size_t n_out) {
  if (!p) return ttp_make_status(TTP_INVALID_ARGUMENT, "ttp_program_run: program is NULL");
  TTP_RETURN_IF_ERROR(check_buffers(&p->plan, p->plan.inputs, p->plan.n_inputs, inputs, n_in, "input"));
  TTP_RETURN_IF_ERROR(check_buffers(&p->plan, p->plan.outputs, p->plan.n_outputs, outputs, n_out, "output"));
  return p->device->backend->execute(p->executable, inputs, outputs);
}
