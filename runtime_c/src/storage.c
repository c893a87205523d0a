/* Reading and verifying tensor storage (schema table Storage), shared by the
 * weight table (archive.c) and program tensors (program.c), so a weight and
 * the tensors bound to it are held to the same rules: known layout, storage
 * type and memory config; block floats in TILE only; tiles of 32x32; a shard
 * spec exactly when the layout is sharded, fitting the chip's grid; and a
 * stored size equal to what the logical shape and the rest imply. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "program.h"
#include "schema_generated.h"
#include "status.h"
#include "tensor_codec.h"

#define BAD(...) ttp_make_status(TTP_INVALID_ARCHIVE, __VA_ARGS__)

/* Element bytes of storage types with a row-major form. */
static size_t row_major_element_size(int dtype) {
  switch (dtype) {
    case TTP_DTYPE_FLOAT32:
    case TTP_DTYPE_INT32:
    case TTP_DTYPE_UINT32:
      return 4;
    case TTP_DTYPE_BFLOAT16:
    case TTP_DTYPE_FLOAT16:
    case TTP_DTYPE_UINT16:
      return 2;
    case TTP_DTYPE_UINT8:
    case TTP_DTYPE_BOOL:
      return 1;
    default:
      return 0;
  }
}

static int is_block_float(int dtype) { return dtype == TTP_DTYPE_BFLOAT8_B || dtype == TTP_DTYPE_BFLOAT4_B; }

static ttp_status* read_shard(const ttp_fb_table* m, const uint32_t chip_grid[2], ttp_storage* out,
                              uint64_t* cost) {
  ttp_fb_table shard;
  bool present;
  if (!ttp_fb_MemoryConfig_shard(m, &shard, &present)) return BAD("shard spec out of bounds");
  int sharded = out->memory_layout != TTP_FB_MEMORYLAYOUT_INTERLEAVED;
  if (!present) return sharded ? BAD("sharded memory layout without a shard spec") : NULL;
  if (!sharded) return BAD("interleaved memory layout with a shard spec");
  if (out->buffer_type == TTP_FB_BUFFERTYPE_SYSTEMMEMORY) return BAD("host tensors cannot be sharded");
  ttp_fb_vector grid, shape;
  if (!ttp_fb_ShardSpec_grid(&shard, &grid) || !ttp_fb_ShardSpec_shape(&shard, &shape))
    return BAD("shard spec out of bounds");
  *cost += shard.tbl_size + 8 + (uint64_t)grid.length * 4 + (uint64_t)shape.length * 8;
  if (grid.length != 2 || shape.length != 2) return BAD("shard spec needs a 2-D grid and a 2-D shard shape");
  for (uint32_t i = 0; i < 2; i++) {
    ttp_fb_vector_scalar(&grid, i, &out->shard_grid[i]);
    ttp_fb_vector_scalar(&shape, i, &out->shard_shape[i]);
    if (out->shard_grid[i] == 0 || out->shard_shape[i] <= 0) return BAD("shard spec has an empty grid or shard");
  }
  if (out->shard_grid[0] > chip_grid[0] || out->shard_grid[1] > chip_grid[1])
    return BAD("shard grid %ux%u exceeds the compute grid %ux%u of the archive's chip", out->shard_grid[0],
               out->shard_grid[1], chip_grid[0], chip_grid[1]);
  return NULL;
}

/* The bytes a tensor of this storage holds; *ok = 0 when it overflows or the
   storage type has no such form. */
static size_t physical_size(const ttp_storage* s, uint32_t rank, const int64_t* dims, int* ok) {
  if (s->layout == TTP_FB_LAYOUT_TILE) return ttp_tiled_size(dims, rank, s->dtype, ok);
  size_t esize = row_major_element_size(s->dtype);
  size_t n = esize;
  *ok = esize != 0;
  for (uint32_t d = 0; d < rank && *ok; d++) {
    if (dims[d] && n > SIZE_MAX / (size_t)dims[d]) *ok = 0;
    n *= (size_t)dims[d];
  }
  return *ok ? n : 0;
}

