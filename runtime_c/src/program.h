/* A program decoded from an archive into plain C structs: the form every
 * device backend consumes. Decoding (program.c) verifies every index, size,
 * attribute, storage and the dataflow, and each op's shape and attribute
 * rules (op_verify.c), so backends can trust a ttp_plan without checks of
 * their own. */
#ifndef TTP_PROGRAM_H_
#define TTP_PROGRAM_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops_generated.h"
#include "ttpack/runtime.h"

#define TTP_MAX_RANK 8

enum ttp_tensor_kind {
  TTP_TENSOR_INTERMEDIATE = 0,
  TTP_TENSOR_INPUT = 1,
  TTP_TENSOR_WEIGHT = 2,
};

/* How a tensor's elements are laid out in bytes (schema table Storage),
   verified: known enums, block floats in TILE only, 32x32 tiles, a shard spec
   exactly when sharded, and nbytes equal to what the rest implies. */
typedef struct ttp_storage {
  int layout;                   /* TTP_FB_LAYOUT_* */
  int dtype;                    /* storage element type (ttp_dtype) */
  int buffer_type;              /* TTP_FB_BUFFERTYPE_* */
  int memory_layout;            /* TTP_FB_MEMORYLAYOUT_* */
  uint32_t shard_grid[2];       /* sharded only: cores (x, y) */
  int64_t shard_shape[2];       /* sharded only: elements (rows, columns) per shard */
  size_t nbytes;                /* physical bytes */
} ttp_storage;

typedef struct ttp_tensor {
  int dtype;                    /* logical element type (ttp_dtype): float32, bfloat16, int32 or bool */
  uint32_t rank;
  int64_t dims[TTP_MAX_RANK];   /* logical shape */
  int64_t numel;
  size_t nbytes;                /* == storage.nbytes */
  int kind;                     /* ttp_tensor_kind */
  ttp_storage storage;
  const void* weight_data;      /* kind == WEIGHT: nbytes bytes inside the archive, in `storage` form */
} ttp_tensor;

typedef struct ttp_attr {
  bool present;
  uint32_t n_ints;
  uint32_t n_floats;
  const int64_t* ints;          /* owned by the plan */
  const double* floats;
} ttp_attr;

typedef struct ttp_op {
  int code;                     /* enum ttp_op_code */
  uint32_t n_inputs, n_outputs;
  const uint32_t* inputs;       /* ttp_plan.tensors indices, verified in range */
  const uint32_t* outputs;
  ttp_attr attrs[TTP_MAX_ATTRS];/* slots as in ttp_op_defs[code].attrs */
  const char* location;         /* never NULL ("" when unknown) */
} ttp_op;

typedef struct ttp_binding {
  const char* name;
  uint32_t tensor;
} ttp_binding;

/* A sub-program an op runs (a while's cond or body), over the plan's
   tensors: its ops are plan.ops[first_op, first_op + n_ops). Verified: its
   ops read only its inputs, tensors its ops wrote and weights; an op of
   region r names only regions after r, each region is named by exactly one
   op (a tree, no recursion), and the types match the naming op's rules. */
typedef struct ttp_region {
  uint32_t first_op, n_ops;
  uint32_t n_inputs, n_outputs;
  const uint32_t* inputs;       /* intermediates no op writes: set when the region is entered */
  const uint32_t* outputs;
} ttp_region;

typedef struct ttp_plan {
  const char* name;
  uint32_t n_tensors, n_inputs, n_outputs;
  uint32_t n_ops;               /* every op: the program's own first, then each region's */
  uint32_t n_main_ops;          /* ops[0, n_main_ops) are the program's own, run in order */
  uint32_t n_regions;
  ttp_tensor* tensors;
  ttp_binding* inputs;
  ttp_binding* outputs;
  ttp_op* ops;
  ttp_region* regions;
  void* storage;                /* one allocation backing all arrays above */
} ttp_plan;

/* Size in bytes of one element of a logical type (what a host buffer holds
   per element); 0 for types that are not logical types. */
size_t ttp_dtype_size(int dtype);
/* Schema names of Storage.layout and MemoryConfig.buffer_type values
   ("RowMajor", "DRAM"...); "unknown" for values this runtime does not know. */
const char* ttp_layout_name(int layout);
const char* ttp_buffer_type_name(int buffer_type);

/* Reads and verifies a Storage table for a tensor of the given logical
   shape. chip_grid is the archive's compute grid ({0, 0} without a chip),
   which shards must fit. *cost is the bytes of tables and vectors read, for
   the caller's decode budget. */
struct ttp_fb_table;
ttp_status* ttp_read_storage(const struct ttp_fb_table* storage, uint32_t rank, const int64_t* dims,
                             const uint32_t chip_grid[2], ttp_storage* out, uint64_t* cost);
/* The same storage (every field). */
int ttp_storage_equal(const ttp_storage* a, const ttp_storage* b);
/* A dense row-major host buffer of the logical type: how inputs and outputs are bound. */
int ttp_storage_is_host_dense(const ttp_storage* s, int logical_dtype);
/* "tile:bfloat8_b@dram/interleaved" into buf. */
void ttp_storage_str(const ttp_storage* s, char* buf, size_t size);

#endif /* TTP_PROGRAM_H_ */
