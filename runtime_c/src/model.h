/* An opened archive: verified header, sections, segments and weight table. */
#ifndef TTP_MODEL_H_
#define TTP_MODEL_H_

#include <stdatomic.h>

#include "flatbuffer.h"
#include "program.h"

/* Layout of the fixed header at offset 0 (little-endian). ttpack/archive/format.py
   writes the same layout. */
#define TTP_MAGIC "TTPACK\0\x1a"
#define TTP_MAGIC_SIZE 8
#define TTP_HEADER_SIZE 80
#define TTP_SEGMENT_ALIGNMENT 4096 /* segments start on page boundaries */
#define TTP_WEIGHT_ALIGNMENT 64    /* weights inside a segment */
/* Opening an archive, and decoding each of its programs, may read at most
   this many times the program section's size in tables, vectors and strings.
   Without shared tables a flatbuffer holds each of them once (factor 1); the
   slack admits writers that share strings or small vectors. */
#ifndef TTP_DECODE_FACTOR
#define TTP_DECODE_FACTOR 4
#endif

typedef struct ttp_weight {
  const char* name;
  int dtype;                 /* logical */
  uint32_t rank;
  int64_t dims[TTP_MAX_RANK];
  ttp_storage storage;       /* the form the bytes are in */
  size_t nbytes;             /* == storage.nbytes */
  const void* data;
} ttp_weight;

struct ttp_model {
  atomic_int refs;
  const uint8_t* data;     /* the whole archive */
  size_t size;
  void* mapping;           /* munmap on free, when opened from a file */
  void* owned;             /* free on free, when opened from memory */
  uint16_t major, minor;
  const uint8_t* metadata;
  size_t metadata_size;
  ttp_fb_table root;       /* the program section's root table */
  const char* target;
  const char* chip_arch;   /* NULL for a cpu archive */
  uint32_t chip_grid[2];   /* the chip's compute grid; {0, 0} for a cpu archive */
  uint32_t n_programs;
  const char** program_names;
  uint32_t n_weights;
  ttp_weight* weights;
};

void ttp_model_retain(ttp_model* model);

/* Decodes and verifies program `index` of the model into *plan. */
ttp_status* ttp_plan_decode(const ttp_model* model, uint32_t index, ttp_plan* plan);
void ttp_plan_free(ttp_plan* plan);

#endif /* TTP_MODEL_H_ */
