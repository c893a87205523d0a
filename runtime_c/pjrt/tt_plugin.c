/* ttpack's PJRT plugin "tt": JAX and torch_xla compile with ttpack's compiler
 * and run on ttpack's runtime (the CPU device, emulating the chip's numerics).
 *
 * Everything a framework calls per dispatch (buffers, events, getters,
 * execute) is here in C, so a tiny jitted call costs about what it costs on
 * JAX's own CPU backend. The one thing done in Python is compiling: a
 * callback that ttpack's Python side registers (tt_pjrt_set_compiler) turns
 * the program the framework hands over (StableHLO or HLO) plus its compile
 * options into a ttpack archive. Deserializing an executable goes through
 * the same callback, which reads back what the archive's metadata says about
 * the framework's types.
 *
 * Execution is synchronous: Execute runs the program before it returns, so
 * every event is created complete. Both frameworks accept that (they wait
 * through OnReady/IsReady, never Event_Await).
 *
 * Every slot of the API table is filled: frameworks call some without a NULL
 * check. Slots ttpack does not implement return UNIMPLEMENTED, except the
 * ones whose errors abort the framework (Device_GetAttributes,
 * AddressableDeviceLogicalIds, GetDeviceAssignment) and
 * Error_ForEachPayload, which must never fail.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pjrt_abi.h"
#include "ttpack/runtime.h"
#include "xxhash64.h"

#define TT_EXPORT __attribute__((visibility("default")))
#define TT_MAX_RANK 16
#define TT_ALIGN 64

/* ---- errors ------------------------------------------------------------ */

struct PJRT_Error {
  uint32_t code;
  size_t size;
  char message[];
};

