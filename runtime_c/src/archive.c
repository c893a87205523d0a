/* Opening an archive: every byte is checked before it is trusted.
 *
 *   [header 80 B][program flatbuffer][msgpack metadata][pad][segment]...
 *
 * Order of checks: magic, format version (so an archive from a newer ttpack
 * gets a version message rather than a corruption message), header hash,
 * section bounds, section hashes, the archive's required features (so an
 * archive needing a newer runtime says so before anything is misread), then
 * the flatbuffer's segments and weights. Programs are decoded when loaded
 * (program.c).
 *
 * Decoding work is bounded by the archive's size: segments must be sorted and
 * disjoint (each byte is hashed at most once), and the tables, vectors and
 * strings read at open may add up to at most TTP_DECODE_FACTOR times the
 * program section (a flatbuffer whose tables are not shared holds each of
 * them once), so offsets that all point at one large table cannot multiply
 * the work. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "model.h"
#include "schema_generated.h"
#include "status.h"
#include "xxhash64.h"

#define BAD(...) ttp_make_status(TTP_INVALID_ARCHIVE, __VA_ARGS__)

/* [offset, offset + size) lies inside [0, limit). */
static int range_ok(uint64_t offset, uint64_t size, uint64_t limit) {
  return offset <= limit && size <= limit - offset;
}

/* Features this runtime understands (none yet). An archive lists in
   Archive.required_features what a reader must know to run it; a reader
   refuses any it does not know, so new meaning never hides in fields an
   older runtime would skip. NULL-terminated. */
static const char* const known_features[] = {NULL};

/* Charges `bytes` of decoding work against the open-time budget. */
static ttp_status* charge(uint64_t* budget, uint64_t bytes) {
  if (bytes > *budget)
    return BAD("archive decodes to more data than the archive holds (shared or overlapping tables)");
  *budget -= bytes;
  return NULL;
}

static uint64_t vector_cost(const ttp_fb_vector* v) {
  return v->pos ? 4 + (uint64_t)v->length * v->elem_size : 0; /* absent: free */
}

static uint64_t string_cost(const ttp_fb_string* s) { return s->data ? 5 + (uint64_t)s->length : 0; }

static ttp_status* check_header(ttp_model* m) {
  const uint8_t* h = m->data;
  if (m->size < TTP_MAGIC_SIZE || memcmp(h, TTP_MAGIC, TTP_MAGIC_SIZE) != 0)
    return BAD("not a ttpack archive (bad magic); expected a file written by 'ttpack build'");
  if (m->size < 12) return BAD("archive truncated inside its header (%zu bytes)", m->size);
  m->major = ttp_load_u16(h + 8);
  m->minor = ttp_load_u16(h + 10);
  if (m->major > TTP_FORMAT_MAJOR)
    return ttp_make_status(TTP_INCOMPATIBLE,
                           "archive format %u.%u needs a ttpack runtime that reads format %u.x; "
                           "this runtime (%s) reads format %d.x: upgrade ttpack",
                           m->major, m->minor, m->major, TTP_RUNTIME_VERSION, TTP_FORMAT_MAJOR);
  if (m->major < TTP_FORMAT_MAJOR)
    return ttp_make_status(TTP_INCOMPATIBLE,
                           "archive format %u.%u is older than this runtime supports (%d.x); "
                           "rebuild it with 'ttpack build'", m->major, m->minor, TTP_FORMAT_MAJOR);
  if (m->size < TTP_HEADER_SIZE) return BAD("archive truncated inside its header (%zu bytes)", m->size);
  uint32_t header_size;
  memcpy(&header_size, h + 12, 4);
  if (header_size != TTP_HEADER_SIZE) return BAD("header size %u, expected %d", header_size, TTP_HEADER_SIZE);
  if (ttp_xxh64(h, 72) != ttp_load_u64(h + 72)) return ttp_make_status(TTP_INTEGRITY, "header checksum mismatch: the archive is corrupted");

  static const char* names[2] = {"program", "metadata"};
  const uint8_t* sec[2];
  size_t sec_size[2];
  for (int i = 0; i < 2; i++) {
    uint64_t off = ttp_load_u64(h + 16 + 24 * i), size = ttp_load_u64(h + 24 + 24 * i), hash = ttp_load_u64(h + 32 + 24 * i);
    if (off < TTP_HEADER_SIZE)
      return BAD("%s section starts at offset %llu, inside the %d-byte header", names[i],
                 (unsigned long long)off, TTP_HEADER_SIZE);
    if (!range_ok(off, size, m->size))
      return BAD("%s section [%llu, +%llu) lies outside the %zu-byte file (truncated?)", names[i],
                 (unsigned long long)off, (unsigned long long)size, m->size);
    if (ttp_xxh64(m->data + off, size) != hash)
      return ttp_make_status(TTP_INTEGRITY, "%s section checksum mismatch: the archive is corrupted", names[i]);
    sec[i] = m->data + off;
    sec_size[i] = size;
  }
  if (!ttp_fb_root(sec[0], sec_size[0], "TTPK", &m->root))
    return BAD("program section is not a ttpack flatbuffer");
  m->metadata = sec[1];
  m->metadata_size = sec_size[1];
  return NULL;
}

