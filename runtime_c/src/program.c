/* Decoding one program of a verified archive into a ttp_plan, checking
 * every index, name, attribute and storage (storage.c), and the program's
 * dataflow: inputs bound once, every tensor defined before use, weights
 * matching their table entries, inputs and outputs dense host tensors, op
 * inputs of the logical types the op registry defines the op on; then each
 * op's own rules (op_verify.c), so every backend gets a fully verified plan. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "op_verify.h"
#include "schema_generated.h"
#include "status.h"

#define BAD(...) ttp_make_status(TTP_INVALID_ARCHIVE, __VA_ARGS__)

size_t ttp_dtype_size(int dtype) {
  switch (dtype) {
    case TTP_DTYPE_FLOAT32:
    case TTP_DTYPE_INT32:
      return 4;
    case TTP_DTYPE_BFLOAT16:
    case TTP_DTYPE_FLOAT16:
      return 2;
    case TTP_DTYPE_BOOL:
      return 1;
    default:
      return 0;
  }
}

/* The registry's TTP_OP_TAKES_* bit of a logical type. */
static unsigned takes_bit(int dtype) {
  switch (dtype) {
    case TTP_DTYPE_FLOAT32: return TTP_OP_TAKES_F32;
    case TTP_DTYPE_INT32: return TTP_OP_TAKES_I32;
    case TTP_DTYPE_BOOL: return TTP_OP_TAKES_BOOL;
    case TTP_DTYPE_BFLOAT16: return TTP_OP_TAKES_BF16;
    case TTP_DTYPE_FLOAT16: return TTP_OP_TAKES_F16;
    default: return 0;
  }
}

const char* ttp_dtype_name(int dtype) {
  static const char* names[] = {"invalid", "float32", "float16", "bfloat16", "float64",
                                "int8",    "int16",   "int32",   "int64",    "uint8",
                                "uint16",  "uint32",  "uint64",  "bool",     "bfloat8_b",
                                "bfloat4_b"};
  return dtype >= 0 && dtype < (int)(sizeof names / sizeof *names) ? names[dtype] : "invalid";
}

const char* ttp_layout_name(int layout) {
  static const char* names[] = {"RowMajor", "Tile"};
  return layout >= 0 && layout < (int)(sizeof names / sizeof *names) ? names[layout] : "unknown";
}

const char* ttp_buffer_type_name(int buffer_type) {
  static const char* names[] = {"SystemMemory", "DRAM", "L1"};
  return buffer_type >= 0 && buffer_type < (int)(sizeof names / sizeof *names) ? names[buffer_type] : "unknown";
}

ttp_status* ttp_read_shape(const ttp_fb_vector* v, uint32_t* rank, int64_t dims[TTP_MAX_RANK],
                           int64_t* numel) {
  if (v->length > TTP_MAX_RANK) return BAD("rank %u exceeds the maximum of %d", v->length, TTP_MAX_RANK);
  int64_t n = 1;
  for (uint32_t i = 0; i < v->length; i++) {
    ttp_fb_vector_scalar(v, i, &dims[i]);
    if (dims[i] < 0) return BAD("negative dimension %lld", (long long)dims[i]);
    /* keep numel * 8 within int64 so byte sizes cannot overflow either */
    if (dims[i] && n > (INT64_MAX / 8) / dims[i]) return BAD("shape has too many elements");
    n *= dims[i];
  }
  *rank = v->length;
  *numel = n;
  return NULL;
}

/* A bump allocator: the plan's arrays share a few large blocks freed together. */
typedef struct chunk {
  struct chunk* next;
  size_t used, cap;
  _Alignas(16) unsigned char bytes[];
} chunk;

static void* arena_alloc(ttp_plan* plan, size_t n) {
  n = (n + 15) & ~(size_t)15;
  chunk* c = plan->storage;
  if (!c || c->cap - c->used < n) {
    size_t cap = n > 65536 ? n : 65536;
    chunk* fresh = malloc(sizeof *fresh + cap);
    if (!fresh) return NULL;
    fresh->next = c;
    fresh->used = 0;
    fresh->cap = cap;
    plan->storage = c = fresh;
  }
  void* p = c->bytes + c->used;
  c->used += n;
  memset(p, 0, n);
  return p;
}

