/* ttpack-run: run a .ttpack archive from the command line, no Python needed.
 *
 *   ttpack-run model.ttpack                       # print programs and signatures
 *   ttpack-run model.ttpack -i x=x.npy -o out/    # run; writes out/<output>.npy
 *   ttpack-run model.ttpack -p main -i x.npy      # inputs by position work too
 *   ttpack-run model.ttpack --info                # signatures, even of programs without inputs
 *
 * Exit status: 0 on success, 2 for usage errors (bad options, inputs that do
 * not match the signature, unsafe output names), otherwise the runtime's
 * ttp_status_code.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "npy.h"
#include "ttpack/runtime.h"

static void usage(FILE* to) {
  fprintf(to,
          "usage: ttpack-run ARCHIVE [--info] [-p PROGRAM] [-d DEVICE] [-i [NAME=]FILE.npy]... [-o DIR] [-n RUNS]\n"
          "  --info              print the archive's target and the program's op count and signature; do not run\n"
          "  -p PROGRAM          the program to load (default: the first)\n"
          "  -d DEVICE           the device to run on (default: cpu)\n"
          "  -i [NAME=]FILE.npy  one input, by name or by position (the k-th -i is the k-th input);\n"
          "                      give each input exactly once (a FILE with '=' in it needs NAME=)\n"
          "  -o DIR              write each output to DIR/<output name>.npy (DIR must exist)\n"
          "  -n RUNS             run RUNS times and report the best time (default 1)\n"
          "With none of -i, -o, -n, a program that takes inputs is not run: its signature is printed\n"
          "(as with --info). A program without inputs runs without -i.\n");
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

/* Output names come from the archive, which is untrusted: each must be a
   plain file name, so that DIR/<name>.npy stays inside DIR. */
static int safe_file_name(const char* name) {
  return name[0] != '\0' && strcmp(name, ".") != 0 && strcmp(name, "..") != 0 &&
         strchr(name, '/') == NULL && strchr(name, '\\') == NULL;
}

static int parse_runs(const char* s, int* runs) {
  char* end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end != '\0' || v < 1 || v > 1000000000L) return 0;
  *runs = (int)v;
  return 1;
}