static PJRT_Error* error_new(uint32_t code, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

static PJRT_Error* error_new(uint32_t code, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  PJRT_Error* e = malloc(sizeof(PJRT_Error) + (size_t)n + 1);
  if (!e) return NULL; /* cannot report; NULL reads as success, which is the lesser harm here */
  e->code = code;
  e->size = (size_t)n;
  va_start(ap, fmt);
  vsnprintf(e->message, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return e;
}

static PJRT_Error* error_copy(const PJRT_Error* e) { return error_new(e->code, "%s", e->message); }

static uint32_t code_of_status(ttp_status_code c) {
  switch (c) {
    case TTP_INVALID_ARGUMENT: return PJRT_Error_Code_INVALID_ARGUMENT;
    case TTP_NOT_FOUND: return PJRT_Error_Code_NOT_FOUND;
    case TTP_UNSUPPORTED: return PJRT_Error_Code_UNIMPLEMENTED;
    case TTP_OUT_OF_MEMORY: return PJRT_Error_Code_RESOURCE_EXHAUSTED;
    case TTP_INCOMPATIBLE: return PJRT_Error_Code_FAILED_PRECONDITION;
    default: return PJRT_Error_Code_INTERNAL;
  }
}

/* Takes ownership of st (non-NULL). */
static PJRT_Error* error_from_status(ttp_status* st, const char* what) {
  PJRT_Error* e = error_new(code_of_status(ttp_status_get_code(st)), "%s: %s", what, ttp_status_message(st));
  ttp_status_free(st);
  return e;
}

static PJRT_Error* unimplemented(const char* what) {
  return error_new(PJRT_Error_Code_UNIMPLEMENTED, "ttpack's PJRT plugin does not implement %s", what);
}

static PJRT_Error* Error_Destroy(void* a) {
  free(((PJRT_Error_Destroy_Args*)a)->error);
  return NULL;
}

static PJRT_Error* Error_Message(void* a) {
  PJRT_Error_Message_Args* args = a;
  args->message = args->error->message;
  args->message_size = args->error->size;
  return NULL;
}

static PJRT_Error* Error_GetCode(void* a) {
  PJRT_Error_GetCode_Args* args = a;
  args->code = args->error->code;
  return NULL;
}

/* Errors carry no payloads. This slot must succeed: frameworks convert a
   failure here into another error, whose payloads they then read again. */
static PJRT_Error* Error_ForEachPayload(void* a) {
  (void)a;
  return NULL;
}

/* ---- events: all complete (execution is synchronous) -------------------- */

struct PJRT_Event {
  PJRT_Error* error; /* NULL: success */
};

/* The event for everything that succeeded; Event_Destroy leaves it alone. */
static PJRT_Event g_done_event = {NULL};

static PJRT_Error* Event_Destroy(void* a) {
  PJRT_Event* ev = ((PJRT_Event_Args*)a)->event;
  if (ev && ev != &g_done_event) {
    free(ev->error);
    free(ev);
  }
  return NULL;
}

static PJRT_Error* Event_IsReady(void* a) {
  ((PJRT_Event_IsReady_Args*)a)->is_ready = true;
  return NULL;
}

static PJRT_Error* Event_Error(void* a) {
  PJRT_Event* ev = ((PJRT_Event_Args*)a)->event;
  return ev->error ? error_copy(ev->error) : NULL;
}

static PJRT_Error* Event_Await(void* a) { return Event_Error(a); }

/* The callback owns the error it is given, so it gets a copy. */
static PJRT_Error* Event_OnReady(void* a) {
  PJRT_Event_OnReady_Args* args = a;
  args->callback(args->event->error ? error_copy(args->event->error) : NULL, args->user_arg);
  return NULL;
}

/* ---- client, device, memory: one of each -------------------------------- */

struct PJRT_Device {
  int unused;
};
struct PJRT_DeviceDescription {
  int unused;
};
struct PJRT_Memory {
  int unused;
};

struct PJRT_Client {
  ttp_device* cpu;
  char tag[32]; /* who created it ("jax", "torch_xla"): passed to the compiler */
};

static PJRT_Device g_device;
static PJRT_DeviceDescription g_description;
static PJRT_Memory g_memory;
static PJRT_Device* const g_devices[1] = {&g_device};
static PJRT_Memory* const g_memories[1] = {&g_memory};
static char g_kind[96] = "n150 (emulated by ttpack on CPU)";
static const char g_platform[] = "tt";
static const char g_memory_kind[] = "device";

static void set_kind_from_env(void) {
  const char* target = getenv("TTPACK_TARGET");
  if (target && *target && strlen(target) < 32) snprintf(g_kind, sizeof g_kind, "%s (emulated by ttpack on CPU)", target);
}

static PJRT_Error* Plugin_Initialize(void* a) {
  (void)a;
  return NULL;
}

static PJRT_Error* Plugin_Attributes(void* a) {
  PJRT_Plugin_Attributes_Args* args = a;
  args->attributes = NULL;
  args->num_attributes = 0;
  return NULL;
}

static PJRT_Error* Client_Create(void* a) {
  PJRT_Client_Create_Args* args = a;
  PJRT_Client* client = calloc(1, sizeof(PJRT_Client));
  if (!client) return error_new(PJRT_Error_Code_RESOURCE_EXHAUSTED, "out of memory creating the tt client");
  snprintf(client->tag, sizeof client->tag, "%s", "unknown");
  for (size_t i = 0; i < args->num_options; i++) {
    const PJRT_NamedValue* nv = &args->create_options[i];
    if (nv->type == PJRT_NamedValue_kString && nv->name_size == 13 && memcmp(nv->name, "ttpack_client", 13) == 0 &&
        nv->value_size < sizeof client->tag) {
      memcpy(client->tag, nv->value.string_value, nv->value_size);
      client->tag[nv->value_size] = '\0';
    }
  }
  ttp_status* st = ttp_device_open("cpu", NULL, &client->cpu);
  if (st) {
    free(client);
    return error_from_status(st, "opening ttpack's cpu device");
  }
  set_kind_from_env();
  args->client = client;
  return NULL;
}

static PJRT_Error* Client_Destroy(void* a) {
  PJRT_Client* client = ((PJRT_Client_Destroy_Args*)a)->client;
  if (client) {
    ttp_device_free(client->cpu);
    free(client);
  }
  return NULL;
}

static PJRT_Error* Client_PlatformName(void* a) {
  PJRT_Client_String_Args* args = a;
  args->text = g_platform;
  args->text_size = sizeof g_platform - 1;
  return NULL;
}

static PJRT_Error* Client_PlatformVersion(void* a) {
  PJRT_Client_String_Args* args = a;
  static const char version[] = "ttpack " TTP_RUNTIME_VERSION;
  args->text = version;
  args->text_size = sizeof version - 1;
  return NULL;
}

static PJRT_Error* Client_ProcessIndex(void* a) {
  ((PJRT_Client_ProcessIndex_Args*)a)->process_index = 0;
  return NULL;
}

static PJRT_Error* Client_Devices(void* a) {
  PJRT_Client_List_Args* args = a;
  args->items = (void* const*)g_devices;
  args->num_items = 1;
  return NULL;
}

static PJRT_Error* Client_AddressableMemories(void* a) {
  PJRT_Client_List_Args* args = a;
  args->items = (void* const*)g_memories;
  args->num_items = 1;
  return NULL;
}

static PJRT_Error* Client_LookupDevice(void* a) {
  PJRT_Client_LookupDevice_Args* args = a;
  if (args->id != 0) return error_new(PJRT_Error_Code_INVALID_ARGUMENT, "no tt device %d (there is one: 0)", args->id);
  args->device = &g_device;
  return NULL;
}

static PJRT_Error* Client_DefaultDeviceAssignment(void* a) {
  PJRT_Client_DefaultDeviceAssignment_Args* args = a;
  if (args->num_replicas != 1 || args->num_partitions != 1)
    return error_new(PJRT_Error_Code_UNIMPLEMENTED, "ttpack's tt device runs 1 replica and 1 partition, not %d x %d",
                     args->num_replicas, args->num_partitions);
  if (args->default_assignment_size < 1)
    return error_new(PJRT_Error_Code_INVALID_ARGUMENT, "default_assignment has no room");
  args->default_assignment[0] = 0;
  return NULL;
}

static PJRT_Error* DeviceDescription_Id(void* a) {
  ((PJRT_DeviceDescription_Int_Args*)a)->value = 0;
  return NULL;
}

static PJRT_Error* DeviceDescription_Attributes(void* a) {
  PJRT_DeviceDescription_Attributes_Args* args = a;
  args->num_attributes = 0;
  args->attributes = NULL;
  return NULL;
}

static PJRT_Error* DeviceDescription_Kind(void* a) {
  PJRT_DeviceDescription_String_Args* args = a;
  args->text = g_kind;
  args->text_size = strlen(g_kind);
  return NULL;
}

static PJRT_Error* DeviceDescription_DebugString(void* a) {
  PJRT_DeviceDescription_String_Args* args = a;
  static const char text[] = "TT_0";
  args->text = text;
  args->text_size = sizeof text - 1;
  return NULL;
}

static PJRT_Error* DeviceDescription_ToString(void* a) {
  PJRT_DeviceDescription_String_Args* args = a;
  static const char text[] = "TtDevice(id=0)";
  args->text = text;
  args->text_size = sizeof text - 1;
  return NULL;
}

static PJRT_Error* Device_GetDescription(void* a) {
  ((PJRT_Device_GetDescription_Args*)a)->device_description = &g_description;
  return NULL;
}

static PJRT_Error* Device_IsAddressable(void* a) {
  ((PJRT_Device_IsAddressable_Args*)a)->is_addressable = true;
  return NULL;
}

static PJRT_Error* Device_LocalHardwareId(void* a) {
  ((PJRT_Device_LocalHardwareId_Args*)a)->local_hardware_id = 0;
  return NULL;
}

static PJRT_Error* Device_AddressableMemories(void* a) {
  PJRT_Device_AddressableMemories_Args* args = a;
  args->memories = g_memories;
  args->num_memories = 1;
  return NULL;
}

static PJRT_Error* Device_DefaultMemory(void* a) {
  ((PJRT_Device_DefaultMemory_Args*)a)->memory = &g_memory;
  return NULL;
}

static void no_attributes_deleter(PJRT_Device_Attributes* attributes) { (void)attributes; }

/* An error here aborts JAX: it must succeed. */
static PJRT_Error* Device_GetAttributes(void* a) {
  PJRT_Device_GetAttributes_Args* args = a;
  args->attributes = NULL;
  args->num_attributes = 0;
  args->device_attributes = NULL;
  args->attributes_deleter = no_attributes_deleter;
  return NULL;
}

static PJRT_Error* Memory_Id(void* a) {
  ((PJRT_Memory_Int_Args*)a)->value = 0;
  return NULL;
}

static PJRT_Error* Memory_Kind(void* a) {
  PJRT_Memory_String_Args* args = a;
  args->text = g_memory_kind;
  args->text_size = sizeof g_memory_kind - 1;
  return NULL;
}

static PJRT_Error* Memory_String(void* a) {
  PJRT_Memory_String_Args* args = a;
  static const char text[] = "TT_0_device_memory";
  args->text = text;
  args->text_size = sizeof text - 1;
  return NULL;
}

static PJRT_Error* Memory_AddressableByDevices(void* a) {
  PJRT_Memory_AddressableByDevices_Args* args = a;
  args->devices = g_devices;
  args->num_devices = 1;
  return NULL;
}

/* ---- element types ------------------------------------------------------ */

static size_t pjrt_type_size(uint32_t t) {
  switch (t) {
    case PJRT_Buffer_Type_PRED: case PJRT_Buffer_Type_S8: case PJRT_Buffer_Type_U8: return 1;
    case PJRT_Buffer_Type_S16: case PJRT_Buffer_Type_U16: case PJRT_Buffer_Type_F16: case PJRT_Buffer_Type_BF16: return 2;
    case PJRT_Buffer_Type_S32: case PJRT_Buffer_Type_U32: case PJRT_Buffer_Type_F32: return 4;
    case PJRT_Buffer_Type_S64: case PJRT_Buffer_Type_U64: case PJRT_Buffer_Type_F64: return 8;
    default: return 0;
  }
}

static const char* pjrt_type_name(uint32_t t) {
  static const char* const names[] = {"invalid", "bool", "int8", "int16", "int32", "int64", "uint8", "uint16",
                                      "uint32", "uint64", "float16", "float32", "float64", "bfloat16"};
  return t < sizeof names / sizeof names[0] ? names[t] : "an unsupported type";
}

/* The runtime's type for a buffer type, when they are the same bits. */
static int ttp_type_of(uint32_t t) {
  switch (t) {
    case PJRT_Buffer_Type_F32: return TTP_DTYPE_FLOAT32;
    case PJRT_Buffer_Type_BF16: return TTP_DTYPE_BFLOAT16;
    case PJRT_Buffer_Type_S32: return TTP_DTYPE_INT32;
    case PJRT_Buffer_Type_PRED: return TTP_DTYPE_BOOL;
    default: return 0;
  }
}

/* Frameworks' wider or narrower types arrive as what ttpack computes in
   (float64 as float32, integers as int32; the frontend's ELEMENT_TYPES): these
   convert element by element between a framework buffer and a program's. */
static double load_float(const void* p, uint32_t t) {
  return t == PJRT_Buffer_Type_F64 ? *(const double*)p : *(const float*)p;
}

static int64_t load_int(const void* p, uint32_t t) {
  switch (t) {
    case PJRT_Buffer_Type_S8: return *(const int8_t*)p;
    case PJRT_Buffer_Type_U8: return *(const uint8_t*)p;
    case PJRT_Buffer_Type_S16: return *(const int16_t*)p;
    case PJRT_Buffer_Type_U16: return *(const uint16_t*)p;
    case PJRT_Buffer_Type_U32: return *(const uint32_t*)p;
    case PJRT_Buffer_Type_S64: case PJRT_Buffer_Type_U64: return *(const int64_t*)p;
    default: return *(const int32_t*)p;
  }
}

static void store_int(void* p, uint32_t t, int64_t v) {
  switch (t) {
    case PJRT_Buffer_Type_S8: case PJRT_Buffer_Type_U8: *(uint8_t*)p = (uint8_t)v; break;
    case PJRT_Buffer_Type_S16: case PJRT_Buffer_Type_U16: *(uint16_t*)p = (uint16_t)v; break;
    case PJRT_Buffer_Type_S64: *(int64_t*)p = v; break;
    case PJRT_Buffer_Type_U64: *(uint64_t*)p = (uint64_t)(uint32_t)v; break; /* held as uint32 bits */
    default: *(uint32_t*)p = (uint32_t)v; break;
  }
}

static bool is_float_type(uint32_t t) { return t == PJRT_Buffer_Type_F32 || t == PJRT_Buffer_Type_F64; }

/* The program's type for a framework type, or 0 when ttpack has none. */
static int program_type_for(uint32_t t) {
  int same = ttp_type_of(t);
  if (same) return same;
  switch (t) {
    case PJRT_Buffer_Type_F64: return TTP_DTYPE_FLOAT32;
    case PJRT_Buffer_Type_S8: case PJRT_Buffer_Type_U8: case PJRT_Buffer_Type_S16: case PJRT_Buffer_Type_U16:
    case PJRT_Buffer_Type_U32: case PJRT_Buffer_Type_S64: case PJRT_Buffer_Type_U64: return TTP_DTYPE_INT32;
    default: return 0;
  }
}

static uint32_t program_pjrt_type(int ttp) {
  switch (ttp) {
    case TTP_DTYPE_FLOAT32: return PJRT_Buffer_Type_F32;
    case TTP_DTYPE_BFLOAT16: return PJRT_Buffer_Type_BF16;
    case TTP_DTYPE_INT32: return PJRT_Buffer_Type_S32;
    case TTP_DTYPE_BOOL: return PJRT_Buffer_Type_PRED;
    default: return PJRT_Buffer_Type_INVALID;
  }
}

static void convert(void* dst, uint32_t dst_type, const void* src, uint32_t src_type, size_t count) {
  size_t ds = pjrt_type_size(dst_type), ss = pjrt_type_size(src_type);
  const char* s = src;
  char* d = dst;
  for (size_t i = 0; i < count; i++, s += ss, d += ds) {
    if (is_float_type(dst_type)) {
      double v = is_float_type(src_type) ? load_float(s, src_type) : (double)load_int(s, src_type);
      if (dst_type == PJRT_Buffer_Type_F64) *(double*)d = v;
      else *(float*)d = (float)v;
    } else {
      int64_t v = is_float_type(src_type) ? (int64_t)load_float(s, src_type) : load_int(s, src_type);
      store_int(d, dst_type, v);
    }
  }
}

/* ---- buffers: dense row-major host memory --------------------------------- */

struct PJRT_Buffer {
  uint32_t type;
  bool deleted;
  size_t rank;
  size_t nbytes;
  void* data;
  int64_t dims[TT_MAX_RANK];
};

static size_t element_count(const int64_t* dims, size_t rank) {
  size_t n = 1;
  for (size_t i = 0; i < rank; i++) n *= (size_t)dims[i];
  return n;
}

/* One allocation: the header, then the data on a 64-byte boundary. */
static PJRT_Buffer* buffer_new(uint32_t type, const int64_t* dims, size_t rank) {
  size_t head = (sizeof(PJRT_Buffer) + TT_ALIGN - 1) / TT_ALIGN * TT_ALIGN;
  size_t nbytes = element_count(dims, rank) * pjrt_type_size(type);
  void* block = NULL;
  if (posix_memalign(&block, TT_ALIGN, head + (nbytes ? nbytes : 1)) != 0) return NULL;
  PJRT_Buffer* b = block;
  b->type = type;
  b->deleted = false;
  b->rank = rank;
  b->nbytes = nbytes;
  b->data = (char*)block + head;
  if (rank) memcpy(b->dims, dims, rank * sizeof(int64_t));
  return b;
}

/* Copies between a dense row-major array and one with byte strides. */
static void strided_copy(char* dense, char* strided, const int64_t* dims, const int64_t* strides, size_t rank,
                         size_t elem, bool to_dense) {
  size_t count = element_count(dims, rank);
  int64_t index[TT_MAX_RANK] = {0};
  for (size_t i = 0; i < count; i++) {
    int64_t off = 0;
    for (size_t d = 0; d < rank; d++) off += index[d] * strides[d];
    if (to_dense) memcpy(dense + i * elem, strided + off, elem);
    else memcpy(strided + off, dense + i * elem, elem);
    for (size_t d = rank; d-- > 0;) {
      if (++index[d] < dims[d]) break;
      index[d] = 0;
    }
  }
}

static bool dense_strides(const int64_t* dims, const int64_t* strides, size_t rank, size_t elem) {
  int64_t expect = (int64_t)elem;
  for (size_t d = rank; d-- > 0;) {
    if (dims[d] != 1 && strides[d] != expect) return false;
    expect *= dims[d];
  }
  return true;
}

static PJRT_Error* Client_BufferFromHostBuffer(void* a) {
  PJRT_Client_BufferFromHostBuffer_Args* args = a;
  size_t elem = pjrt_type_size(args->type);
  if (!elem || !program_type_for(args->type))
    return error_new(PJRT_Error_Code_UNIMPLEMENTED, "ttpack's tt device holds float32, bfloat16, float64, integer and "
                     "bool arrays, not %s (PJRT element type %u)", pjrt_type_name(args->type), args->type);
  if (args->num_dims > TT_MAX_RANK)
    return error_new(PJRT_Error_Code_UNIMPLEMENTED, "arrays of rank %zu (at most %d)", args->num_dims, TT_MAX_RANK);
  for (size_t d = 0; d < args->num_dims; d++)
    if (args->dims[d] < 0) return error_new(PJRT_Error_Code_INVALID_ARGUMENT, "negative dimension %lld", (long long)args->dims[d]);
  PJRT_Buffer* b = buffer_new(args->type, args->dims, args->num_dims);
  if (!b) return error_new(PJRT_Error_Code_RESOURCE_EXHAUSTED, "out of memory for a %zu-dim array", args->num_dims);
  /* Always a copy, whatever the host-buffer semantics: the host array is free
     as soon as this returns. */
  if (args->byte_strides && args->num_byte_strides == args->num_dims &&
      !dense_strides(args->dims, args->byte_strides, args->num_dims, elem))
    strided_copy(b->data, (char*)args->data, args->dims, args->byte_strides, args->num_dims, elem, true);
  else if (b->nbytes)
    memcpy(b->data, args->data, b->nbytes);
  args->done_with_host_buffer = &g_done_event;
  args->buffer = b;
  return NULL;
}

static PJRT_Error* Buffer_Destroy(void* a) {
  free(((PJRT_Buffer_Args*)a)->buffer);
  return NULL;
}

static PJRT_Error* Buffer_Delete(void* a) {
  ((PJRT_Buffer_Args*)a)->buffer->deleted = true;
  return NULL;
}

static PJRT_Error* Buffer_IsDeleted(void* a) {
  PJRT_Buffer_Bool_Args* args = a;
  args->value = args->buffer->deleted;
  return NULL;
}

/* The memory is the host's, but the buffer is a device buffer: frameworks
   must go through ToHostBuffer (they would otherwise read it in place). */
static PJRT_Error* Buffer_IsOnCpu(void* a) {
  ((PJRT_Buffer_Bool_Args*)a)->value = false;
  return NULL;
}

static PJRT_Error* Buffer_ElementType(void* a) {
  PJRT_Buffer_ElementType_Args* args = a;
  args->type = args->buffer->type;
  return NULL;
}

static PJRT_Error* Buffer_Dimensions(void* a) {
  PJRT_Buffer_Dimensions_Args* args = a;
  args->dims = args->buffer->dims;
  args->num_dims = args->buffer->rank;
  return NULL;
}

static PJRT_Error* Buffer_DynamicDimensionIndices(void* a) {
  PJRT_Buffer_DynamicDimensionIndices_Args* args = a;
  args->dynamic_dim_indices = NULL;
  args->num_dynamic_dims = 0;
  return NULL;
}

static PJRT_Error* Buffer_OnDeviceSizeInBytes(void* a) {
  PJRT_Buffer_OnDeviceSizeInBytes_Args* args = a;
  args->value = args->buffer->nbytes;
  return NULL;
}

static PJRT_Error* Buffer_Device(void* a) {
  ((PJRT_Buffer_Object_Args*)a)->object = &g_device;
  return NULL;
}

static PJRT_Error* Buffer_Memory(void* a) {
  ((PJRT_Buffer_Object_Args*)a)->object = &g_memory;
  return NULL;
}

static PJRT_Error* Buffer_ReadyEvent(void* a) {
  ((PJRT_Buffer_Object_Args*)a)->object = &g_done_event;
  return NULL;
}

static PJRT_Error* Buffer_ToHostBuffer(void* a) {
  PJRT_Buffer_ToHostBuffer_Args* args = a;
  PJRT_Buffer* b = args->src;
  if (b->deleted) return error_new(PJRT_Error_Code_FAILED_PRECONDITION, "the tt buffer was deleted");
  if (!args->dst) { /* size query */
    args->dst_size = b->nbytes;
    return NULL;
  }
  if (args->dst_size < b->nbytes)
    return error_new(PJRT_Error_Code_INVALID_ARGUMENT, "host buffer of %zu bytes for a %zu-byte array", args->dst_size,
                     b->nbytes);
  const PJRT_Buffer_MemoryLayout* layout = args->host_layout;
  if (layout && layout->type == PJRT_Buffer_MemoryLayout_Type_Strides) {
    if (layout->u.strides.num_byte_strides != b->rank)
      return error_new(PJRT_Error_Code_INVALID_ARGUMENT, "%zu byte strides for a rank-%zu array",
                       layout->u.strides.num_byte_strides, b->rank);
    strided_copy(b->data, args->dst, b->dims, layout->u.strides.byte_strides, b->rank, pjrt_type_size(b->type), false);
  } else {
    if (layout) { /* tiled: only the untiled row-major layout, which both frameworks ask for */
      const PJRT_Buffer_MemoryLayout_Tiled* t = &layout->u.tiled;
      bool row_major = t->num_tiles == 0 && t->minor_to_major_size == b->rank;
      for (size_t i = 0; row_major && i < b->rank; i++) row_major = t->minor_to_major[i] == (int64_t)(b->rank - 1 - i);
      if (!row_major) return unimplemented("copies to hosts in a tiled or non-row-major layout");
    }
    memcpy(args->dst, b->data, b->nbytes);
  }
  args->event = &g_done_event;
  return NULL;
}

/* ---- the compiler callback (Python) -------------------------------------- */

/* What the compiler hands back: the archive, the program text frameworks see
   as the optimized program, and the framework's element type of each
   parameter and result (the archive's types are what ttpack computes in). */
typedef struct tt_compile_result {
  PJRT_Error* error;
  unsigned char* archive;
  size_t archive_size;
  char* text;
  size_t text_size;
  uint32_t* parameter_types;
  size_t num_parameters;
  uint32_t* result_types;
  size_t num_results;
} tt_compile_result;

enum { TT_REQUEST_COMPILE = 0, TT_REQUEST_LOAD = 1 };

/* kind, client tag, program format, code, compile options (a serialized
   CompileOptionsProto), the result to fill with tt_pjrt_result_set or
   tt_pjrt_result_error. */
typedef void (*tt_compiler_fn)(int kind, const char* tag, const char* format, size_t format_size, const char* code,
                               size_t code_size, const char* options, size_t options_size, tt_compile_result* result);

static _Atomic(tt_compiler_fn) g_compiler = NULL;
static atomic_long g_compile_count = 0;

/* Python registers its compiler before a framework creates a client, and
   unregisters it (NULL) at exit, so that nothing calls into a finalizing
   interpreter. */
TT_EXPORT void tt_pjrt_set_compiler(tt_compiler_fn fn) { atomic_store(&g_compiler, fn); }

/* How many programs the compiler was asked to compile in this process (a
   deserialized executable is not compiled). */
TT_EXPORT long tt_pjrt_compile_count(void) { return atomic_load(&g_compile_count); }

TT_EXPORT void tt_pjrt_result_error(tt_compile_result* r, int code, const char* message) {
  free(r->error);
  r->error = error_new((uint32_t)code, "%s", message);
}

TT_EXPORT int tt_pjrt_result_set(tt_compile_result* r, const void* archive, size_t archive_size, const char* text,
                                 size_t text_size, const uint32_t* parameter_types, size_t num_parameters,
                                 const uint32_t* result_types, size_t num_results) {
  r->archive = malloc(archive_size ? archive_size : 1);
  r->text = malloc(text_size + 1);
  r->parameter_types = malloc((num_parameters ? num_parameters : 1) * sizeof(uint32_t));
  r->result_types = malloc((num_results ? num_results : 1) * sizeof(uint32_t));
  if (!r->archive || !r->text || !r->parameter_types || !r->result_types) return -1;
  memcpy(r->archive, archive, archive_size);
  r->archive_size = archive_size;
  memcpy(r->text, text, text_size);
  r->text[text_size] = '\0';
  r->text_size = text_size;
  memcpy(r->parameter_types, parameter_types, num_parameters * sizeof(uint32_t));
  r->num_parameters = num_parameters;
  memcpy(r->result_types, result_types, num_results * sizeof(uint32_t));
  r->num_results = num_results;
  return 0;
}

static void result_free(tt_compile_result* r) {
  free(r->error);
  free(r->archive);
  free(r->text);
  free(r->parameter_types);
  free(r->result_types);
}

/* ---- executables ---------------------------------------------------------- */

/* One object is both the PJRT_LoadedExecutable and the PJRT_Executable views
   of it (GetExecutable hands out another reference). */
typedef struct tt_executable {
  atomic_int refs;
  bool deleted;
  tt_compile_result compiled; /* archive, text, framework types */
  ttp_model* model;
  ttp_program* program;
  size_t num_inputs, num_outputs;
  char fingerprint[17];
  int64_t* output_dims; /* all outputs' dims, concatenated */
  size_t* output_ranks;
  const char** output_kinds;
  size_t* output_kind_sizes;
} tt_executable;

static tt_executable* as_exec(const void* p) { return (tt_executable*)p; }

static void exec_release(tt_executable* e) {
  if (!e || atomic_fetch_sub(&e->refs, 1) != 1) return;
  ttp_program_free(e->program);
  ttp_model_free(e->model);
  result_free(&e->compiled);
  free(e->output_dims);
  free(e->output_ranks);
  free(e->output_kinds);
  free(e->output_kind_sizes);
  free(e);
}

/* Loads the archive of a compile result; takes ownership of *r. */
static PJRT_Error* exec_new(PJRT_Client* client, tt_compile_result* r, tt_executable** out) {
  tt_executable* e = calloc(1, sizeof(tt_executable));
  if (!e) {
    result_free(r);
    return error_new(PJRT_Error_Code_RESOURCE_EXHAUSTED, "out of memory loading an executable");
  }
  atomic_init(&e->refs, 1);
  e->compiled = *r;
  memset(r, 0, sizeof *r);
  PJRT_Error* err = NULL;
  ttp_status* st = ttp_model_open_memory(e->compiled.archive, e->compiled.archive_size, &e->model);
  if (!st) st = ttp_program_load(e->model, NULL, client->cpu, &e->program);
  if (st) {
    err = error_from_status(st, "loading the compiled ttpack archive");
    goto fail;
  }
  e->num_inputs = ttp_program_input_count(e->program);
  e->num_outputs = ttp_program_output_count(e->program);
  if (e->compiled.num_parameters != e->num_inputs || e->compiled.num_results != e->num_outputs) {
    err = error_new(PJRT_Error_Code_INTERNAL, "the archive's program has %zu inputs and %zu outputs, but the framework's "
                    "program %zu and %zu", e->num_inputs, e->num_outputs, e->compiled.num_parameters,
                    e->compiled.num_results);
    goto fail;
  }
  size_t total_dims = 0;
  for (size_t i = 0; i < e->num_outputs; i++) total_dims += ttp_program_output(e->program, i).rank;
  size_t n = e->num_outputs ? e->num_outputs : 1;
  e->output_dims = malloc((total_dims ? total_dims : 1) * sizeof(int64_t));
  e->output_ranks = malloc(n * sizeof(size_t));
  e->output_kinds = malloc(n * sizeof(char*));
  e->output_kind_sizes = malloc(n * sizeof(size_t));
  if (!e->output_dims || !e->output_ranks || !e->output_kinds || !e->output_kind_sizes) {
    err = error_new(PJRT_Error_Code_RESOURCE_EXHAUSTED, "out of memory loading an executable");
    goto fail;
  }
  size_t at = 0;
  for (size_t i = 0; i < e->num_outputs; i++) {
    ttp_tensor_info info = ttp_program_output(e->program, i);
    if (info.rank > TT_MAX_RANK) {
      err = error_new(PJRT_Error_Code_UNIMPLEMENTED, "output %zu has rank %u (at most %d)", i, info.rank, TT_MAX_RANK);
      goto fail;
    }
    memcpy(e->output_dims + at, info.dims, info.rank * sizeof(int64_t));
    at += info.rank;
    e->output_ranks[i] = info.rank;
    e->output_kinds[i] = g_memory_kind;
    e->output_kind_sizes[i] = sizeof g_memory_kind - 1;
  }
  snprintf(e->fingerprint, sizeof e->fingerprint, "%016llx",
           (unsigned long long)ttp_xxh64(e->compiled.archive, e->compiled.archive_size));
  *out = e;
  return NULL;
fail:
  exec_release(e);
  return err;
}

static PJRT_Error* call_compiler(int kind, PJRT_Client* client, const char* format, size_t format_size,
                                 const char* code, size_t code_size, const char* options, size_t options_size,
                                 tt_executable** out) {
  tt_compiler_fn compiler = atomic_load(&g_compiler);
  if (!compiler)
    return error_new(PJRT_Error_Code_FAILED_PRECONDITION,
                     "ttpack's compiler is not registered with its PJRT plugin: load the plugin through "
                     "ttpack.pjrt (import ttpack.pjrt; ttpack.pjrt.load()), not by its library path alone");
  tt_compile_result r;
  memset(&r, 0, sizeof r);
  compiler(kind, client->tag, format, format_size, code, code_size, options, options_size, &r);
  if (r.error || !r.archive) {
    PJRT_Error* err = r.error ? r.error : error_new(PJRT_Error_Code_INTERNAL, "ttpack's compiler returned no archive");
    r.error = NULL;
    result_free(&r);
    return err;
  }
  return exec_new(client, &r, out);
}

static PJRT_Error* Client_Compile(void* a) {
  PJRT_Client_Compile_Args* args = a;
  atomic_fetch_add(&g_compile_count, 1);
  tt_executable* e = NULL;
  PJRT_Error* err = call_compiler(TT_REQUEST_COMPILE, args->client, args->program->format, args->program->format_size,
                                  args->program->code, args->program->code_size, args->compile_options,
                                  args->compile_options_size, &e);
  if (err) return err;
  args->executable = (PJRT_LoadedExecutable*)e;
  return NULL;
}

/* A serialized executable is its ttpack archive. */
static PJRT_Error* Executable_DeserializeAndLoad(void* a) {
  PJRT_Executable_DeserializeAndLoad_Args* args = a;
  static const char format[] = "ttpack";
  tt_executable* e = NULL;
  PJRT_Error* err = call_compiler(TT_REQUEST_LOAD, args->client, format, sizeof format - 1,
                                  args->serialized_executable, args->serialized_executable_size, NULL, 0, &e);
  if (err) return err;
  args->loaded_executable = (PJRT_LoadedExecutable*)e;
  return NULL;
}

static void no_serialized_deleter(PJRT_SerializedExecutable* s) { (void)s; }

/* The bytes stay owned by the executable, which outlives the caller's copy. */
static PJRT_Error* Executable_Serialize(void* a) {
  PJRT_Executable_Serialize_Args* args = a;
  tt_executable* e = as_exec(args->executable);
  args->serialized_bytes = (const char*)e->compiled.archive;
  args->serialized_bytes_size = e->compiled.archive_size;
  args->serialized_executable = NULL;
  args->serialized_executable_deleter = no_serialized_deleter;
  return NULL;
}

static PJRT_Error* Executable_Destroy(void* a) {
  exec_release(as_exec(((PJRT_Executable_Destroy_Args*)a)->executable));
  return NULL;
}

static PJRT_Error* LoadedExecutable_Destroy(void* a) {
  exec_release(as_exec(((PJRT_LoadedExecutable_Args*)a)->executable));
  return NULL;
}

static PJRT_Error* LoadedExecutable_Delete(void* a) {
  as_exec(((PJRT_LoadedExecutable_Args*)a)->executable)->deleted = true;
  return NULL;
}

static PJRT_Error* LoadedExecutable_IsDeleted(void* a) {
  PJRT_LoadedExecutable_IsDeleted_Args* args = a;
  args->is_deleted = as_exec(args->executable)->deleted;
  return NULL;
}

static PJRT_Error* LoadedExecutable_GetExecutable(void* a) {
  PJRT_LoadedExecutable_GetExecutable_Args* args = a;
  tt_executable* e = as_exec(args->loaded_executable);
  atomic_fetch_add(&e->refs, 1);
  args->executable = (PJRT_Executable*)e;
  return NULL;
}

static PJRT_Error* LoadedExecutable_AddressableDevices(void* a) {
  PJRT_LoadedExecutable_AddressableDevices_Args* args = a;
  args->addressable_devices = g_devices;
  args->num_addressable_devices = 1;
  return NULL;
}

/* An error here aborts JAX: it must succeed. */
static PJRT_Error* LoadedExecutable_AddressableDeviceLogicalIds(void* a) {
  static const PJRT_LogicalDeviceIds ids[1] = {{0, 0}};
  PJRT_LoadedExecutable_AddressableDeviceLogicalIds_Args* args = a;
  args->addressable_device_logical_ids = ids;
  args->num_addressable_device_logical_ids = 1;
  return NULL;
}

static void no_assignment_deleter(PJRT_DeviceAssignmentSerialized* s) { (void)s; }

/* An error here aborts JAX: it must succeed. A serialized DeviceAssignmentProto
   {replica_count: 1, computation_count: 1, computation_devices {replica_device_ids: [0]}}. */
static PJRT_Error* LoadedExecutable_GetDeviceAssignment(void* a) {
  static const char proto[] = {0x08, 0x01, 0x10, 0x01, 0x1a, 0x03, 0x0a, 0x01, 0x00};
  PJRT_LoadedExecutable_GetDeviceAssignment_Args* args = a;
  args->serialized_bytes = proto;
  args->serialized_bytes_size = sizeof proto;
  args->serialized_device_assignment = NULL;
  args->serialized_device_assignment_deleter = no_assignment_deleter;
  return NULL;
}

static PJRT_Error* Executable_Name(void* a) {
  PJRT_Executable_String_Args* args = a;
  const char* name = ttp_program_name(as_exec(args->executable)->program);
  args->text = name ? name : "main";
  args->text_size = strlen(args->text);
  return NULL;
}

static PJRT_Error* Executable_Fingerprint(void* a) {
  PJRT_Executable_String_Args* args = a;
  args->text = as_exec(args->executable)->fingerprint;
  args->text_size = 16;
  return NULL;
}

static PJRT_Error* LoadedExecutable_Fingerprint(void* a) {
  PJRT_LoadedExecutable_Fingerprint_Args* args = a;
  args->text = as_exec(args->executable)->fingerprint;
  args->text_size = 16;
  return NULL;
}

static PJRT_Error* Executable_One(void* a) {
  ((PJRT_Executable_Size_Args*)a)->value = 1;
  return NULL;
}

static PJRT_Error* Executable_NumOutputs(void* a) {
  PJRT_Executable_Size_Args* args = a;
  args->value = as_exec(args->executable)->num_outputs;
  return NULL;
}

static PJRT_Error* Executable_SizeOfGeneratedCodeInBytes(void* a) {
  PJRT_Executable_Size_Args* args = a;
  args->value = as_exec(args->executable)->compiled.archive_size;
  return NULL;
}

static PJRT_Error* Executable_OutputMemoryKinds(void* a) {
  PJRT_Executable_OutputMemoryKinds_Args* args = a;
  tt_executable* e = as_exec(args->executable);
  args->num_outputs = e->num_outputs;
  args->memory_kinds = e->output_kinds;
  args->memory_kind_sizes = e->output_kind_sizes;
  return NULL;
}

static PJRT_Error* Executable_OutputElementTypes(void* a) {
  PJRT_Executable_OutputElementTypes_Args* args = a;
  tt_executable* e = as_exec(args->executable);
  args->output_types = e->compiled.result_types;
  args->num_output_types = e->num_outputs;
  return NULL;
}

static PJRT_Error* Executable_OutputDimensions(void* a) {
  PJRT_Executable_OutputDimensions_Args* args = a;
  tt_executable* e = as_exec(args->executable);
  args->num_outputs = e->num_outputs;
  args->dims = e->output_dims;
  args->dim_sizes = e->output_ranks;
  return NULL;
}

/* Two calls: first with code NULL for the size, then with a buffer. The text
   is the StableHLO the program was compiled from ("mlir"), which both
   frameworks accept. */
static PJRT_Error* Executable_OptimizedProgram(void* a) {
  PJRT_Executable_OptimizedProgram_Args* args = a;
  tt_executable* e = as_exec(args->executable);
  static const char format[] = "mlir";
  PJRT_Program* p = args->program;
  p->format = format;
  p->format_size = sizeof format - 1;
  if (p->code == NULL) {
    p->code_size = e->compiled.text_size;
    return NULL;
  }
  if (p->code_size < e->compiled.text_size)
    return error_new(PJRT_Error_Code_INVALID_ARGUMENT, "program buffer of %zu bytes for %zu", p->code_size,
                     e->compiled.text_size);
  memcpy((char*)p->code, e->compiled.text, e->compiled.text_size);
  p->code_size = e->compiled.text_size;
  return NULL;
}

/* ---- execute ---------------------------------------------------------------- */

static PJRT_Error* check_argument(const tt_executable* e, size_t i, const PJRT_Buffer* b, const ttp_tensor_info* info) {
  if (b->deleted) return error_new(PJRT_Error_Code_INVALID_ARGUMENT, "argument %zu was deleted", i);
  bool same = b->rank == info->rank && b->type == e->compiled.parameter_types[i];
  for (size_t d = 0; same && d < b->rank; d++) same = b->dims[d] == info->dims[d];
  if (!same)
    return error_new(PJRT_Error_Code_INVALID_ARGUMENT, "argument %zu ('%s') is a rank-%zu %s array; the program was "
                     "compiled for a rank-%u %s array", i, info->name ? info->name : "?", b->rank, pjrt_type_name(b->type),
                     info->rank, pjrt_type_name(e->compiled.parameter_types[i]));
  return NULL;
}

static PJRT_Error* Execute(void* a) {
  PJRT_LoadedExecutable_Execute_Args* args = a;
  tt_executable* e = as_exec(args->executable);
  if (e->deleted) return error_new(PJRT_Error_Code_FAILED_PRECONDITION, "the executable was deleted");
  if (args->num_devices != 1)
    return error_new(PJRT_Error_Code_UNIMPLEMENTED, "execution on %zu devices (ttpack's tt device is one)", args->num_devices);
  if (args->num_args != e->num_inputs)
    return error_new(PJRT_Error_Code_INVALID_ARGUMENT, "%zu arguments for a program of %zu inputs", args->num_args,
                     e->num_inputs);
  PJRT_Buffer* const* argv = args->argument_lists[0];
  PJRT_Buffer** outv = args->output_lists[0];
  size_t n_in = e->num_inputs, n_out = e->num_outputs;
  /* Small programs (the common case) need no allocation for the tables. */
  ttp_buffer in_small[16], out_small[16];
  void* temp_small[32];
  ttp_buffer* in = n_in <= 16 ? in_small : malloc(n_in * sizeof(ttp_buffer));
  ttp_buffer* out = n_out <= 16 ? out_small : malloc(n_out * sizeof(ttp_buffer));
  void** temps = n_in + n_out <= 32 ? temp_small : calloc(n_in + n_out, sizeof(void*));
  PJRT_Error* err = NULL;
  size_t made = 0;
  if (!in || !out || !temps) {
    err = error_new(PJRT_Error_Code_RESOURCE_EXHAUSTED, "out of memory running a program");
    goto done;
  }
  memset(temps, 0, (n_in + n_out) * sizeof(void*));
  for (size_t i = 0; i < n_in; i++) {
    ttp_tensor_info info = ttp_program_input(e->program, i);
    const PJRT_Buffer* b = argv[i];
    if ((err = check_argument(e, i, b, &info))) goto done;
    if (ttp_type_of(b->type) == info.dtype) {
      in[i].data = b->data;
      in[i].size = b->nbytes;
      continue;
    }
    /* the framework's type is not what ttpack computes in: convert */
    void* t = NULL;
    if (posix_memalign(&t, TT_ALIGN, info.nbytes ? info.nbytes : 1) != 0) {
      err = error_new(PJRT_Error_Code_RESOURCE_EXHAUSTED, "out of memory converting argument %zu", i);
      goto done;
    }
    temps[i] = t;
    convert(t, program_pjrt_type(info.dtype), b->data, b->type, element_count(b->dims, b->rank));
    in[i].data = t;
    in[i].size = info.nbytes;
  }
  for (; made < n_out; made++) {
    ttp_tensor_info info = ttp_program_output(e->program, made);
    uint32_t type = e->compiled.result_types[made];
    PJRT_Buffer* b = buffer_new(type, info.dims, info.rank);
    if (!b) {
      err = error_new(PJRT_Error_Code_RESOURCE_EXHAUSTED, "out of memory for output %zu", made);
      goto done;
    }
    outv[made] = b;
    if (ttp_type_of(type) == info.dtype) {
      out[made].data = b->data;
      out[made].size = b->nbytes;
    } else {
      void* t = NULL;
      if (posix_memalign(&t, TT_ALIGN, info.nbytes ? info.nbytes : 1) != 0) {
        err = error_new(PJRT_Error_Code_RESOURCE_EXHAUSTED, "out of memory for output %zu", made);
        made++;
        goto done;
      }
      temps[n_in + made] = t;
      out[made].data = t;
      out[made].size = info.nbytes;
    }
  }
  ttp_status* st = ttp_program_run(e->program, in, n_in, out, n_out);
  if (st) {
    err = error_from_status(st, "running the program on ttpack's cpu device");
    goto done;
  }
  for (size_t i = 0; i < n_out; i++) {
    if (temps[n_in + i]) {
      ttp_tensor_info info = ttp_program_output(e->program, i);
      convert(outv[i]->data, outv[i]->type, temps[n_in + i], program_pjrt_type(info.dtype),
              element_count(outv[i]->dims, outv[i]->rank));
    }
  }
  /* never past the caller's struct_size (older callers pass shorter structs) */
  if (args->struct_size >= PJRT_STRUCT_SIZE(PJRT_LoadedExecutable_Execute_Args, device_complete_events) &&
      args->device_complete_events)
    args->device_complete_events[0] = &g_done_event;
done:
  if (err) {
    for (size_t i = 0; i < made; i++) {
      free(outv[i]);
      outv[i] = NULL;
    }
  }
  if (temps) {
    for (size_t i = 0; i < n_in + n_out; i++) free(temps[i]);
  }
  if (in != in_small) free(in);
  if (out != out_small) free(out);
  if (temps != temp_small) free(temps);
  return err;
}

/* ---- the table --------------------------------------------------------------- */

static PJRT_Error* Unimplemented(void* a) {
  (void)a;
  return unimplemented("this PJRT C API function");
}

static PJRT_Error* TopologyDescription(void* a) {
  (void)a;
  return unimplemented("topology descriptions (a tt client has one device)");
}

static PJRT_Error* MemoryStats(void* a) {
  (void)a;
  return unimplemented("device memory statistics");
}

static PJRT_Api g_api;

static void fill_api(void) {
  g_api.struct_size = sizeof(PJRT_Api);
  g_api.extension_start = NULL;
  g_api.pjrt_api_version.struct_size = PJRT_STRUCT_SIZE(PJRT_Api_Version, minor_version);
  g_api.pjrt_api_version.extension_start = NULL;
  g_api.pjrt_api_version.major_version = PJRT_API_MAJOR;
  g_api.pjrt_api_version.minor_version = PJRT_API_MINOR;
  for (int i = 0; i < PJRT_SLOT_COUNT; i++) g_api.slots[i] = Unimplemented;
  PJRT_Entry* s = g_api.slots;
  s[PJRT_SLOT_Error_Destroy] = Error_Destroy;
  s[PJRT_SLOT_Error_Message] = Error_Message;
  s[PJRT_SLOT_Error_GetCode] = Error_GetCode;
  s[PJRT_SLOT_Error_ForEachPayload] = Error_ForEachPayload;
  s[PJRT_SLOT_Plugin_Initialize] = Plugin_Initialize;
  s[PJRT_SLOT_Plugin_Attributes] = Plugin_Attributes;
  s[PJRT_SLOT_Event_Destroy] = Event_Destroy;
  s[PJRT_SLOT_Event_IsReady] = Event_IsReady;
  s[PJRT_SLOT_Event_Error] = Event_Error;
  s[PJRT_SLOT_Event_Await] = Event_Await;
  s[PJRT_SLOT_Event_OnReady] = Event_OnReady;
  s[PJRT_SLOT_Client_Create] = Client_Create;
  s[PJRT_SLOT_Client_Destroy] = Client_Destroy;
  s[PJRT_SLOT_Client_PlatformName] = Client_PlatformName;
  s[PJRT_SLOT_Client_ProcessIndex] = Client_ProcessIndex;
  s[PJRT_SLOT_Client_PlatformVersion] = Client_PlatformVersion;
  s[PJRT_SLOT_Client_Devices] = Client_Devices;
  s[PJRT_SLOT_Client_AddressableDevices] = Client_Devices;
  s[PJRT_SLOT_Client_LookupDevice] = Client_LookupDevice;
  s[PJRT_SLOT_Client_LookupAddressableDevice] = Client_LookupDevice; /* same layout: local id 0 is device 0 */
  s[PJRT_SLOT_Client_AddressableMemories] = Client_AddressableMemories;
  s[PJRT_SLOT_Client_Compile] = Client_Compile;
  s[PJRT_SLOT_Client_DefaultDeviceAssignment] = Client_DefaultDeviceAssignment;
  s[PJRT_SLOT_Client_BufferFromHostBuffer] = Client_BufferFromHostBuffer;
  s[PJRT_SLOT_Client_TopologyDescription] = TopologyDescription;
  s[PJRT_SLOT_DeviceDescription_Id] = DeviceDescription_Id;
  s[PJRT_SLOT_DeviceDescription_ProcessIndex] = DeviceDescription_Id; /* process 0 */
  s[PJRT_SLOT_DeviceDescription_Attributes] = DeviceDescription_Attributes;
  s[PJRT_SLOT_DeviceDescription_Kind] = DeviceDescription_Kind;
  s[PJRT_SLOT_DeviceDescription_DebugString] = DeviceDescription_DebugString;
  s[PJRT_SLOT_DeviceDescription_ToString] = DeviceDescription_ToString;
  s[PJRT_SLOT_Device_GetDescription] = Device_GetDescription;
  s[PJRT_SLOT_Device_IsAddressable] = Device_IsAddressable;
  s[PJRT_SLOT_Device_LocalHardwareId] = Device_LocalHardwareId;
  s[PJRT_SLOT_Device_AddressableMemories] = Device_AddressableMemories;
  s[PJRT_SLOT_Device_DefaultMemory] = Device_DefaultMemory;
  s[PJRT_SLOT_Device_MemoryStats] = MemoryStats;
  s[PJRT_SLOT_Device_GetAttributes] = Device_GetAttributes;
  s[PJRT_SLOT_Memory_Id] = Memory_Id;
  s[PJRT_SLOT_Memory_Kind_Id] = Memory_Id; /* kind 0 */
  s[PJRT_SLOT_Memory_Kind] = Memory_Kind;
  s[PJRT_SLOT_Memory_DebugString] = Memory_String;
  s[PJRT_SLOT_Memory_ToString] = Memory_String;
  s[PJRT_SLOT_Memory_AddressableByDevices] = Memory_AddressableByDevices;
  s[PJRT_SLOT_Executable_Destroy] = Executable_Destroy;
  s[PJRT_SLOT_Executable_Name] = Executable_Name;
  s[PJRT_SLOT_Executable_NumReplicas] = Executable_One;
  s[PJRT_SLOT_Executable_NumPartitions] = Executable_One;
  s[PJRT_SLOT_Executable_NumOutputs] = Executable_NumOutputs;
  s[PJRT_SLOT_Executable_SizeOfGeneratedCodeInBytes] = Executable_SizeOfGeneratedCodeInBytes;
  s[PJRT_SLOT_Executable_OutputMemoryKinds] = Executable_OutputMemoryKinds;
  s[PJRT_SLOT_Executable_OutputElementTypes] = Executable_OutputElementTypes;
  s[PJRT_SLOT_Executable_OutputDimensions] = Executable_OutputDimensions;
  s[PJRT_SLOT_Executable_OptimizedProgram] = Executable_OptimizedProgram;
  s[PJRT_SLOT_Executable_Serialize] = Executable_Serialize;
  s[PJRT_SLOT_Executable_Fingerprint] = Executable_Fingerprint;
  s[PJRT_SLOT_Executable_DeserializeAndLoad] = Executable_DeserializeAndLoad;
  s[PJRT_SLOT_LoadedExecutable_Destroy] = LoadedExecutable_Destroy;
  s[PJRT_SLOT_LoadedExecutable_GetExecutable] = LoadedExecutable_GetExecutable;
  s[PJRT_SLOT_LoadedExecutable_AddressableDevices] = LoadedExecutable_AddressableDevices;
  s[PJRT_SLOT_LoadedExecutable_Delete] = LoadedExecutable_Delete;
  s[PJRT_SLOT_LoadedExecutable_IsDeleted] = LoadedExecutable_IsDeleted;
  s[PJRT_SLOT_LoadedExecutable_Execute] = Execute;
  s[PJRT_SLOT_LoadedExecutable_Fingerprint] = LoadedExecutable_Fingerprint;
  s[PJRT_SLOT_LoadedExecutable_AddressableDeviceLogicalIds] = LoadedExecutable_AddressableDeviceLogicalIds;
  s[PJRT_SLOT_LoadedExecutable_GetDeviceAssignment] = LoadedExecutable_GetDeviceAssignment;
  s[PJRT_SLOT_Buffer_Destroy] = Buffer_Destroy;
  s[PJRT_SLOT_Buffer_ElementType] = Buffer_ElementType;
  s[PJRT_SLOT_Buffer_Dimensions] = Buffer_Dimensions;
  s[PJRT_SLOT_Buffer_UnpaddedDimensions] = Buffer_Dimensions; /* never padded */
  s[PJRT_SLOT_Buffer_DynamicDimensionIndices] = Buffer_DynamicDimensionIndices;
  s[PJRT_SLOT_Buffer_OnDeviceSizeInBytes] = Buffer_OnDeviceSizeInBytes;
  s[PJRT_SLOT_Buffer_Device] = Buffer_Device;
  s[PJRT_SLOT_Buffer_Memory] = Buffer_Memory;
  s[PJRT_SLOT_Buffer_Delete] = Buffer_Delete;
  s[PJRT_SLOT_Buffer_IsDeleted] = Buffer_IsDeleted;
  s[PJRT_SLOT_Buffer_ToHostBuffer] = Buffer_ToHostBuffer;
  s[PJRT_SLOT_Buffer_IsOnCpu] = Buffer_IsOnCpu;
  s[PJRT_SLOT_Buffer_ReadyEvent] = Buffer_ReadyEvent;
}

static pthread_once_t g_api_once = PTHREAD_ONCE_INIT;

TT_EXPORT const PJRT_Api* GetPjrtApi(void) {
  pthread_once(&g_api_once, fill_api);
  return &g_api;
}
