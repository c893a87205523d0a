/* Control flow on the CPU device: ops that run regions (program.h), kept
 * apart from the executor, which reaches them through one hook. */
#ifndef TTP_CPU_CONTROL_FLOW_H_
#define TTP_CPU_CONTROL_FLOW_H_

#include <stdint.h>

#include "../program.h"

/* What a region-running op needs from the executor that runs it. */
typedef struct ttp_region_runner {
  void* ctx;
  /* Runs region r's ops in order (nested region ops included). */
  void (*run_region)(void* ctx, uint32_t region);
  /* A tensor was just written by a copy: round it to what its storage holds,
     as the executor does for every op output. */
  void (*stored)(void* ctx, uint32_t tensor);
} ttp_region_runner;

/* Whether the op is one this file runs (instead of a kernel). */
int ttp_cpu_is_control_flow(int code);

/* Runs a verified while or case op on the compute view `plan` with buffers
   `data`. while: outputs = inputs; while cond(outputs): outputs =
   body(outputs). case: the branch its index picks (the last one when the
   index is out of range) runs on the other inputs; outputs = its outputs.
   Values are copied into a region's inputs on entry and out of its outputs
   after it, so a region's buffers never alias the op's. */
void ttp_cpu_run_control_flow(const ttp_plan* plan, const ttp_op* op, void* const* data,
                              const ttp_region_runner* runner);

#endif /* TTP_CPU_CONTROL_FLOW_H_ */