void ttp_plan_free(ttp_plan* plan) {
  for (chunk* c = plan->storage; c;) {
    chunk* next = c->next;
    free(c);
    c = next;
  }
  memset(plan, 0, sizeof *plan);
}

#define ALLOC(plan, ptr, count)                                                  \
  do {                                                                           \
    (ptr) = arena_alloc((plan), sizeof *(ptr) * ((count) ? (size_t)(count) : 1)); \
    if (!(ptr)) return ttp_make_status(TTP_OUT_OF_MEMORY, "out of memory decoding a program"); \
  } while (0)

/* Decoding state. Every table, vector and string read is charged against
   `budget` (TTP_DECODE_FACTOR times the program section) before anything is
   copied out of it, so a small archive whose offsets all point at one large
   table cannot make decoding allocate or copy quadratically. */
typedef struct decoder {
  const ttp_model* m;
  ttp_plan* plan;
  uint64_t budget;
} decoder;

static ttp_status* charge(decoder* d, uint64_t bytes) {
  if (bytes > d->budget)
    return BAD("program decodes to more data than the archive holds (shared or overlapping tables)");
  d->budget -= bytes;
  return NULL;
}

static ttp_status* charge_vector(decoder* d, const ttp_fb_vector* v) {
  return v->pos ? charge(d, 4 + (uint64_t)v->length * v->elem_size) : NULL; /* absent: free */
}

static ttp_status* charge_string(decoder* d, const ttp_fb_string* s) {
  return s->data ? charge(d, 5 + (uint64_t)s->length) : NULL;
}

static ttp_status* read_tensor(decoder* d, const ttp_fb_table* t, uint32_t index, ttp_tensor* out) {
  const ttp_model* m = d->m;
  ttp_fb_vector shape;
  ttp_fb_table storage;
  bool has_storage;
  uint8_t dtype, kind;
  uint32_t weight;
  if (!ttp_fb_TensorDesc_shape(t, &shape) || !ttp_fb_TensorDesc_dtype(t, &dtype) ||
      !ttp_fb_TensorDesc_kind(t, &kind) || !ttp_fb_TensorDesc_weight(t, &weight) ||
      !ttp_fb_TensorDesc_storage(t, &storage, &has_storage))
    return BAD("tensor %u: table out of bounds", index);
  TTP_RETURN_IF_ERROR(charge(d, t->tbl_size));
  TTP_RETURN_IF_ERROR(charge_vector(d, &shape));
  if (!ttp_dtype_size(dtype))
    return ttp_make_status(TTP_UNSUPPORTED, "tensor %u has logical element type %s; this runtime computes "
                           "float32, bfloat16, float16, int32 and bool", index, ttp_dtype_name(dtype));
  TTP_RETURN_IF_ERROR(ttp_annotate(ttp_read_shape(&shape, &out->rank, out->dims, &out->numel), "tensor %u", index));
  if (!has_storage) return BAD("tensor %u has no storage", index);
  uint64_t cost = 0;
  ttp_status* st = ttp_read_storage(&storage, out->rank, out->dims, m->chip_grid, &out->storage, &cost);
  if (!st) st = charge(d, cost);
  TTP_RETURN_IF_ERROR(ttp_annotate(st, "tensor %u", index));
  out->dtype = dtype;
  out->nbytes = out->storage.nbytes;
  out->kind = kind;
  if (kind > TTP_TENSOR_WEIGHT) return BAD("tensor %u has unknown kind %u", index, kind);
  if (kind == TTP_TENSOR_WEIGHT) {
    if (weight >= m->n_weights) return BAD("tensor %u names weight %u of %u", index, weight, m->n_weights);
    const ttp_weight* w = &m->weights[weight];
    if (w->dtype != out->dtype || w->rank != out->rank ||
        memcmp(w->dims, out->dims, sizeof(int64_t) * out->rank) != 0)
      return BAD("tensor %u does not match the type of weight '%s'", index, w->name);
    if (!ttp_storage_equal(&w->storage, &out->storage))
      return BAD("tensor %u does not match the storage of weight '%s'", index, w->name);
    out->weight_data = w->data;
  }
  return NULL;
}

