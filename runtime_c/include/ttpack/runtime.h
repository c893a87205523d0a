/* ttpack runtime: load a .ttpack archive onto a device and run its programs.
 *
 * C11, depends on libc, libm and pthreads only. Every function that can fail
 * returns a ttp_status*: NULL means success, anything else carries a code and
 * a message and must be released with ttp_status_free().
 *
 *   ttp_model* model;     ttp_program* prog;
 *   ttp_status* st = ttp_model_open_file("mlp.ttpack", &model);
 *   if (!st) st = ttp_program_load(model, NULL, NULL, &prog);   (NULL: a default "cpu" device)
 *   if (!st) st = ttp_program_run(prog, inputs, 1, outputs, 1);
 *   if (st) { fprintf(stderr, "%s\n", ttp_status_message(st)); ttp_status_free(st); }
 *   ttp_program_free(prog); ttp_model_free(model);
 *
 * Archives are untrusted input: every byte is verified before use, and a
 * malformed archive yields TTP_INVALID_ARCHIVE (or TTP_INTEGRITY for content
 * hash mismatches), never a crash. Decoding work and memory are bounded by a
 * small multiple of the archive's size. A model and the programs loaded from
 * it are immutable after loading; ttp_program_run may be called from several
 * threads (calls on one program are serialized).
 *
 * Caller errors: functions returning a ttp_status* return TTP_INVALID_ARGUMENT
 * for a NULL handle or out pointer, or a NULL array with a nonzero count.
 * Accessors are NULL-safe: on a NULL handle they return 0, NULL or a zeroed
 * struct; the *_free functions accept NULL.
 */
#ifndef TTPACK_RUNTIME_H_
#define TTPACK_RUNTIME_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define TTP_API __declspec(dllexport)
#else
#define TTP_API __attribute__((visibility("default")))
#endif

#define TTP_RUNTIME_VERSION "0.1.0"
/* Archive format this runtime reads: any minor of this major. */
#define TTP_FORMAT_MAJOR 2
#define TTP_FORMAT_MINOR 1

/* ---- status ---------------------------------------------------------- */

typedef enum ttp_status_code {
  TTP_OK = 0,
  TTP_INVALID_ARGUMENT = 1,   /* caller error: wrong count, size, name */
  TTP_NOT_FOUND = 2,          /* no such file, program or device */
  TTP_IO_ERROR = 3,           /* open/read/mmap failed */
  TTP_INVALID_ARCHIVE = 4,    /* malformed archive */
  TTP_INCOMPATIBLE = 5,       /* archive needs another runtime (format version, required feature) */
  TTP_INTEGRITY = 6,          /* content hash mismatch */
  TTP_UNSUPPORTED = 7,        /* valid archive, but not for this device (target, op, dtype, layout) */
  TTP_OUT_OF_MEMORY = 8,
  TTP_INTERNAL = 9,
} ttp_status_code;

typedef struct ttp_status ttp_status;

TTP_API ttp_status_code ttp_status_get_code(const ttp_status* status);
/* Never NULL; "OK" for a NULL status. Valid until ttp_status_free. */
TTP_API const char* ttp_status_message(const ttp_status* status);
TTP_API void ttp_status_free(ttp_status* status);
TTP_API const char* ttp_runtime_version(void);

/* ---- element types (values of ttpack.fb.DataType) --------------------- */

typedef enum ttp_dtype {
  TTP_DTYPE_FLOAT32 = 1,
  TTP_DTYPE_FLOAT16 = 2,
  TTP_DTYPE_BFLOAT16 = 3,
  TTP_DTYPE_FLOAT64 = 4,
  TTP_DTYPE_INT8 = 5,
  TTP_DTYPE_INT16 = 6,
  TTP_DTYPE_INT32 = 7,
  TTP_DTYPE_INT64 = 8,
  TTP_DTYPE_UINT8 = 9,
  TTP_DTYPE_UINT16 = 10,
  TTP_DTYPE_UINT32 = 11,
  TTP_DTYPE_UINT64 = 12,
  TTP_DTYPE_BOOL = 13, /* one byte, 0 or 1 */
  /* TTNN's block floats: storage types of device tensors, never of buffers */
  TTP_DTYPE_BFLOAT8_B = 14,
  TTP_DTYPE_BFLOAT4_B = 15,
} ttp_dtype;

TTP_API const char* ttp_dtype_name(int dtype); /* "float32"...; "invalid" */

/* ---- model: an opened, verified archive -------------------------------- */

typedef struct ttp_model ttp_model;

/* Opening verifies the whole archive (header, section and segment hashes,
   weight table) and refuses, with TTP_INCOMPATIBLE, an archive that lists a
   required feature this runtime does not know. *out_model is NULL on error. */

