/* XXH64 written from the published algorithm description. */
#include "xxhash64.h"

#include "bytes.h"

#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL
#define P4 0x85EBCA77C2B2AE63ULL
#define P5 0x27D4EB2F165667C5ULL

static uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static uint64_t round64(uint64_t acc, uint64_t lane) {
  acc += lane * P2;
  return rotl(acc, 31) * P1;
}

static uint64_t merge(uint64_t h, uint64_t v) {
  h ^= round64(0, v);
  return h * P1 + P4;
}

uint64_t ttp_xxh64(const void* data, size_t size) {
  const uint8_t* p = data;
  const uint8_t* end = p + size;
  uint64_t h;
  if (size >= 32) {
    uint64_t v1 = P1 + P2, v2 = P2, v3 = 0, v4 = (uint64_t)0 - P1;
    do {
      v1 = round64(v1, ttp_load_u64(p));
      v2 = round64(v2, ttp_load_u64(p + 8));
      v3 = round64(v3, ttp_load_u64(p + 16));
      v4 = round64(v4, ttp_load_u64(p + 24));
      p += 32;
    } while ((size_t)(end - p) >= 32);
    h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
    h = merge(merge(merge(merge(h, v1), v2), v3), v4);
  } else {
    h = P5;
  }
  h += (uint64_t)size;
  for (; (size_t)(end - p) >= 8; p += 8) h = rotl(h ^ round64(0, ttp_load_u64(p)), 27) * P1 + P4;
  if ((size_t)(end - p) >= 4) {
    h = rotl(h ^ ((uint64_t)ttp_load_u32(p) * P1), 23) * P2 + P3;
    p += 4;
  }
  for (; p < end; p++) h = rotl(h ^ (*p * P5), 11) * P1;
  h ^= h >> 33;
  h *= P2;
  h ^= h >> 29;
  h *= P3;
  h ^= h >> 32;
  return h;
}
