/* The device seam. A backend opens a device (state shared by every program
 * on it: a chip or mesh handle, a thread pool), turns a verified plan into
 * something it can execute (allocating everything it needs up front), and
 * executes it on caller buffers. The CPU backend lives in cpu/; a tt-metal
 * backend implements the same functions. */
#ifndef TTP_DEVICE_H_
#define TTP_DEVICE_H_

#include "program.h"

typedef struct ttp_device_backend {
  const char* name;
  /* true: runs archives built for any target (the cpu device, emulating a
     chip's storage types and math fidelity); false: only archives whose
     target is `name`. */
  bool runs_any_target;
  /* options are complete (defaults filled in); state may stay NULL. */
  ttp_status* (*open)(const ttp_device_options* options, void** state);
  void (*close)(void* state);
  /* May reject the plan (TTP_UNSUPPORTED) naming the op and dtype. */
  ttp_status* (*prepare)(void* state, const ttp_plan* plan, void** executable);
  /* Buffers are verified by the caller: counts and sizes match the plan. */
  ttp_status* (*execute)(void* executable, const ttp_buffer* inputs, const ttp_buffer* outputs);
  void (*release)(void* executable);
} ttp_device_backend;

/* The registry (device_registry.c): NULL when no backend has that name. */
const ttp_device_backend* ttp_find_device(const char* name);

#endif /* TTP_DEVICE_H_ */
