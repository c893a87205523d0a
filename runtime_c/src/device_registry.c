/* Every device backend this runtime has, in one place. A tt-metal backend
 * adds one line here (and its sources to CMakeLists.txt); nothing else in
 * the runtime names a backend. */
#include <string.h>

#include "device.h"

extern const ttp_device_backend ttp_cpu_backend;

static const ttp_device_backend* const backends[] = {&ttp_cpu_backend};

const ttp_device_backend* ttp_find_device(const char* name) {
  for (size_t i = 0; i < sizeof backends / sizeof *backends; i++)
    if (strcmp(backends[i]->name, name) == 0) return backends[i];
  return NULL;
}
