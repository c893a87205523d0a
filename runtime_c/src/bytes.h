/* Little-endian loads from untrusted, possibly unaligned bytes. Archives are
   little-endian, as are all hosts the runtime targets. */
#ifndef TTP_BYTES_H_
#define TTP_BYTES_H_

#include <stdint.h>
#include <string.h>

static inline uint16_t ttp_load_u16(const uint8_t* p) {
  uint16_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

static inline uint32_t ttp_load_u32(const uint8_t* p) {
  uint32_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

static inline uint64_t ttp_load_u64(const uint8_t* p) {
  uint64_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

#endif /* TTP_BYTES_H_ */
