/* Reading and writing NumPy .npy files (format 1.0/2.0, little-endian,
 * C order) for float32, int32 and bool arrays: how ttpack-run exchanges
 * tensors with other tools. */
#ifndef TTP_TOOLS_NPY_H_
#define TTP_TOOLS_NPY_H_

#include <stddef.h>
#include <stdint.h>

#define NPY_MAX_RANK 8

typedef struct npy_array {
  int dtype; /* ttp_dtype */
  uint32_t rank;
  int64_t dims[NPY_MAX_RANK];
  void* data;
  size_t nbytes;
} npy_array;

/* Returns NULL on success, or a static message (with `path` context printed
   by the caller). *out->data is malloc'ed. */
const char* npy_read(const char* path, npy_array* out);
const char* npy_write(const char* path, const npy_array* a);

#endif
