/* TTNN storage numerics and the TILE layout; see tensor_codec.h. The Python
 * side (ttpack.compiler.numerics, ttpack.archive.tiles) writes what this
 * reads, and tests/runtime/test_tensor_codec_c.py holds the two bit-exact. */
#include "tensor_codec.h"

#include <string.h>

#include "bytes.h"
#include "ttpack/runtime.h"

enum { TILE = 32, FACE = 16, FACE_ROWS = 4 * FACE, BFP_EXP_BYTES = FACE_ROWS };

static uint32_t f32_bits(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  return u;
}

static float bits_f32(uint32_t u) {
  float x;
  memcpy(&x, &u, sizeof x);
  return x;
}

/* tt-metal's fp32_to_bf16_bits_round_to_nearest_even (bfloat16.cpp): adding
   0x7FFF plus the lowest kept bit rounds ties to even, and carries into the
   exponent give infinity on overflow. NaN is canonicalised first because the
   addition could turn a NaN with a small payload into infinity. */
uint16_t ttp_f32_to_bf16(float x) {
  uint32_t u = f32_bits(x);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return 0x7FC0;
  return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

float ttp_bf16_to_f32(uint16_t b) { return bits_f32((uint32_t)b << 16); }

void ttp_round_bf16_inplace(float* x, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] = ttp_bf16_to_f32(ttp_f32_to_bf16(x[i]));
}

/* float16: 1 sign, 5 exponent (bias 15), 10 mantissa bits. */
uint16_t ttp_f32_to_f16(float x) {
  uint32_t u = f32_bits(x);
  uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
  uint32_t mag = u & 0x7FFFFFFFu;
  if (mag > 0x7F800000u) return (uint16_t)(sign | 0x7E00u); /* NaN */
  if (mag >= 0x477FF000u) return (uint16_t)(sign | 0x7C00u); /* rounds past 65504: infinity */
  int exp = (int)(mag >> 23) - 127 + 15;
  uint32_t mant = (mag & 0x7FFFFFu) | 0x800000u; /* with the hidden bit */
  int shift = exp > 0 ? 13 : 14 - exp;           /* bits dropped from the 24-bit significand */
  if (shift > 24) return sign;                   /* below half the smallest subnormal */
  uint32_t kept = mant >> shift, rest = mant & ((1u << shift) - 1u), half = 1u << (shift - 1);
  if (rest > half || (rest == half && (kept & 1u))) kept++;
  /* normal: exponent field exp, a carry out of the mantissa bumps it; subnormal: field 0 (a carry makes it 1) */
  uint32_t bits = exp > 0 ? ((uint32_t)exp << 10) + (kept - 0x400u) : kept;
  return (uint16_t)(sign | bits);
}

float ttp_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu;
  if (exp == 0x1Fu) return bits_f32(sign | 0x7F800000u | (mant << 13)); /* inf, NaN */
  if (exp == 0) { /* zero or subnormal: mant * 2^-24, exact in float32 */
    float v = (float)mant * 5.9604644775390625e-8f;
    return sign ? -v : v;
  }
  return bits_f32(sign | ((exp - 15 + 127) << 23) | (mant << 13));
}

void ttp_round_f16_inplace(float* x, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] = ttp_f16_to_f32(ttp_f32_to_f16(x[i]));
}

/* ---- block floats ------------------------------------------------------
 *
 * Encoding follows tt-metal's convert_u32_to_bfp (impl/data_format/
 * blockfloat_common.cpp) and its vectorised form row_scalar (bfp_simd.hpp):
 * exponent field 0 (zeros, subnormals) stores 0; otherwise the 24-bit
 * significand with its hidden bit is shifted right by shared - exp (what
 * falls off is lost: no sticky bit), its low 24 - bits bits are rounded off
 * to nearest with ties to even, the result
 * saturates at 2^bits - 1 (a carry out of the top bit), and a zero magnitude
 * drops the sign. inf and NaN are not special: their exponent field 255
 * becomes the shared exponent like any other. */
static uint8_t bfp_encode(uint32_t u, uint32_t shared, int bits) {
  uint32_t exp = (u >> 23) & 0xFFu;
  if (exp == 0) return 0;
  uint32_t diff = shared - exp;
  uint32_t mant = (u & 0x7FFFFFu) | 0x800000u;
  /* shifting a uint32_t by 32 or more is undefined; 24 already clears it */
  mant = diff >= 24 ? 0 : mant >> diff;
  unsigned drop = 24u - (unsigned)bits;
  uint32_t rest = mant & ((1u << drop) - 1u), half = 1u << (drop - 1u);
  mant >>= drop;
  if (rest > half || (rest == half && (mant & 1u))) mant++;
  uint32_t max = (1u << bits) - 1u;
  if (mant > max) mant = max;
  return mant ? (uint8_t)(((u >> 31) << bits) | mant) : 0;
}

