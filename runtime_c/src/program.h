/* A program decoded from an archive into plain C structs: the form every
 * device backend consumes. Decoding (program.c) verifies every index, size,
 * attribute and shape rule, so backends can trust a ttp_plan completely. */
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

typedef struct ttp_tensor {
  int dtype;                    /* ttp_dtype */
  uint32_t rank;
  int64_t dims[TTP_MAX_RANK];
  int64_t numel;
  size_t nbytes;                /* numel * element size, overflow-checked */
  int kind;                     /* ttp_tensor_kind */
  int layout;                   /* TTP_FB_LAYOUT_* as stored (unchecked: backends decide) */
  int buffer_type;              /* TTP_FB_BUFFERTYPE_* as stored (unchecked) */
  const void* weight_data;      /* kind == WEIGHT: nbytes bytes inside the archive */
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

typedef struct ttp_plan {
  const char* name;
  uint32_t n_tensors, n_inputs, n_outputs, n_ops;
  ttp_tensor* tensors;
  ttp_binding* inputs;
  ttp_binding* outputs;
  ttp_op* ops;
  void* storage;                /* one allocation backing all arrays above */
} ttp_plan;

/* Size in bytes of one element; 0 for types the runtime cannot hold. */
size_t ttp_dtype_size(int dtype);
/* Schema names of TensorDesc.layout and .buffer_type values ("RowMajor",
   "DRAM"...); "unknown" for values this runtime does not know. */
const char* ttp_layout_name(int layout);
const char* ttp_buffer_type_name(int buffer_type);

#endif /* TTP_PROGRAM_H_ */