static ttp_status* read_bindings(decoder* d, const ttp_fb_vector* v, const char* what,
                                 ttp_binding** out) {
  ttp_plan* plan = d->plan;
  TTP_RETURN_IF_ERROR(charge_vector(d, v));
  ALLOC(plan, *out, v->length);
  for (uint32_t i = 0; i < v->length; i++) {
    ttp_fb_table b;
    ttp_fb_string name;
    uint32_t tensor;
    if (!ttp_fb_vector_table(v, i, &b) || !ttp_fb_Binding_name(&b, &name) || !name.data ||
        !ttp_fb_Binding_tensor(&b, &tensor))
      return BAD("%s %u: table out of bounds or unnamed", what, i);
    TTP_RETURN_IF_ERROR(charge(d, b.tbl_size));
    TTP_RETURN_IF_ERROR(charge_string(d, &name));
    if (tensor >= plan->n_tensors) return BAD("%s '%s' names tensor %u of %u", what, name.data, tensor, plan->n_tensors);
    (*out)[i] = (ttp_binding){name.data, tensor};
  }
  return NULL;
}

static ttp_status* read_indices(decoder* d, const ttp_fb_vector* v, const uint32_t** out) {
  ttp_plan* plan = d->plan;
  uint32_t* idx;
  TTP_RETURN_IF_ERROR(charge_vector(d, v));
  ALLOC(plan, idx, v->length);
  for (uint32_t i = 0; i < v->length; i++) {
    ttp_fb_vector_scalar(v, i, &idx[i]);
    if (idx[i] >= plan->n_tensors) return BAD("names tensor %u of %u", idx[i], plan->n_tensors);
  }
  *out = idx;
  return NULL;
}

static int find_op(const char* name) {
  for (int i = 0; i < TTP_OP_COUNT; i++)
    if (strcmp(ttp_op_defs[i].name, name) == 0) return i;
  return -1;
}

static ttp_status* read_attrs(decoder* d, const ttp_fb_vector* v, ttp_op* op) {
  ttp_plan* plan = d->plan;
  TTP_RETURN_IF_ERROR(charge_vector(d, v));
  for (uint32_t i = 0; i < v->length; i++) {
    ttp_fb_table a;
    ttp_fb_string name;
    ttp_fb_vector ints, floats;
    if (!ttp_fb_vector_table(v, i, &a) || !ttp_fb_Attribute_name(&a, &name) || !name.data ||
        !ttp_fb_Attribute_ints(&a, &ints) || !ttp_fb_Attribute_floats(&a, &floats))
      return BAD("attribute %u: table out of bounds or unnamed", i);
    TTP_RETURN_IF_ERROR(charge(d, a.tbl_size));
    TTP_RETURN_IF_ERROR(charge_string(d, &name));
    TTP_RETURN_IF_ERROR(charge_vector(d, &ints));
    TTP_RETURN_IF_ERROR(charge_vector(d, &floats));
    int slot = -1;
    for (int s = 0; s < TTP_MAX_ATTRS && ttp_op_defs[op->code].attrs[s]; s++)
      if (strcmp(ttp_op_defs[op->code].attrs[s], name.data) == 0) slot = s;
    if (slot < 0)
      return ttp_make_status(TTP_UNSUPPORTED, "unknown attribute '%s' (archive from a newer ttpack?)", name.data);
    ttp_attr* at = &op->attrs[slot];
    if (at->present) return BAD("attribute '%s' given twice", name.data);
    int64_t* iv;
    double* fv;
    ALLOC(plan, iv, ints.length);
    ALLOC(plan, fv, floats.length);
    for (uint32_t k = 0; k < ints.length; k++) ttp_fb_vector_scalar(&ints, k, &iv[k]);
    for (uint32_t k = 0; k < floats.length; k++) ttp_fb_vector_scalar(&floats, k, &fv[k]);
    *at = (ttp_attr){true, ints.length, floats.length, iv, fv};
  }
  return NULL;
}

