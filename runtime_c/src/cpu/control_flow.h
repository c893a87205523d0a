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

/* Runs a verified while op on the compute view `plan` with buffers `data`:
   outputs = inputs; while cond(outputs): outputs = body(outputs). Carried
   values are copied into each region's inputs on entry and from the body's
   outputs after it, so a region's buffers never alias the loop state. */
void ttp_cpu_run_while(const ttp_plan* plan, const ttp_op* op, void* const* data, const ttp_region_runner* runner);

#endif /* TTP_CPU_CONTROL_FLOW_H_ */
