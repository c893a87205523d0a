/* Storage encodings of tensor data: TTNN's bfloat16 and block-float
 * (bfloat8_b, bfloat4_b) numerics and its TILE layout, bit-exact with
 * tt-metal's host conversions and with ttpack.compiler.numerics /
 * ttpack.archive.tiles, which state the rules and their tt-metal sources.
 *
 * TILE: [..., H, W] (rank 1 read as [1, W], rank 0 as [1, 1]) zero-padded to
 * multiples of 32 in H and W, as 32x32 tiles in row-major order over
 * (leading dims..., H/32, W/32), each tile four 16x16 faces (top-left,
 * top-right, bottom-left, bottom-right). A block-float tile holds the 64
 * face-row exponents, then the codes of faces 0-3 row by row.
 *
 * No function allocates, fails or reads beyond the sizes its arguments
 * state; decoding trusts a source length checked with ttp_tiled_size. */
#ifndef TTP_TENSOR_CODEC_H_
#define TTP_TENSOR_CODEC_H_

#include <stddef.h>
#include <stdint.h>

/* Round to nearest even; every NaN becomes 0x7FC0, as in tt-metal. */
uint16_t ttp_f32_to_bf16(float x);
float ttp_bf16_to_f32(uint16_t b);
void ttp_round_bf16_inplace(float* x, size_t n);
/* IEEE binary16 (float16): float32 -> float16 bits rounded to nearest even
   (overflow to infinity, subnormals kept, NaN stays NaN), and back exactly. */
uint16_t ttp_f32_to_f16(float x);
float ttp_f16_to_f32(uint16_t h);
void ttp_round_f16_inplace(float* x, size_t n);

/* x holds rows of width values; each row is split into groups of 16 (the
   last one zero-padded) sharing one exponent, and every value is replaced
   by what it decodes to after block-float storage. mant_bits is 7
   (bfloat8_b) or 3 (bfloat4_b); any other value leaves x as it is. */
void ttp_quantize_block_float_inplace(float* x, size_t rows, size_t width, int mant_bits);

/* Bytes of the TILE form of a tensor of storage_dtype (a ttp_dtype code, or
   14 / 15 for bfloat8_b / bfloat4_b): *ok = 1 and the size, or *ok = 0 and 0
   when a dimension is negative, the size overflows size_t, or the dtype has
   no TILE form (only float32, bfloat16, bfloat8_b, bfloat4_b, int32,
   uint32, uint16 and uint8 have one). */
size_t ttp_tiled_size(const int64_t* dims, uint32_t rank, int storage_dtype, int* ok);

/* TILE float32 / bfloat16 / bfloat8_b / bfloat4_b -> dense row-major
   float32 of the logical shape; other dtypes leave dst untouched. */
void ttp_decode_tiles_to_f32(const void* src, int storage_dtype, const int64_t* dims, uint32_t rank, float* dst);

/* TILE int32 / uint32 (bits kept) / uint16 / uint8 (zero-extended) -> dense
   row-major int32; other dtypes leave dst untouched. */
void ttp_decode_tiles_to_i32(const void* src, int storage_dtype, const int64_t* dims, uint32_t rank, int32_t* dst);

#endif /* TTP_TENSOR_CODEC_H_ */
