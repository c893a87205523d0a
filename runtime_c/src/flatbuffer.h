/* A verifying reader for FlatBuffers binaries.
 *
 * Every accessor bounds-checks the bytes it touches against the buffer and
 * returns false when they fall outside it, so a reader built on these cannot
 * read out of bounds whatever the input. Values are copied out with memcpy,
 * so no alignment is assumed. The typed accessors in schema_generated.h wrap
 * these with the field slots of ttpack.fbs. */
#ifndef TTP_FLATBUFFER_H_
#define TTP_FLATBUFFER_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ttp_fb_table {
  const uint8_t* buf;
  size_t size;
  size_t pos;        /* table start */
  size_t vtable;     /* vtable start */
  uint16_t vt_size;  /* vtable byte size */
  uint16_t tbl_size; /* inline table byte size */
} ttp_fb_table;

typedef struct ttp_fb_vector {
  const uint8_t* buf;
  size_t size;
  size_t pos;         /* first element */
  uint32_t length;    /* element count; 0 when absent */
  uint32_t elem_size;
} ttp_fb_vector;

typedef struct ttp_fb_string {
  const char* data;   /* NULL when absent; otherwise NUL-terminated in the buffer */
  uint32_t length;
} ttp_fb_string;

/* Root table of a buffer whose identifier (bytes 4..8) must equal `ident`. */
bool ttp_fb_root(const uint8_t* buf, size_t size, const char ident[4], ttp_fb_table* out);
bool ttp_fb_read_scalar(const ttp_fb_table* t, unsigned slot, unsigned width, void* out);
bool ttp_fb_read_string(const ttp_fb_table* t, unsigned slot, ttp_fb_string* out);
bool ttp_fb_read_vector(const ttp_fb_table* t, unsigned slot, unsigned elem_size, ttp_fb_vector* out);
bool ttp_fb_read_table(const ttp_fb_table* t, unsigned slot, ttp_fb_table* out, bool* present);
/* Element i of a vector of tables. */
bool ttp_fb_vector_table(const ttp_fb_vector* v, uint32_t i, ttp_fb_table* out);
/* Element i of a vector of strings. */
bool ttp_fb_vector_string(const ttp_fb_vector* v, uint32_t i, ttp_fb_string* out);
/* Element i of a scalar vector (i < length is checked). */
bool ttp_fb_vector_scalar(const ttp_fb_vector* v, uint32_t i, void* out);

#endif /* TTP_FLATBUFFER_H_ */
