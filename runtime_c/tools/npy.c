#include "npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ttpack/runtime.h"

static const struct {
  const char* descr;
  int dtype;
  size_t size;
} kTypes[] = {{"<f4", TTP_DTYPE_FLOAT32, 4}, {"<i4", TTP_DTYPE_INT32, 4}, {"|b1", TTP_DTYPE_BOOL, 1},
               {"<f2", TTP_DTYPE_FLOAT16, 2}};

/* Parses the Python-literal header dict NumPy writes:
   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } */
static const char* parse_header(const char* h, npy_array* a, size_t* esize) {
  const char* d = strstr(h, "'descr':");
  const char* f = strstr(h, "'fortran_order':");
  const char* s = strstr(h, "'shape':");
  if (!d || !f || !s) return "malformed .npy header";
  d = strchr(d + 8, '\'');
  if (!d) return "malformed .npy header";
  *esize = 0;
  for (size_t i = 0; i < sizeof kTypes / sizeof *kTypes; i++)
    if (strncmp(d + 1, kTypes[i].descr, 3) == 0 && d[4] == '\'') {
      a->dtype = kTypes[i].dtype;
      *esize = kTypes[i].size;
    }
  if (!*esize) return "unsupported .npy dtype (ttpack-run reads float32, int32 and bool)";
  if (strncmp(f + 16, " False", 6) != 0 && strncmp(f + 16, "False", 5) != 0)
    return "Fortran-order .npy files are not supported";
  s = strchr(s, '(');
  if (!s) return "malformed .npy shape";
  s++;
  a->rank = 0;
  while (*s && *s != ')') {
    while (*s == ' ' || *s == ',') s++;
    if (*s == ')') break;
    char* end;
    long long v = strtoll(s, &end, 10);
    if (end == s || v < 0 || a->rank == NPY_MAX_RANK) return "malformed or too large .npy shape";
    a->dims[a->rank++] = v;
    s = end;
  }
  return NULL;
}

const char* npy_read(const char* path, npy_array* a) {
  memset(a, 0, sizeof *a);
  FILE* fp = fopen(path, "rb");
  if (!fp) return "cannot open file";
  unsigned char pre[12];
  const char* err = NULL;
  char* header = NULL;
  if (fread(pre, 1, 10, fp) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
    err = "not a .npy file";
    goto done;
  }
  size_t hlen = (size_t)pre[8] | ((size_t)pre[9] << 8);
  if (pre[6] >= 2) { /* format 2.0 has a 4-byte header length */
    if (fread(pre + 10, 1, 2, fp) != 2) {
      err = "truncated .npy header";
      goto done;
    }
    hlen |= ((size_t)pre[10] << 16) | ((size_t)pre[11] << 24);
  }
  if (hlen > (1u << 20) || !(header = calloc(hlen + 1, 1)) || fread(header, 1, hlen, fp) != hlen) {
    err = "truncated .npy header";
    goto done;
  }
  size_t esize;
  if ((err = parse_header(header, a, &esize))) goto done;
  size_t n = esize;
  for (uint32_t i = 0; i < a->rank; i++) {
    if (a->dims[i] && n > SIZE_MAX / (size_t)a->dims[i]) {
      err = ".npy array too large";
      goto done;
    }
    n *= (size_t)a->dims[i];
  }
  a->nbytes = n;
  a->data = malloc(n ? n : 1);
  if (!a->data || fread(a->data, 1, n, fp) != n) {
    err = "truncated .npy data";
    free(a->data);
    a->data = NULL;
  }
done:
  free(header);
  fclose(fp);
  return err;
}

const char* npy_write(const char* path, const npy_array* a) {
  const char* descr = NULL;
  for (size_t i = 0; i < sizeof kTypes / sizeof *kTypes; i++)
    if (kTypes[i].dtype == a->dtype) descr = kTypes[i].descr;
  if (!descr) return "unsupported dtype";
  char dict[256], shape[200] = "";
  size_t used = 0;
  for (uint32_t i = 0; i < a->rank; i++)
    used += (size_t)snprintf(shape + used, sizeof shape - used, "%lld,%s", (long long)a->dims[i],
                             i + 1 < a->rank ? " " : "");
  if (a->rank > 1) shape[used - 1] = '\0'; /* (2, 3) but (4,) */
  int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, shape);
  /* pad so the data starts on a 64-byte boundary, header ends with '\n' */
  size_t total = 10 + (size_t)n + 1;
  size_t pad = (64 - total % 64) % 64;
  size_t hlen = (size_t)n + pad + 1;
  FILE* fp = fopen(path, "wb");
  if (!fp) return "cannot create file";
  unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8)};
  int ok = fwrite(pre, 1, 10, fp) == 10 && fwrite(dict, 1, (size_t)n, fp) == (size_t)n;
  for (size_t i = 0; ok && i < pad; i++) ok = fputc(' ', fp) != EOF;
  ok = ok && fputc('\n', fp) != EOF && fwrite(a->data, 1, a->nbytes, fp) == a->nbytes;
  ok = (fclose(fp) == 0) && ok;
  return ok ? NULL : "write failed";
}