/* Decoding follows tt-metal's unpack_bfp8_tiles_into_float_vec (bfloat8.cpp)
 * and unpack_bfp4_tiles_into_float_vec (bfloat4.cpp) lane by lane rather than
 * computing m * 2^(e - 127 - (bits - 1)): the two agree except at the edges,
 * where tt-metal's bit assembly is what the chip's data turns into on the
 * host. The magnitude is shifted left until its top bit is set; that bit
 * becomes the hidden bit and the shift comes off the exponent. A shift
 * beyond the exponent gives +0, a shift equal to it leaves exponent field 0
 * (a float32 subnormal, hidden bit lost), a zero magnitude keeps its sign. */
static uint32_t bfp_decode(uint32_t code, uint32_t shared, int bits) {
  uint32_t mask = (1u << bits) - 1u, top = 1u << (bits - 1);
  uint32_t sign = (code >> bits) << 31, m = code & mask;
  if (m == 0) return sign;
  uint32_t shift = 0;
  while (!(m & top)) {
    m <<= 1;
    shift++;
  }
  if (shift > shared) return 0;
  return sign | ((shared - shift) << 23) | (((m << 1) & mask) << (23 - bits));
}

/* Padding values are zeros: exponent field 0 never raises the maximum, so a
   partial group needs no explicit padding. */
static void quantize_group(float* g, size_t n, int bits) {
  uint32_t u[FACE], shared = 0;
  for (size_t i = 0; i < n; i++) {
    u[i] = f32_bits(g[i]);
    uint32_t exp = (u[i] >> 23) & 0xFFu;
    if (exp > shared) shared = exp;
  }
  for (size_t i = 0; i < n; i++) g[i] = bits_f32(bfp_decode(bfp_encode(u[i], shared, bits), shared, bits));
}

void ttp_quantize_block_float_inplace(float* x, size_t rows, size_t width, int mant_bits) {
  if (mant_bits != 7 && mant_bits != 3) return;
  for (size_t r = 0; r < rows; r++) {
    float* row = x + r * width;
    for (size_t j = 0; j < width; j += FACE) quantize_group(row + j, width - j < FACE ? width - j : FACE, mant_bits);
  }
}

/* ---- TILE layout -------------------------------------------------------- */

static size_t tile_bytes(int dtype) {
  switch (dtype) {
    case TTP_DTYPE_FLOAT32:
    case TTP_DTYPE_INT32:
    case TTP_DTYPE_UINT32:
      return TILE * TILE * 4;
    case TTP_DTYPE_BFLOAT16:
    case TTP_DTYPE_UINT16:
      return TILE * TILE * 2;
    case TTP_DTYPE_UINT8:
      return TILE * TILE;
    case TTP_DTYPE_BFLOAT8_B:
      return BFP_EXP_BYTES + TILE * TILE;
    case TTP_DTYPE_BFLOAT4_B:
      return BFP_EXP_BYTES + TILE * TILE / 2;
    default:
      return 0;
  }
}

static uint64_t tiles_along(int64_t d) { return (uint64_t)(d / TILE + (d % TILE != 0)); }

size_t ttp_tiled_size(const int64_t* dims, uint32_t rank, int storage_dtype, int* ok) {
  *ok = 0;
  size_t per_tile = tile_bytes(storage_dtype);
  if (!per_tile) return 0;
  int empty = 0;
  for (uint32_t i = 0; i < rank; i++) {
    if (dims[i] < 0) return 0;
    empty |= dims[i] == 0;
  }
  /* an empty tensor has no tiles, however large its other dimensions */
  if (empty) {
    *ok = 1;
    return 0;
  }
  size_t n = per_tile;
  for (uint32_t i = 0; i < rank; i++) {
    /* leading dimensions count tiles one for one, the last two in 32s */
    uint64_t f = i + 2 < rank ? (uint64_t)dims[i] : tiles_along(dims[i]);
    if (f > SIZE_MAX / n) return 0;
    n *= (size_t)f;
  }
  *ok = 1;
  return n;
}

typedef void (*face_row_fn)(const uint8_t* tile, int dtype, unsigned face_row, void* dst, size_t n);

/* Visits every face row of every tile that holds logical elements, with the
   destination of its first logical element in the dense row-major output and
   how many of its 16 elements are logical (padding is never written). */
