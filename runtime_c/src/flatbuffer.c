#include "flatbuffer.h"

#include <string.h>

#include "bytes.h"
/* FlatBuffers layout (little-endian): a table starts with an int32 offset
   back to its vtable; the vtable is uint16 [vtable size, table size, field
   offsets...]; offset fields hold uint32 offsets forward from themselves. */

static bool in_bounds(size_t size, size_t pos, size_t len) {
  return pos <= size && len <= size - pos;
}

static bool open_table(const uint8_t* buf, size_t size, size_t pos, ttp_fb_table* out) {
  if (!in_bounds(size, pos, 4)) return false;
  int32_t soff;
  memcpy(&soff, buf + pos, 4);
  int64_t vt = (int64_t)pos - (int64_t)soff;
  if (vt < 0 || !in_bounds(size, (size_t)vt, 4)) return false;
  uint16_t vt_size = ttp_load_u16(buf + vt), tbl_size = ttp_load_u16(buf + vt + 2);
  if (vt_size < 4 || (vt_size & 1) || !in_bounds(size, (size_t)vt, vt_size)) return false;
  if (tbl_size < 4 || !in_bounds(size, pos, tbl_size)) return false;
  *out = (ttp_fb_table){buf, size, pos, (size_t)vt, vt_size, tbl_size};
  return true;
}

bool ttp_fb_root(const uint8_t* buf, size_t size, const char ident[4], ttp_fb_table* out) {
  if (size < 8 || memcmp(buf + 4, ident, 4) != 0) return false;
  return open_table(buf, size, ttp_load_u32(buf), out);
}

/* Byte offset of a field inside its table, 0 when absent. The field's
   `width` bytes must lie inside the table's declared inline size. */
static bool field_offset(const ttp_fb_table* t, unsigned slot, unsigned width, size_t* off) {
  size_t entry = 4 + 2 * (size_t)slot;
  *off = 0;
  if (entry + 2 > t->vt_size) return true; /* older writer: field absent */
  uint16_t o = ttp_load_u16(t->buf + t->vtable + entry);
  if (o == 0) return true;
  if (o < 4 || (size_t)o + width > t->tbl_size) return false;
  *off = o;
  return true;
}

bool ttp_fb_read_scalar(const ttp_fb_table* t, unsigned slot, unsigned width, void* out) {
  size_t off;
  memset(out, 0, width);
  if (!field_offset(t, slot, width, &off)) return false;
  if (off) memcpy(out, t->buf + t->pos + off, width);
  return true;
}

/* Follows an offset field to its target; *target = 0 when absent. */
static bool deref(const ttp_fb_table* t, unsigned slot, size_t* target) {
  size_t off;
  *target = 0;
  if (!field_offset(t, slot, 4, &off)) return false;
  if (!off) return true;
  size_t at = t->pos + off;
  size_t dst = at + ttp_load_u32(t->buf + at);
  if (dst < at || dst >= t->size) return false;
  *target = dst;
  return true;
}

static bool open_vector(const uint8_t* buf, size_t size, size_t pos, unsigned elem_size,
                        ttp_fb_vector* out) {
  if (!in_bounds(size, pos, 4)) return false;
  uint32_t n = ttp_load_u32(buf + pos);
  if (elem_size && n > (size - pos - 4) / elem_size) return false;
  *out = (ttp_fb_vector){buf, size, pos + 4, n, elem_size};
  return true;
}

bool ttp_fb_read_vector(const ttp_fb_table* t, unsigned slot, unsigned elem_size, ttp_fb_vector* out) {
  size_t pos;
  *out = (ttp_fb_vector){t->buf, t->size, 0, 0, elem_size};
  if (!deref(t, slot, &pos)) return false;
  return pos == 0 || open_vector(t->buf, t->size, pos, elem_size, out);
}

/* FlatBuffers strings are UTF-8; names flow into error messages and
   language bindings, so malformed sequences are rejected here. */
static bool valid_utf8(const uint8_t* s, size_t n) {
  for (size_t i = 0; i < n;) {
    uint8_t c = s[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (!len || len > n - i) return false;
    uint32_t cp = len == 1 ? c : (uint32_t)(c & (0x7F >> len));
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

static bool open_string(const uint8_t* buf, size_t size, size_t pos, ttp_fb_string* out) {
  ttp_fb_vector v;
  /* length bytes plus the terminating NUL must be in bounds */
  if (!open_vector(buf, size, pos, 1, &v) || v.length >= size - v.pos) return false;
  const char* s = (const char*)buf + v.pos;
  if (s[v.length] != '\0' || memchr(s, '\0', v.length) != NULL) return false;
  if (!valid_utf8((const uint8_t*)s, v.length)) return false;
  *out = (ttp_fb_string){s, v.length};
  return true;
}

bool ttp_fb_read_string(const ttp_fb_table* t, unsigned slot, ttp_fb_string* out) {
  size_t pos;
  *out = (ttp_fb_string){NULL, 0};
  if (!deref(t, slot, &pos)) return false;
  return pos == 0 || open_string(t->buf, t->size, pos, out);
}

bool ttp_fb_vector_string(const ttp_fb_vector* v, uint32_t i, ttp_fb_string* out) {
  *out = (ttp_fb_string){NULL, 0};
  if (i >= v->length || v->elem_size != 4) return false;
  size_t at = v->pos + (size_t)i * 4;
  size_t dst = at + ttp_load_u32(v->buf + at);
  return dst >= at && dst < v->size && open_string(v->buf, v->size, dst, out);
}

bool ttp_fb_read_table(const ttp_fb_table* t, unsigned slot, ttp_fb_table* out, bool* present) {
  size_t pos;
  *present = false;
  if (!deref(t, slot, &pos)) return false;
  if (!pos) return true;
  *present = true;
  return open_table(t->buf, t->size, pos, out);
}

bool ttp_fb_vector_table(const ttp_fb_vector* v, uint32_t i, ttp_fb_table* out) {
  if (i >= v->length || v->elem_size != 4) return false;
  size_t at = v->pos + (size_t)i * 4;
  size_t dst = at + ttp_load_u32(v->buf + at);
  if (dst < at) return false;
  return open_table(v->buf, v->size, dst, out);
}

bool ttp_fb_vector_scalar(const ttp_fb_vector* v, uint32_t i, void* out) {
  if (i >= v->length) return false;
  memcpy(out, v->buf + v->pos + (size_t)i * v->elem_size, v->elem_size);
  return true;
}