static ttp_status* read_op(decoder* d, const ttp_fb_table* t, uint32_t index, ttp_op* op) {
  ttp_fb_string name, loc;
  ttp_fb_vector ins, outs, attrs;
  if (!ttp_fb_Operation_op(t, &name) || !name.data || !ttp_fb_Operation_location(t, &loc) ||
      !ttp_fb_Operation_inputs(t, &ins) || !ttp_fb_Operation_outputs(t, &outs) ||
      !ttp_fb_Operation_attributes(t, &attrs))
    return BAD("operation %u: table out of bounds or missing its op name", index);
  TTP_RETURN_IF_ERROR(charge(d, t->tbl_size));
  TTP_RETURN_IF_ERROR(charge_string(d, &name));
  TTP_RETURN_IF_ERROR(charge_string(d, &loc));
  op->location = loc.data ? loc.data : "";
  op->code = find_op(name.data);
  if (op->code < 0)
    return ttp_make_status(TTP_UNSUPPORTED,
                           "operation %u '%s' (%s) is not known to this runtime (%s); "
                           "upgrade the runtime or rebuild the archive with a matching ttpack",
                           index, name.data, op->location, TTP_RUNTIME_VERSION);
  op->n_inputs = ins.length;
  op->n_outputs = outs.length;
  ttp_status* st = read_indices(d, &ins, &op->inputs);
  if (!st) st = read_indices(d, &outs, &op->outputs);
  if (!st) st = read_attrs(d, &attrs, op);
  return st ? ttp_annotate(st, "operation %u '%s' (%s)", index, name.data, op->location) : NULL;
}

/* Dataflow: each input tensor bound exactly once by the signature, each
   intermediate produced exactly once (by an op, or as a region's input on
   entry) and before any use, inputs and weights never overwritten, outputs
   defined. Regions are isolated: their ops read only their own inputs, what
   their own ops wrote, and weights (so the program's ops never read a
   region's tensors either). */
#define SCOPE_WEIGHT UINT32_MAX
static ttp_status* check_dataflow(ttp_plan* plan) {
  /* scope[t]: 0 = not defined yet, 1 = defined by the program, r + 2 = by region r, SCOPE_WEIGHT */
  uint32_t* scope;
  ALLOC(plan, scope, plan->n_tensors);
  for (uint32_t i = 0; i < plan->n_inputs; i++) {
    uint32_t t = plan->inputs[i].tensor;
    if (plan->tensors[t].kind != TTP_TENSOR_INPUT)
      return BAD("input '%s' is bound to tensor %u, which is not an input", plan->inputs[i].name, t);
    if (scope[t]) return BAD("tensor %u is bound to two inputs", t);
    scope[t] = 1;
  }
  for (uint32_t t = 0; t < plan->n_tensors; t++) {
    if (plan->tensors[t].kind == TTP_TENSOR_WEIGHT) scope[t] = SCOPE_WEIGHT;
    if (plan->tensors[t].kind == TTP_TENSOR_INPUT && !scope[t]) return BAD("input tensor %u is not in the signature", t);
  }
  for (uint32_t s = 0; s <= plan->n_regions; s++) {
    const ttp_region* r = s ? &plan->regions[s - 1] : NULL;
    uint32_t here = s + 1, first = r ? r->first_op : 0, n = r ? r->n_ops : plan->n_main_ops;
    char where[32] = "";
    if (r) snprintf(where, sizeof where, "region %u ", s - 1);
    for (uint32_t k = 0; r && k < r->n_inputs; k++) {
      uint32_t t = r->inputs[k];
      if (plan->tensors[t].kind != TTP_TENSOR_INTERMEDIATE || scope[t])
        return BAD("%sinput %u is tensor %u, which is an input, a weight or already computed", where, k, t);
      scope[t] = here;
    }
    for (uint32_t i = first; i < first + n; i++) {
      const ttp_op* op = &plan->ops[i];
      for (uint32_t k = 0; k < op->n_inputs; k++) {
        uint32_t t = op->inputs[k];
        if (!scope[t])
          return BAD("%soperation %u '%s' reads tensor %u before it is computed", where, i - first,
                     ttp_op_defs[op->code].name, t);
        if (scope[t] != here && scope[t] != SCOPE_WEIGHT)
          return BAD("%soperation %u '%s' reads tensor %u of another region (regions are isolated: pass values "
                     "in as the region's inputs)", where, i - first, ttp_op_defs[op->code].name, t);
      }
      for (uint32_t k = 0; k < op->n_outputs; k++) {
        uint32_t t = op->outputs[k];
        if (plan->tensors[t].kind != TTP_TENSOR_INTERMEDIATE || scope[t])
          return BAD("%soperation %u '%s' writes tensor %u, which is an input, a weight or already computed", where,
                     i - first, ttp_op_defs[op->code].name, t);
        scope[t] = here;
      }
    }
    for (uint32_t k = 0; r && k < r->n_outputs; k++)
      if (scope[r->outputs[k]] != here && scope[r->outputs[k]] != SCOPE_WEIGHT)
        return BAD("%soutput %u (tensor %u) is not computed in the region", where, k, r->outputs[k]);
  }
  for (uint32_t i = 0; i < plan->n_outputs; i++) {
    uint32_t t = plan->outputs[i].tensor;
    if (scope[t] != 1 && scope[t] != SCOPE_WEIGHT)
      return BAD("output '%s' is never computed", plan->outputs[i].name);
  }
  return NULL;
}