static void for_each_face_row(const void* src, int dtype, const int64_t* dims, uint32_t rank, void* dst,
                              size_t elem_size, face_row_fn fn) {
  size_t per_tile = tile_bytes(dtype);
  if (!per_tile) return;
  size_t batch = 1;
  for (uint32_t i = 0; i + 2 < rank; i++) batch *= (size_t)dims[i];
  size_t h = rank >= 2 ? (size_t)dims[rank - 2] : 1, w = rank >= 1 ? (size_t)dims[rank - 1] : 1;
  size_t th = (size_t)tiles_along((int64_t)h), tw = (size_t)tiles_along((int64_t)w);
  const uint8_t* tile = src;
  for (size_t b = 0; b < batch; b++) {
    for (size_t ti = 0; ti < th; ti++) {
      for (size_t tj = 0; tj < tw; tj++, tile += per_tile) {
        for (unsigned f = 0; f < 4; f++) {
          size_t row0 = ti * TILE + (f >> 1) * FACE, col0 = tj * TILE + (f & 1) * FACE;
          if (col0 >= w) continue;
          size_t n = w - col0 < FACE ? w - col0 : FACE;
          for (unsigned r = 0; r < FACE && row0 + r < h; r++) {
            size_t at = (b * h + row0 + r) * w + col0;
            fn(tile, dtype, f * FACE + r, (uint8_t*)dst + at * elem_size, n);
          }
        }
      }
    }
  }
}

static void face_row_to_f32(const uint8_t* tile, int dtype, unsigned k, void* dst, size_t n) {
  float* out = dst;
  switch (dtype) {
    case TTP_DTYPE_FLOAT32:
      for (size_t i = 0; i < n; i++) out[i] = bits_f32(ttp_load_u32(tile + (k * FACE + i) * 4));
      break;
    case TTP_DTYPE_BFLOAT16:
      for (size_t i = 0; i < n; i++) out[i] = ttp_bf16_to_f32(ttp_load_u16(tile + (k * FACE + i) * 2));
      break;
    case TTP_DTYPE_BFLOAT8_B: {
      const uint8_t* codes = tile + BFP_EXP_BYTES + k * FACE;
      for (size_t i = 0; i < n; i++) out[i] = bits_f32(bfp_decode(codes[i], tile[k], 7));
      break;
    }
    case TTP_DTYPE_BFLOAT4_B: {
      /* eight codes per little-endian word, element 0 lowest: the even
         element is a byte's low nibble */
      const uint8_t* codes = tile + BFP_EXP_BYTES + k * (FACE / 2);
      for (size_t i = 0; i < n; i++) {
        out[i] = bits_f32(bfp_decode((codes[i / 2] >> (4 * (i & 1))) & 0xFu, tile[k], 3));
      }
      break;
    }
    default:
      break;
  }
}

static void face_row_to_i32(const uint8_t* tile, int dtype, unsigned k, void* dst, size_t n) {
  int32_t* out = dst;
  switch (dtype) {
    case TTP_DTYPE_INT32:
    case TTP_DTYPE_UINT32:
      /* memcpy keeps uint32 bit patterns above INT32_MAX without an
         implementation-defined conversion */
      memcpy(out, tile + k * FACE * 4, n * 4);
      break;
    case TTP_DTYPE_UINT16:
      for (size_t i = 0; i < n; i++) out[i] = (int32_t)ttp_load_u16(tile + (k * FACE + i) * 2);
      break;
    case TTP_DTYPE_UINT8:
      for (size_t i = 0; i < n; i++) out[i] = (int32_t)tile[k * FACE + i];
      break;
    default:
      break;
  }
}

void ttp_decode_tiles_to_f32(const void* src, int storage_dtype, const int64_t* dims, uint32_t rank, float* dst) {
  switch (storage_dtype) {
    case TTP_DTYPE_FLOAT32:
    case TTP_DTYPE_BFLOAT16:
    case TTP_DTYPE_BFLOAT8_B:
    case TTP_DTYPE_BFLOAT4_B:
      for_each_face_row(src, storage_dtype, dims, rank, dst, sizeof *dst, face_row_to_f32);
      break;
    default:
      break;
  }
}

void ttp_decode_tiles_to_i32(const void* src, int storage_dtype, const int64_t* dims, uint32_t rank, int32_t* dst) {
  switch (storage_dtype) {
    case TTP_DTYPE_INT32:
    case TTP_DTYPE_UINT32:
    case TTP_DTYPE_UINT16:
    case TTP_DTYPE_UINT8:
      for_each_face_row(src, storage_dtype, dims, rank, dst, sizeof *dst, face_row_to_i32);
      break;
    default:
      break;
  }
}
