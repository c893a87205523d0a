/* Proves that a steady-state run allocates nothing: linked with
 * -Wl,--wrap for every allocation function (CMakeLists.txt, option
 * TTP_BUILD_ALLOC_TEST), it counts the allocations the runtime makes while a
 * program runs, after a first run, and fails if there are any.
 *
 *   ttpack-alloc-count ARCHIVE [RUNS] [THREADS]
 *
 * Inputs are zero-filled buffers of the signature's sizes (values do not
 * change what is allocated). Prints "allocations during N runs: K". */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ttpack/runtime.h"

static atomic_long counting, allocations;

void* __real_malloc(size_t n);
void* __real_calloc(size_t n, size_t size);
void* __real_realloc(void* p, size_t n);
void* __real_aligned_alloc(size_t align, size_t n);
int __real_posix_memalign(void** p, size_t align, size_t n);

static void count(void) {
  if (atomic_load(&counting)) atomic_fetch_add(&allocations, 1);
}
void* __wrap_malloc(size_t n) {
  count();
  return __real_malloc(n);
}
void* __wrap_calloc(size_t n, size_t size) {
  count();
  return __real_calloc(n, size);
}
void* __wrap_realloc(void* p, size_t n) {
  count();
  return __real_realloc(p, n);
}
void* __wrap_aligned_alloc(size_t align, size_t n) {
  count();
  return __real_aligned_alloc(align, n);
}
int __wrap_posix_memalign(void** p, size_t align, size_t n) {
  count();
  return __real_posix_memalign(p, align, n);
}

static int fail(ttp_status* st) {
  fprintf(stderr, "%s\n", ttp_status_message(st));
  ttp_status_free(st);
  return 1;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: ttpack-alloc-count ARCHIVE [RUNS] [THREADS]\n");
    return 2;
  }
  const int runs = argc > 2 ? atoi(argv[2]) : 10;
  ttp_device_options opts = {sizeof opts, argc > 3 ? atoi(argv[3]) : 0};
  ttp_model* model = NULL;
  ttp_device* device = NULL;
  ttp_program* prog = NULL;
  ttp_status* st = ttp_model_open_file(argv[1], &model);
  if (!st) st = ttp_device_open("cpu", &opts, &device);
  if (!st) st = ttp_program_load(model, NULL, device, &prog);
  if (st) return fail(st);
  size_t n_in = ttp_program_input_count(prog), n_out = ttp_program_output_count(prog);
  ttp_buffer* ins = calloc(n_in + 1, sizeof *ins);
  ttp_buffer* outs = calloc(n_out + 1, sizeof *outs);
  for (size_t i = 0; i < n_in; i++) {
    size_t n = ttp_program_input(prog, i).nbytes;
    ins[i] = (ttp_buffer){aligned_alloc(64, n + 64), n};
    memset(ins[i].data, 0, n);
  }
  for (size_t i = 0; i < n_out; i++) {
    size_t n = ttp_program_output(prog, i).nbytes;
    outs[i] = (ttp_buffer){aligned_alloc(64, n + 64), n};
  }
  st = ttp_program_run(prog, ins, n_in, outs, n_out); /* the first run may touch what it likes */
  if (st) return fail(st);
  atomic_store(&counting, 1);
  for (int r = 0; r < runs && !st; r++) st = ttp_program_run(prog, ins, n_in, outs, n_out);
  long during_runs = atomic_load(&allocations);
  /* the counter itself works: this program's own malloc goes through the wrapper too */
  void* volatile probe = malloc(1); /* volatile: the compiler may not drop the pair */
  free(probe);
  long self_check = atomic_load(&allocations) - during_runs;
  atomic_store(&counting, 0);
  if (st) return fail(st);
  if (self_check != 1) {
    fprintf(stderr, "the allocation counter is not wired in (counted %ld of 1)\n", self_check);
    return 1;
  }
  printf("allocations during %d runs: %ld\n", runs, during_runs);
  for (size_t i = 0; i < n_in; i++) free(ins[i].data);
  for (size_t i = 0; i < n_out; i++) free(outs[i].data);
  free(ins);
  free(outs);
  ttp_program_free(prog);
  ttp_device_free(device);
  ttp_model_free(model);
  return during_runs == 0 ? 0 : 1;
}