/* Callers bind dense row-major host buffers of the logical type; anything
   else (a tiled or device tensor) must be converted inside the program. */
static ttp_status* check_bindings(const ttp_plan* plan) {
  for (int out = 0; out < 2; out++) {
    const ttp_binding* b = out ? plan->outputs : plan->inputs;
    uint32_t n = out ? plan->n_outputs : plan->n_inputs;
    for (uint32_t i = 0; i < n; i++) {
      const ttp_tensor* t = &plan->tensors[b[i].tensor];
      if (!ttp_storage_is_host_dense(&t->storage, t->dtype)) {
        char what[96];
        ttp_storage_str(&t->storage, what, sizeof what);
        return BAD("%s '%s' is stored as %s; inputs and outputs must be dense row-major host tensors of their "
                   "type (%s)", out ? "output" : "input", b[i].name, what, ttp_dtype_name(t->dtype));
      }
    }
  }
  return NULL;
}

/* Every op input has a logical type its op is defined on (the registry's dtypes). */
static ttp_status* check_input_types(const ttp_plan* plan) {
  for (uint32_t i = 0; i < plan->n_ops; i++) {
    const ttp_op* op = &plan->ops[i];
    unsigned takes = ttp_op_defs[op->code].input_dtypes;
    for (uint32_t k = 0; k < op->n_inputs && takes; k++) {
      int dtype = plan->tensors[op->inputs[k]].dtype;
      if (!(takes & takes_bit(dtype)))
        return ttp_make_status(TTP_INVALID_ARCHIVE, "operation %u '%s' (%s): input %u is %s, which the op is "
                               "not defined on", i, ttp_op_defs[op->code].name, op->location, k, ttp_dtype_name(dtype));
    }
  }
  return NULL;
}

/* Program.regions: each region's tables and vectors, counting the ops it
   adds to the plan (after the program's own). */
static ttp_status* read_region_tables(decoder* d, const ttp_fb_vector* regions, ttp_fb_vector* region_ops,
                                      uint32_t* n_ops) {
  TTP_RETURN_IF_ERROR(charge_vector(d, regions));
  ALLOC(d->plan, d->plan->regions, regions->length);
  d->plan->n_regions = regions->length;
  for (uint32_t r = 0; r < regions->length; r++) {
    ttp_fb_table t;
    if (!ttp_fb_vector_table(regions, r, &t) || !ttp_fb_Region_operations(&t, &region_ops[r]))
      return BAD("region %u: table out of bounds", r);
    TTP_RETURN_IF_ERROR(charge(d, t.tbl_size));
    TTP_RETURN_IF_ERROR(charge_vector(d, &region_ops[r]));
    if (region_ops[r].length > UINT32_MAX - *n_ops) return BAD("region %u: too many operations", r);
    d->plan->regions[r].first_op = *n_ops;
    d->plan->regions[r].n_ops = region_ops[r].length;
    *n_ops += region_ops[r].length;
  }
  return NULL;
}

