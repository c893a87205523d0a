/* ttpack-run: run a .ttpack archive from the command line, no Python needed.
 *
 *   ttpack-run model.ttpack                       # print programs and signatures
 *   ttpack-run model.ttpack -i x=x.npy -o out/    # run; writes out/<output>.npy
 *   ttpack-run model.ttpack -p main -i x.npy      # inputs by position work too
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "npy.h"
#include "ttpack/runtime.h"

#define MAX_ARGS 256

static void usage(void) {
  fprintf(stderr,
          "usage: ttpack-run ARCHIVE [-p PROGRAM] [-d DEVICE] [-i [NAME=]FILE.npy]... [-o DIR] [-n RUNS]\n"
          "Without -i it prints the archive's programs and signatures.\n");
}

static void print_info(const char* what, ttp_tensor_info t) {
  printf("  %s %s: %s[", what, t.name, ttp_dtype_name(t.dtype));
  for (uint32_t d = 0; d < t.rank; d++) printf("%s%lld", d ? ", " : "", (long long)t.dims[d]);
  printf("]\n");
}

static int fail(ttp_status* st) {
  fprintf(stderr, "ttpack-run: %s\n", ttp_status_message(st));
  int code = (int)ttp_status_get_code(st);
  ttp_status_free(st);
  return code ? code : 1;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char** argv) {
  const char *archive = NULL, *program_name = NULL, *device = "cpu", *out_dir = NULL;
  const char* in_specs[MAX_ARGS];
  int n_specs = 0, runs = 1;
  for (int i = 1; i < argc; i++) {
    const char* a = argv[i];
    if ((!strcmp(a, "-i") || !strcmp(a, "-p") || !strcmp(a, "-o") || !strcmp(a, "-d") || !strcmp(a, "-n")) && i + 1 < argc) {
      const char* v = argv[++i];
      if (a[1] == 'i' && n_specs < MAX_ARGS) in_specs[n_specs++] = v;
      else if (a[1] == 'p') program_name = v;
      else if (a[1] == 'o') out_dir = v;
      else if (a[1] == 'd') device = v;
      else if (a[1] == 'n') runs = atoi(v) > 0 ? atoi(v) : 1;
    } else if (a[0] != '-' && !archive) {
      archive = a;
    } else {
      usage();
      return 2;
    }
  }
  if (!archive) {
    usage();
    return 2;
  }

  ttp_model* model = NULL;
  ttp_program* prog = NULL;
  ttp_status* st = ttp_model_open_file(archive, &model);
  if (st) return fail(st);
  if ((st = ttp_program_load(model, program_name, device, &prog))) {
    ttp_model_free(model);
    return fail(st);
  }
  size_t n_in = ttp_program_input_count(prog), n_out = ttp_program_output_count(prog);
  if (n_specs == 0) {
    printf("%s: target %s, %zu program(s)\n", archive, ttp_model_target(model), ttp_model_program_count(model));
    printf("program %s (%zu ops) on %s\n", ttp_program_name(prog), ttp_program_op_count(prog), device);
    for (size_t i = 0; i < n_in; i++) print_info("input ", ttp_program_input(prog, i));
    for (size_t i = 0; i < n_out; i++) print_info("output", ttp_program_output(prog, i));
    ttp_program_free(prog);
    ttp_model_free(model);
    return 0;
  }

  int rc = 0;
  npy_array* ins = calloc(n_in ? n_in : 1, sizeof *ins);
  ttp_buffer* in_bufs = calloc(n_in ? n_in : 1, sizeof *in_bufs);
  ttp_buffer* out_bufs = calloc(n_out ? n_out : 1, sizeof *out_bufs);
  if ((size_t)n_specs != n_in) {
    fprintf(stderr, "ttpack-run: program '%s' takes %zu inputs, %d given\n", ttp_program_name(prog), n_in, n_specs);
    rc = 2;
    goto done;
  }
  for (int s = 0; s < n_specs; s++) {
    const char* eq = strchr(in_specs[s], '=');
    size_t slot = (size_t)s;
    const char* path = in_specs[s];
    if (eq) {
      path = eq + 1;
      for (slot = 0; slot < n_in; slot++) {
        const char* name = ttp_program_input(prog, slot).name;
        if (strlen(name) == (size_t)(eq - in_specs[s]) && !strncmp(name, in_specs[s], (size_t)(eq - in_specs[s]))) break;
      }
      if (slot == n_in) {
        fprintf(stderr, "ttpack-run: no input named '%.*s'\n", (int)(eq - in_specs[s]), in_specs[s]);
        rc = 2;
        goto done;
      }
    }
    const char* err = npy_read(path, &ins[slot]);
    ttp_tensor_info want = ttp_program_input(prog, slot);
    if (!err && (ins[slot].dtype != want.dtype || ins[slot].rank != want.rank ||
                 memcmp(ins[slot].dims, want.dims, sizeof(int64_t) * want.rank) != 0))
      err = "array dtype or shape differs from the input's (run without -i to see the signature)";
    if (err) {
      fprintf(stderr, "ttpack-run: input '%s' from %s: %s\n", want.name, path, err);
      rc = 2;
      goto done;
    }
    in_bufs[slot] = (ttp_buffer){ins[slot].data, ins[slot].nbytes};
  }
  for (size_t i = 0; i < n_out; i++) {
    ttp_tensor_info t = ttp_program_output(prog, i);
    out_bufs[i] = (ttp_buffer){malloc(t.nbytes ? t.nbytes : 1), t.nbytes};
    if (!out_bufs[i].data) {
      fprintf(stderr, "ttpack-run: out of memory\n");
      rc = 1;
      goto done;
    }
  }
  double best = 1e30;
  for (int r = 0; r < runs; r++) {
    double t0 = now_ms();
    if ((st = ttp_program_run(prog, in_bufs, n_in, out_bufs, n_out))) {
      rc = fail(st);
      goto done;
    }
    double dt = now_ms() - t0;
    if (dt < best) best = dt;
  }
  printf("ran %s %d time(s): best %.3f ms\n", ttp_program_name(prog), runs, best);
  for (size_t i = 0; i < n_out; i++) {
    ttp_tensor_info t = ttp_program_output(prog, i);
    npy_array a = {t.dtype, t.rank, {0}, out_bufs[i].data, t.nbytes};
    memcpy(a.dims, t.dims, sizeof(int64_t) * t.rank);
    if (!out_dir) {
      print_info("output", t);
      continue;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.npy", out_dir, t.name);
    const char* err = npy_write(path, &a);
    if (err) {
      fprintf(stderr, "ttpack-run: writing %s: %s\n", path, err);
      rc = 1;
    } else {
      printf("wrote %s\n", path);
    }
  }
done:
  for (size_t i = 0; i < n_in; i++) free(ins[i].data);
  for (size_t i = 0; i < n_out; i++) free(out_bufs[i].data);
  free(ins);
  free(in_bufs);
  free(out_bufs);
  ttp_program_free(prog);
  ttp_model_free(model);
  return rc;
}