static ttp_status* check_features(ttp_model* m, uint64_t* budget) {
  ttp_fb_vector fv;
  if (!ttp_fb_Archive_required_features(&m->root, &fv)) return BAD("required feature list out of bounds");
  TTP_RETURN_IF_ERROR(charge(budget, vector_cost(&fv)));
  for (uint32_t i = 0; i < fv.length; i++) {
    ttp_fb_string f;
    if (!ttp_fb_vector_string(&fv, i, &f) || !f.data)
      return BAD("required feature %u: string out of bounds or not UTF-8", i);
    TTP_RETURN_IF_ERROR(charge(budget, string_cost(&f)));
    int known = 0;
    for (size_t k = 0; known_features[k]; k++) known = known || strcmp(known_features[k], f.data) == 0;
    if (!known)
      return ttp_make_status(TTP_INCOMPATIBLE,
                             "archive needs feature '%s', which this runtime (%s) does not support; "
                             "upgrade ttpack", f.data, TTP_RUNTIME_VERSION);
  }
  return NULL;
}

/* Shapes are verified the same way for weights and program tensors. */
ttp_status* ttp_read_shape(const ttp_fb_vector* v, uint32_t* rank, int64_t dims[TTP_MAX_RANK],
                           int64_t* numel);

static ttp_status* check_weights(ttp_model* m, uint64_t* budget) {
  ttp_fb_vector segs, ws;
  if (!ttp_fb_Archive_segments(&m->root, &segs) || !ttp_fb_Archive_weights(&m->root, &ws))
    return BAD("segment or weight table out of bounds");
  TTP_RETURN_IF_ERROR(charge(budget, vector_cost(&segs)));
  TTP_RETURN_IF_ERROR(charge(budget, vector_cost(&ws)));
  m->n_weights = ws.length;
  m->weights = calloc(ws.length ? ws.length : 1, sizeof *m->weights);
  if (!m->weights) return ttp_make_status(TTP_OUT_OF_MEMORY, "out of memory reading %u weights", ws.length);

  uint64_t prev_end = 0;
  for (uint32_t i = 0; i < segs.length; i++) {
    ttp_fb_table s;
    uint64_t off, size, hash;
    if (!ttp_fb_vector_table(&segs, i, &s) || !ttp_fb_Segment_offset(&s, &off) ||
        !ttp_fb_Segment_size(&s, &size) || !ttp_fb_Segment_xxh64(&s, &hash))
      return BAD("segment %u: table out of bounds", i);
    TTP_RETURN_IF_ERROR(charge(budget, s.tbl_size));
    if (off % TTP_SEGMENT_ALIGNMENT != 0)
      return BAD("segment %u at offset %llu is not %d-byte aligned", i, (unsigned long long)off,
                 TTP_SEGMENT_ALIGNMENT);
    if (!range_ok(off, size, m->size))
      return BAD("segment %u [%llu, +%llu) lies outside the %zu-byte file (truncated?)", i,
                 (unsigned long long)off, (unsigned long long)size, m->size);
    /* Sorted and disjoint: hashing reads each byte of the file at most once. */
    if (i > 0 && off < prev_end)
      return BAD("segment %u at offset %llu overlaps or precedes segment %u, which ends at %llu; "
                 "segments must be sorted by offset and must not overlap", i,
                 (unsigned long long)off, i - 1, (unsigned long long)prev_end);
    prev_end = off + size;
    if (ttp_xxh64(m->data + off, size) != hash)
      return ttp_make_status(TTP_INTEGRITY, "segment %u checksum mismatch: the archive's weights are corrupted", i);
  }

  for (uint32_t i = 0; i < ws.length; i++) {
    ttp_fb_table w, s, storage;
    ttp_fb_string name;
    ttp_fb_vector shape;
    uint8_t dtype;
    uint32_t seg;
    uint64_t off, size, seg_off, seg_size;
    bool has_storage;
    ttp_weight* out = &m->weights[i];
    if (!ttp_fb_vector_table(&ws, i, &w) || !ttp_fb_Weight_name(&w, &name) || !name.data ||
        !ttp_fb_Weight_dtype(&w, &dtype) || !ttp_fb_Weight_shape(&w, &shape) ||
        !ttp_fb_Weight_storage(&w, &storage, &has_storage) ||
        !ttp_fb_Weight_segment(&w, &seg) || !ttp_fb_Weight_offset(&w, &off) ||
        !ttp_fb_Weight_size(&w, &size))
      return BAD("weight %u: table out of bounds or missing its name", i);
    TTP_RETURN_IF_ERROR(charge(budget, (uint64_t)w.tbl_size + string_cost(&name) + vector_cost(&shape)));
    out->name = name.data;
    out->dtype = dtype;
    if (!ttp_dtype_size(dtype))
      return ttp_make_status(TTP_UNSUPPORTED, "weight '%s' has logical element type %s, which this runtime "
                             "cannot compute with", name.data, ttp_dtype_name(dtype));
    int64_t numel;
    ttp_status* st = ttp_read_shape(&shape, &out->rank, out->dims, &numel);
    if (st) return ttp_annotate(st, "weight '%s'", name.data);
    if (!has_storage) return BAD("weight '%s' has no storage", name.data);
    uint64_t cost = 0;
    st = ttp_read_storage(&storage, out->rank, out->dims, m->chip_grid, &out->storage, &cost);
    if (!st) st = charge(budget, cost);
    if (st) return ttp_annotate(st, "weight '%s'", name.data);
    if (size != out->storage.nbytes)
      return BAD("weight '%s' has %llu bytes, its storage needs %zu", name.data, (unsigned long long)size,
                 out->storage.nbytes);
    if (seg >= segs.length) return BAD("weight '%s' names segment %u of %u", name.data, seg, segs.length);
    if (!ttp_fb_vector_table(&segs, seg, &s) || !ttp_fb_Segment_offset(&s, &seg_off) ||
        !ttp_fb_Segment_size(&s, &seg_size))
      return BAD("segment %u: table out of bounds", seg);
    if (off % TTP_WEIGHT_ALIGNMENT != 0)
      return BAD("weight '%s' at segment offset %llu is not %d-byte aligned", name.data,
                 (unsigned long long)off, TTP_WEIGHT_ALIGNMENT);
    if (!range_ok(off, size, seg_size))
      return BAD("weight '%s' [%llu, +%llu) lies outside segment %u (%llu bytes)", name.data,
                 (unsigned long long)off, (unsigned long long)size, seg, (unsigned long long)seg_size);
    out->nbytes = (size_t)size;
    out->data = m->data + seg_off + off;
  }
  return NULL;
}