ttp_status* ttp_read_storage(const ttp_fb_table* t, uint32_t rank, const int64_t* dims, const uint32_t chip_grid[2],
                             ttp_storage* out, uint64_t* cost) {
  memset(out, 0, sizeof *out);
  uint8_t layout, dtype, buffer_type, memory_layout;
  uint64_t size;
  ttp_fb_vector tile;
  ttp_fb_table m;
  bool present;
  if (!ttp_fb_Storage_layout(t, &layout) || !ttp_fb_Storage_dtype(t, &dtype) || !ttp_fb_Storage_tile(t, &tile) ||
      !ttp_fb_Storage_memory(t, &m, &present) || !ttp_fb_Storage_size(t, &size))
    return BAD("storage out of bounds");
  if (!present) return BAD("storage has no memory config");
  if (!ttp_fb_MemoryConfig_buffer_type(&m, &buffer_type) || !ttp_fb_MemoryConfig_layout(&m, &memory_layout))
    return BAD("memory config out of bounds");
  *cost += (uint64_t)t->tbl_size + m.tbl_size + 4 + (uint64_t)tile.length * 4;
  out->layout = layout;
  out->dtype = dtype;
  out->buffer_type = buffer_type;
  out->memory_layout = memory_layout;
  if (layout > TTP_FB_LAYOUT_TILE) return BAD("unknown layout %u", layout);
  if (buffer_type > TTP_FB_BUFFERTYPE_L1) return BAD("unknown buffer type %u", buffer_type);
  if (memory_layout > TTP_FB_MEMORYLAYOUT_BLOCKSHARDED) return BAD("unknown memory layout %u", memory_layout);
  if (!row_major_element_size(dtype) && !is_block_float(dtype))
    return ttp_make_status(TTP_UNSUPPORTED, "storage element type %s is not one this runtime knows",
                           ttp_dtype_name(dtype));
  if (layout == TTP_FB_LAYOUT_TILE) {
    uint32_t th = 0, tw = 0;
    if (tile.length == 2) {
      ttp_fb_vector_scalar(&tile, 0, &th);
      ttp_fb_vector_scalar(&tile, 1, &tw);
    }
    if (th != 32 || tw != 32) return ttp_make_status(TTP_UNSUPPORTED, "TILE storage needs 32x32 tiles");
    if (dtype == TTP_DTYPE_BOOL) return BAD("bool has no TILE form (TTNN stores predicates as uint8)");
  } else {
    if (tile.length) return BAD("ROW_MAJOR storage with a tile shape");
    if (is_block_float(dtype)) return BAD("%s exists in TILE layout only", ttp_dtype_name(dtype));
  }
  TTP_RETURN_IF_ERROR(read_shard(&m, chip_grid, out, cost));
  int ok;
  size_t want = physical_size(out, rank, dims, &ok);
  if (!ok) return BAD("storage size overflows");
  if (size != want) {
    char what[96];
    ttp_storage_str(out, what, sizeof what);
    return BAD("storage %s says %" PRIu64 " bytes, its shape needs %zu", what, size, want);
  }
  out->nbytes = want;
  return NULL;
}

int ttp_storage_equal(const ttp_storage* a, const ttp_storage* b) {
  return a->layout == b->layout && a->dtype == b->dtype && a->buffer_type == b->buffer_type &&
         a->memory_layout == b->memory_layout && a->shard_grid[0] == b->shard_grid[0] &&
         a->shard_grid[1] == b->shard_grid[1] && a->shard_shape[0] == b->shard_shape[0] &&
         a->shard_shape[1] == b->shard_shape[1] && a->nbytes == b->nbytes;
}

int ttp_storage_is_host_dense(const ttp_storage* s, int logical_dtype) {
  return s->layout == TTP_FB_LAYOUT_ROWMAJOR && s->buffer_type == TTP_FB_BUFFERTYPE_SYSTEMMEMORY &&
         s->dtype == logical_dtype;
}

void ttp_storage_str(const ttp_storage* s, char* buf, size_t size) {
  static const char* layouts[] = {"row_major", "tile"};
  static const char* buffers[] = {"host", "dram", "l1"};
  static const char* memory[] = {"interleaved", "height_sharded", "width_sharded", "block_sharded"};
  const char* layout = s->layout <= TTP_FB_LAYOUT_TILE ? layouts[s->layout] : "?";
  const char* buffer = s->buffer_type <= TTP_FB_BUFFERTYPE_L1 ? buffers[s->buffer_type] : "?";
  if (s->buffer_type == TTP_FB_BUFFERTYPE_SYSTEMMEMORY)
    snprintf(buf, size, "%s:%s@host", layout, ttp_dtype_name(s->dtype));
  else
    snprintf(buf, size, "%s:%s@%s/%s", layout, ttp_dtype_name(s->dtype), buffer,
             s->memory_layout <= TTP_FB_MEMORYLAYOUT_BLOCKSHARDED ? memory[s->memory_layout] : "?");
}
