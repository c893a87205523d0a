/* Control flow on the CPU device (see control_flow.h). */
#include "control_flow.h"

#include <string.h>

int ttp_cpu_is_control_flow(int code) { return code == TTP_OP_WHILE || code == TTP_OP_CASE; }

/* dst[k] = src[k] for n tensors of equal types (the verifier checked). The
   sources never alias the destinations: a region's inputs are written only
   here, and a while's or case's outputs are no region's tensors. */
static void copy_tensors(const ttp_plan* plan, void* const* data, const uint32_t* dst, const uint32_t* src,
                         uint32_t n, const ttp_region_runner* runner) {
  for (uint32_t k = 0; k < n; k++) {
    size_t bytes = plan->tensors[dst[k]].nbytes;
    if (bytes) memcpy(data[dst[k]], data[src[k]], bytes);
    runner->stored(runner->ctx, dst[k]);
  }
}

static void run_while(const ttp_plan* plan, const ttp_op* op, void* const* data, const ttp_region_runner* runner) {
  uint32_t c = (uint32_t)op->attrs[TTP_ATTR_WHILE_COND].ints[0];
  uint32_t b = (uint32_t)op->attrs[TTP_ATTR_WHILE_BODY].ints[0];
  const ttp_region* cond = &plan->regions[c];
  const ttp_region* body = &plan->regions[b];
  copy_tensors(plan, data, op->outputs, op->inputs, op->n_inputs, runner);
  for (;;) {
    copy_tensors(plan, data, cond->inputs, op->outputs, op->n_outputs, runner);
    runner->run_region(runner->ctx, c);
    if (!*(const uint8_t*)data[cond->outputs[0]]) break; /* a bool scalar: one byte in the compute view */
    copy_tensors(plan, data, body->inputs, op->outputs, op->n_outputs, runner);
    runner->run_region(runner->ctx, b);
    copy_tensors(plan, data, op->outputs, body->outputs, op->n_outputs, runner);
  }
}

static void run_case(const ttp_plan* plan, const ttp_op* op, void* const* data, const ttp_region_runner* runner) {
  const ttp_attr* branches = &op->attrs[TTP_ATTR_CASE_BRANCHES];
  int32_t index;
  memcpy(&index, data[op->inputs[0]], sizeof index);
  uint32_t k = index >= 0 && (uint32_t)index < branches->n_ints ? (uint32_t)index : branches->n_ints - 1;
  uint32_t r = (uint32_t)branches->ints[k];
  const ttp_region* branch = &plan->regions[r];
  copy_tensors(plan, data, branch->inputs, op->inputs + 1, op->n_inputs - 1, runner);
  runner->run_region(runner->ctx, r);
  copy_tensors(plan, data, op->outputs, branch->outputs, op->n_outputs, runner);
}

void ttp_cpu_run_control_flow(const ttp_plan* plan, const ttp_op* op, void* const* data,
                              const ttp_region_runner* runner) {
  if (op->code == TTP_OP_CASE)
    run_case(plan, op, data, runner);
  else
    run_while(plan, op, data, runner);
}