/* The target name and, for a chip, its descriptor, which must name the same
   chip: shards are checked against its grid. */
static ttp_status* check_target(ttp_model* m, uint64_t* budget) {
  ttp_fb_string target, name, arch;
  ttp_fb_table chip;
  ttp_fb_vector grid;
  bool present;
  if (!ttp_fb_Archive_target(&m->root, &target) || !target.data)
    return BAD("archive names no target device");
  TTP_RETURN_IF_ERROR(charge(budget, string_cost(&target)));
  m->target = target.data;
  if (!ttp_fb_Archive_chip(&m->root, &chip, &present)) return BAD("chip descriptor out of bounds");
  if (!present) {
    if (strcmp(m->target, "cpu") != 0)
      return BAD("archive for target '%s' carries no chip descriptor", m->target);
    return NULL;
  }
  if (!ttp_fb_ChipDesc_name(&chip, &name) || !name.data || !ttp_fb_ChipDesc_arch(&chip, &arch) || !arch.data ||
      !ttp_fb_ChipDesc_grid(&chip, &grid))
    return BAD("chip descriptor out of bounds or incomplete");
  TTP_RETURN_IF_ERROR(charge(budget, (uint64_t)chip.tbl_size + string_cost(&name) + string_cost(&arch) +
                                         vector_cost(&grid)));
  if (strcmp(name.data, m->target) != 0)
    return BAD("archive for target '%s' carries the descriptor of chip '%s'", m->target, name.data);
  if (grid.length != 2) return BAD("chip descriptor's grid is not 2-D");
  for (uint32_t i = 0; i < 2; i++) ttp_fb_vector_scalar(&grid, i, &m->chip_grid[i]);
  m->chip_arch = arch.data;
  return NULL;
}

static ttp_status* check_programs(ttp_model* m, uint64_t* budget) {
  ttp_fb_vector progs;
  if (!ttp_fb_Archive_programs(&m->root, &progs)) return BAD("program table out of bounds");
  if (progs.length == 0) return BAD("archive holds no programs");
  TTP_RETURN_IF_ERROR(charge(budget, vector_cost(&progs)));
  m->n_programs = progs.length;
  m->program_names = calloc(progs.length, sizeof *m->program_names);
  if (!m->program_names) return ttp_make_status(TTP_OUT_OF_MEMORY, "out of memory");
  for (uint32_t i = 0; i < progs.length; i++) {
    ttp_fb_table p;
    ttp_fb_string name;
    if (!ttp_fb_vector_table(&progs, i, &p) || !ttp_fb_Program_name(&p, &name) || !name.data)
      return BAD("program %u: table out of bounds or missing its name", i);
    TTP_RETURN_IF_ERROR(charge(budget, (uint64_t)p.tbl_size + string_cost(&name)));
    m->program_names[i] = name.data;
  }
  return NULL;
}