static ttp_status* read_region(decoder* d, const ttp_fb_vector* regions, const ttp_fb_vector* region_ops,
                               uint32_t r) {
  ttp_region* out = &d->plan->regions[r];
  ttp_fb_table t;
  ttp_fb_vector ins, outs;
  if (!ttp_fb_vector_table(regions, r, &t) || !ttp_fb_Region_inputs(&t, &ins) || !ttp_fb_Region_outputs(&t, &outs))
    return BAD("region %u: table out of bounds", r);
  out->n_inputs = ins.length;
  out->n_outputs = outs.length;
  ttp_status* st = read_indices(d, &ins, &out->inputs);
  if (!st) st = read_indices(d, &outs, &out->outputs);
  if (st) return ttp_annotate(st, "region %u", r);
  for (uint32_t i = 0; i < out->n_ops; i++) {
    ttp_fb_table op;
    if (!ttp_fb_vector_table(region_ops, i, &op)) return BAD("region %u operation %u: table out of bounds", r, i);
    st = read_op(d, &op, i, &d->plan->ops[out->first_op + i]);
    if (st) return ttp_annotate(st, "region %u", r);
  }
  return NULL;
}

static ttp_status* decode(const ttp_model* m, uint32_t index, ttp_plan* plan) {
  decoder dec = {m, plan, (uint64_t)TTP_DECODE_FACTOR * m->root.size};
  decoder* d = &dec;
  ttp_fb_vector progs, tensors, ins, outs, ops, regions;
  ttp_fb_table p;
  ttp_fb_Archive_programs(&m->root, &progs);
  if (!ttp_fb_vector_table(&progs, index, &p) || !ttp_fb_Program_tensors(&p, &tensors) ||
      !ttp_fb_Program_inputs(&p, &ins) || !ttp_fb_Program_outputs(&p, &outs) ||
      !ttp_fb_Program_operations(&p, &ops) || !ttp_fb_Program_regions(&p, &regions))
    return BAD("program table out of bounds");
  TTP_RETURN_IF_ERROR(charge(d, p.tbl_size));
  TTP_RETURN_IF_ERROR(charge_vector(d, &tensors));
  TTP_RETURN_IF_ERROR(charge_vector(d, &ops));
  plan->name = m->program_names[index];
  plan->n_tensors = tensors.length;
  plan->n_main_ops = ops.length;
  plan->n_inputs = ins.length;
  plan->n_outputs = outs.length;
  ttp_fb_vector* region_ops;
  ALLOC(plan, region_ops, regions.length);
  uint32_t n_ops = ops.length;
  TTP_RETURN_IF_ERROR(read_region_tables(d, &regions, region_ops, &n_ops));
  plan->n_ops = n_ops;
  ALLOC(plan, plan->tensors, tensors.length);
  ALLOC(plan, plan->ops, n_ops);
  for (uint32_t i = 0; i < tensors.length; i++) {
    ttp_fb_table t;
    if (!ttp_fb_vector_table(&tensors, i, &t)) return BAD("tensor %u: table out of bounds", i);
    TTP_RETURN_IF_ERROR(read_tensor(d, &t, i, &plan->tensors[i]));
  }
  TTP_RETURN_IF_ERROR(read_bindings(d, &ins, "input", &plan->inputs));
  TTP_RETURN_IF_ERROR(read_bindings(d, &outs, "output", &plan->outputs));
  for (uint32_t i = 0; i < ops.length; i++) {
    ttp_fb_table t;
    if (!ttp_fb_vector_table(&ops, i, &t)) return BAD("operation %u: table out of bounds", i);
    TTP_RETURN_IF_ERROR(read_op(d, &t, i, &plan->ops[i]));
  }
  for (uint32_t r = 0; r < regions.length; r++) TTP_RETURN_IF_ERROR(read_region(d, &regions, &region_ops[r], r));
  TTP_RETURN_IF_ERROR(check_dataflow(plan));
  TTP_RETURN_IF_ERROR(check_bindings(plan));
  TTP_RETURN_IF_ERROR(check_input_types(plan));
  return ttp_verify_ops(plan);
}

ttp_status* ttp_plan_decode(const ttp_model* m, uint32_t index, ttp_plan* plan) {
  memset(plan, 0, sizeof *plan);
  ttp_status* st = decode(m, index, plan);
  if (st) {
    ttp_plan_free(plan);
    return ttp_annotate(st, "program '%s'", m->program_names[index]);
  }
  return NULL;
}