/* Maps the file read-only; weights are used in place. The file must not be
   truncated or rewritten in place while the model (or a program loaded from
   it) lives: the mapping would then read past the end of the file, which
   raises SIGBUS, or see changed bytes after verification. This is inherent
   to mmap; replace archives by renaming a new file over the old one (as
   'ttpack build' does), or use ttp_model_open_memory, which copies. */
TTP_API ttp_status* ttp_model_open_file(const char* path, ttp_model** out_model);
/* Copies `size` bytes into an aligned buffer the model owns. */
TTP_API ttp_status* ttp_model_open_memory(const void* data, size_t size, ttp_model** out_model);
/* Releases the caller's reference; programs keep the model alive. NULL is a no-op. */
TTP_API void ttp_model_free(ttp_model* model);

TTP_API size_t ttp_model_program_count(const ttp_model* model);
/* NULL when index is out of range. */
TTP_API const char* ttp_model_program_name(const ttp_model* model, size_t index);
/* The device the archive was built for: "cpu", or a chip ("n150", "n300",
   "p150"). The cpu device runs archives built for a chip by emulating the
   chip's numerics (storage types, math fidelity); it is not the chip. */
TTP_API const char* ttp_model_target(const ttp_model* model);
TTP_API void ttp_model_format_version(const ttp_model* model, uint16_t* major, uint16_t* minor);
/* The archive's msgpack metadata section (borrowed, valid while the model lives). */
TTP_API void ttp_model_metadata(const ttp_model* model, const void** data, size_t* size);

/* ---- device: where programs run ---------------------------------------- */

/* A device is opened once and shared by the programs loaded onto it (on a
   Tenstorrent card: the opened chip or mesh; on the CPU: its thread pool
   and settings). Programs keep their device alive. */
typedef struct ttp_device ttp_device;

typedef struct ttp_device_options {
  size_t struct_size;  /* sizeof(ttp_device_options), so the struct can grow */
  int32_t num_threads; /* 0: the device's default (the CPU device: one per online core); at most 256 */
} ttp_device_options;

/* name: "cpu". options may be NULL for defaults. */
TTP_API ttp_status* ttp_device_open(const char* name, const ttp_device_options* options,
                                    ttp_device** out_device);
TTP_API void ttp_device_free(ttp_device* device);
TTP_API const char* ttp_device_name(const ttp_device* device);

/* ---- program: one program loaded onto a device ------------------------ */

typedef struct ttp_program ttp_program;

/* program_name NULL loads the first program; device NULL means "cpu". The
   cpu device runs archives built for any target (a chip's by emulating its
   numerics); a chip device runs archives built for its chip only, and
   refuses others with TTP_UNSUPPORTED naming both, as it does ops it lacks. */
TTP_API ttp_status* ttp_program_load(ttp_model* model, const char* program_name,
                                     ttp_device* device, ttp_program** out_program);
/* NULL is a no-op. */
TTP_API void ttp_program_free(ttp_program* program);

typedef struct ttp_tensor_info {
  const char* name;
  int dtype;            /* ttp_dtype: float32, bfloat16 (2 bytes, raw bits), int32 or bool */
  uint32_t rank;
  const int64_t* dims;  /* rank entries */
  size_t nbytes;        /* dense row-major size */
} ttp_tensor_info;

TTP_API const char* ttp_program_name(const ttp_program* program);
TTP_API size_t ttp_program_input_count(const ttp_program* program);
TTP_API size_t ttp_program_output_count(const ttp_program* program);
/* Borrowed views, valid while the program lives. An index out of range (or
   a NULL program) gives a zeroed ttp_tensor_info: name NULL, rank 0, dims NULL. */
TTP_API ttp_tensor_info ttp_program_input(const ttp_program* program, size_t index);
TTP_API ttp_tensor_info ttp_program_output(const ttp_program* program, size_t index);
TTP_API size_t ttp_program_op_count(const ttp_program* program);

typedef struct ttp_buffer {
  void* data;   /* dense row-major, aligned to the element size */
  size_t size;  /* bytes; must equal the tensor's nbytes */
} ttp_buffer;

/* Runs the program. inputs/outputs are in signature order; the runtime reads
   inputs and writes outputs in place and allocates nothing. Output buffers
   must not overlap inputs. Counts must match the signature; inputs (outputs)
   may be NULL only when input_count (output_count) is 0. */
TTP_API ttp_status* ttp_program_run(ttp_program* program,
                                    const ttp_buffer* inputs, size_t input_count,
                                    const ttp_buffer* outputs, size_t output_count);

#ifdef __cplusplus
}
#endif

#endif /* TTPACK_RUNTIME_H_ */