int main(int argc, char** argv) {
  const char *archive = NULL, *program_name = NULL, *device = "cpu", *out_dir = NULL;
  int n_specs = 0, runs = 1, runs_given = 0, info_only = 0;
  /* At most one -i per two arguments. */
  const char** in_specs = calloc((size_t)argc, sizeof *in_specs);
  if (!in_specs) {
    fprintf(stderr, "ttpack-run: out of memory\n");
    return 1;
  }
  for (int i = 1; i < argc; i++) {
    const char* a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      free(in_specs);
      return 0;
    } else if (!strcmp(a, "--info")) {
      info_only = 1;
    } else if ((!strcmp(a, "-i") || !strcmp(a, "-p") || !strcmp(a, "-o") || !strcmp(a, "-d") || !strcmp(a, "-n")) &&
               i + 1 < argc) {
      const char* v = argv[++i];
      if (a[1] == 'i') {
        in_specs[n_specs++] = v;
      } else if (a[1] == 'p') {
        program_name = v;
      } else if (a[1] == 'o') {
        out_dir = v;
      } else if (a[1] == 'd') {
        device = v;
      } else if (!parse_runs(v, &runs)) {
        fprintf(stderr, "ttpack-run: -n needs a positive number of runs, got '%s'\n", v);
        free(in_specs);
        return 2;
      } else {
        runs_given = 1;
      }
    } else if (a[0] != '-' && !archive) {
      archive = a;
    } else {
      usage(stderr);
      free(in_specs);
      return 2;
    }
  }
  if (!archive) {
    usage(stderr);
    free(in_specs);
    return 2;
  }
  if (out_dir && !out_dir[0]) {
    fprintf(stderr, "ttpack-run: -o needs a directory, got ''\n");
    free(in_specs);
    return 2;
  }

  ttp_model* model = NULL;
  ttp_device* dev = NULL;
  ttp_program* prog = NULL;
  ttp_status* st = ttp_model_open_file(archive, &model);
  if (!st) st = ttp_device_open(device, NULL, &dev);
  if (!st) st = ttp_program_load(model, program_name, dev, &prog);
  ttp_device_free(dev); /* the program holds its own reference */
  if (st) {
    ttp_model_free(model);
    free(in_specs);
    return fail(st);
  }
  size_t n_in = ttp_program_input_count(prog), n_out = ttp_program_output_count(prog);
  /* Plain `ttpack-run ARCHIVE` lists a program that needs inputs instead of
     failing on the missing ones; a program without inputs just runs. */
  if (info_only || (n_specs == 0 && !out_dir && !runs_given && n_in > 0)) {
    const char* target = ttp_model_target(model);
    printf("%s: target %s%s, %zu program(s)\n", archive, target,
           strcmp(target, device) != 0 ? " (its numerics emulated on this device, not run on the chip)" : "",
           ttp_model_program_count(model));
    printf("program %s (%zu ops) on %s\n", ttp_program_name(prog), ttp_program_op_count(prog), device);
    for (size_t i = 0; i < n_in; i++) print_info("input ", ttp_program_input(prog, i));
    for (size_t i = 0; i < n_out; i++) print_info("output", ttp_program_output(prog, i));
    ttp_program_free(prog);
    ttp_model_free(model);
    free(in_specs);
    return 0;
  }

  int rc = 0;
  npy_array* ins = calloc(n_in ? n_in : 1, sizeof *ins);
  const char** in_from = calloc(n_in ? n_in : 1, sizeof *in_from); /* the -i that gave each input */
  ttp_buffer* in_bufs = calloc(n_in ? n_in : 1, sizeof *in_bufs);
  ttp_buffer* out_bufs = calloc(n_out ? n_out : 1, sizeof *out_bufs);
  char* path = NULL;
  if (!ins || !in_from || !in_bufs || !out_bufs) {
    fprintf(stderr, "ttpack-run: out of memory\n");
    rc = 1;
    goto done;
  }
  if (out_dir) {
    for (size_t i = 0; i < n_out; i++) {
      const char* name = ttp_program_output(prog, i).name;
      if (!safe_file_name(name)) {
        fprintf(stderr, "ttpack-run: output %zu is named '%s', which is not a plain file name; refusing to "
                        "write it under %s (run without -o to print outputs)\n", i, name, out_dir);
        rc = 2;
        goto done;
      }
      for (size_t j = 0; j < i; j++)
        if (!strcmp(name, ttp_program_output(prog, j).name)) {
          fprintf(stderr, "ttpack-run: outputs %zu and %zu are both named '%s'; refusing to write %s/%s.npy twice\n",
                  j, i, name, out_dir, name);
          rc = 2;
          goto done;
        }
    }
  }
  for (int s = 0; s < n_specs; s++) {
    const char* eq = strchr(in_specs[s], '=');
    size_t slot = (size_t)s;
    const char* file = in_specs[s];
    if (eq) {
      size_t len = (size_t)(eq - in_specs[s]);
      file = eq + 1;
      for (slot = 0; slot < n_in; slot++) {
        const char* name = ttp_program_input(prog, slot).name;
        if (strlen(name) == len && !strncmp(name, in_specs[s], len)) break;
      }
      if (slot == n_in) {
        fprintf(stderr, "ttpack-run: program '%s' has no input named '%.*s'\n", ttp_program_name(prog),
                (int)len, in_specs[s]);
        rc = 2;
        goto done;
      }
    } else if (slot >= n_in) {
      fprintf(stderr, "ttpack-run: program '%s' takes %zu input(s), %d given\n", ttp_program_name(prog), n_in,
              n_specs);
      rc = 2;
      goto done;
    }
    ttp_tensor_info want = ttp_program_input(prog, slot);
    if (in_from[slot]) {
      fprintf(stderr, "ttpack-run: input '%s' (input %zu) is given twice: by '-i %s' and by '-i %s'\n",
              want.name, slot, in_from[slot], in_specs[s]);
      rc = 2;
      goto done;
    }
    in_from[slot] = in_specs[s];
    const char* err = npy_read(file, &ins[slot]);
    if (!err && (ins[slot].dtype != want.dtype || ins[slot].rank != want.rank ||
                 memcmp(ins[slot].dims, want.dims, sizeof(int64_t) * want.rank) != 0))
      err = "array dtype or shape differs from the input's (run with --info to see the signature)";
    if (err) {
      fprintf(stderr, "ttpack-run: input '%s' from %s: %s\n", want.name, file, err);
      rc = 2;
      goto done;
    }
    in_bufs[slot] = (ttp_buffer){ins[slot].data, ins[slot].nbytes};
  }
  for (size_t i = 0; i < n_in; i++)
    if (!in_from[i]) {
      fprintf(stderr, "ttpack-run: program '%s' takes %zu input(s); input '%s' (input %zu) is missing: "
                      "give it with -i %s=FILE.npy\n", ttp_program_name(prog), n_in,
              ttp_program_input(prog, i).name, i, ttp_program_input(prog, i).name);
      rc = 2;
      goto done;
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
    free(path);
    size_t n = strlen(out_dir) + 1 + strlen(t.name) + sizeof ".npy";
    if (!(path = malloc(n))) {
      fprintf(stderr, "ttpack-run: out of memory\n");
      rc = 1;
      break;
    }
    snprintf(path, n, "%s/%s.npy", out_dir, t.name);
    const char* err = npy_write(path, &a);
    if (err) {
      fprintf(stderr, "ttpack-run: writing %s: %s\n", path, err);
      rc = 1;
    } else {
      printf("wrote %s\n", path);
    }
  }
done:
  if (ins)
    for (size_t i = 0; i < n_in; i++) free(ins[i].data);
  if (out_bufs)
    for (size_t i = 0; i < n_out; i++) free(out_bufs[i].data);
  free(path);
  free(ins);
  free(in_from);
  free(in_bufs);
  free(out_bufs);
  free(in_specs);
  ttp_program_free(prog);
  ttp_model_free(model);
  return rc;
}