static ttp_status* verify(ttp_model* m) {
  TTP_RETURN_IF_ERROR(check_header(m));
  uint64_t budget = (uint64_t)TTP_DECODE_FACTOR * m->root.size;
  TTP_RETURN_IF_ERROR(check_features(m, &budget));
  TTP_RETURN_IF_ERROR(check_target(m, &budget));
  TTP_RETURN_IF_ERROR(check_weights(m, &budget));
  return check_programs(m, &budget);
}

static ttp_status* finish_open(ttp_model* m, ttp_model** out) {
  ttp_status* st = verify(m);
  if (st) {
    ttp_model_free(m);
    return st;
  }
  *out = m;
  return NULL;
}

ttp_status* ttp_model_open_file(const char* path, ttp_model** out) {
  if (!out) return ttp_make_status(TTP_INVALID_ARGUMENT, "ttp_model_open_file: out_model is NULL");
  *out = NULL;
  if (!path) return ttp_make_status(TTP_INVALID_ARGUMENT, "ttp_model_open_file: path is NULL");
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return ttp_make_status(errno == ENOENT ? TTP_NOT_FOUND : TTP_IO_ERROR, "cannot open '%s': %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    int e = errno;
    close(fd);
    return ttp_make_status(TTP_IO_ERROR, "cannot stat '%s': %s", path, strerror(e));
  }
  if (!S_ISREG(sb.st_mode)) {
    close(fd);
    return ttp_make_status(TTP_INVALID_ARGUMENT, "'%s' is not a regular file", path);
  }
  if (sb.st_size == 0) {
    close(fd);
    return BAD("'%s' is empty", path);
  }
  void* map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  int e = errno;
  close(fd);
  if (map == MAP_FAILED) return ttp_make_status(TTP_IO_ERROR, "cannot map '%s': %s", path, strerror(e));
  ttp_model* m = calloc(1, sizeof *m);
  if (!m) {
    munmap(map, (size_t)sb.st_size);
    return ttp_make_status(TTP_OUT_OF_MEMORY, "out of memory");
  }
  atomic_init(&m->refs, 1);
  m->mapping = map;
  m->data = map;
  m->size = (size_t)sb.st_size;
  return ttp_annotate(finish_open(m, out), "%s", path);
}

ttp_status* ttp_model_open_memory(const void* data, size_t size, ttp_model** out) {
  if (!out) return ttp_make_status(TTP_INVALID_ARGUMENT, "ttp_model_open_memory: out_model is NULL");
  *out = NULL;
  if (!data && size) return ttp_make_status(TTP_INVALID_ARGUMENT, "ttp_model_open_memory: data is NULL");
  if (size == 0) return BAD("archive is empty");
  /* A private, page-aligned copy: the weights inside need their alignment,
     and the caller's buffer may not outlive the model. */
  void* copy = NULL;
  if (posix_memalign(&copy, TTP_SEGMENT_ALIGNMENT, size) != 0)
    return ttp_make_status(TTP_OUT_OF_MEMORY, "out of memory copying a %zu-byte archive", size);
  memcpy(copy, data, size);
  ttp_model* m = calloc(1, sizeof *m);
  if (!m) {
    free(copy);
    return ttp_make_status(TTP_OUT_OF_MEMORY, "out of memory");
  }
  atomic_init(&m->refs, 1);
  m->owned = copy;
  m->data = copy;
  m->size = size;
  return finish_open(m, out);
}

void ttp_model_retain(ttp_model* m) { atomic_fetch_add(&m->refs, 1); }

void ttp_model_free(ttp_model* m) {
  if (!m || atomic_fetch_sub(&m->refs, 1) != 1) return;
  if (m->mapping) munmap(m->mapping, m->size);
  free(m->owned);
  free(m->weights);
  free(m->program_names);
  free(m);
}

size_t ttp_model_program_count(const ttp_model* m) { return m ? m->n_programs : 0; }

const char* ttp_model_program_name(const ttp_model* m, size_t i) {
  return m && i < m->n_programs ? m->program_names[i] : NULL;
}

const char* ttp_model_target(const ttp_model* m) { return m ? m->target : NULL; }

void ttp_model_format_version(const ttp_model* m, uint16_t* major, uint16_t* minor) {
  if (major) *major = m ? m->major : 0;
  if (minor) *minor = m ? m->minor : 0;
}

void ttp_model_metadata(const ttp_model* m, const void** data, size_t* size) {
  if (data) *data = m ? m->metadata : NULL;
  if (size) *size = m ? m->metadata_size : 0;
}
