/* The part of the PJRT C API (XLA's plugin ABI) that ttpack's plugin uses,
 * written for ttpack. It follows PJRT C API version 0.114 (the version
 * jaxlib 0.10 and torch_xla 2.9 speak); layouts and slot numbers were taken
 * from the ABI description in PyPI's `pypjrt` (Apache-2.0), checked by the
 * static asserts at the end against that package's *_STRUCT_SIZE values.
 *
 * Conventions of the ABI that the plugin relies on:
 * - every entry point is `PJRT_Error* fn(Args*)`; NULL means success;
 * - every Args struct starts with struct_size (what the CALLER's header
 *   thought the struct's size was: offset plus size of its last field) and
 *   extension_start; a plugin must not touch bytes past struct_size, since
 *   older callers pass shorter structs;
 * - the PJRT_Api table is struct_size, extension_start, the version, then
 *   PJRT_SLOT_COUNT function pointers in a fixed order.
 * Only x86-64/aarch64 LP64 layouts are asserted.
 */
#ifndef TTPACK_PJRT_ABI_H_
#define TTPACK_PJRT_ABI_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PJRT_API_MAJOR 0
#define PJRT_API_MINOR 114

/* Opaque to the frameworks; defined by the plugin. */
typedef struct PJRT_Error PJRT_Error;
typedef struct PJRT_Client PJRT_Client;
typedef struct PJRT_Device PJRT_Device;
typedef struct PJRT_DeviceDescription PJRT_DeviceDescription;
typedef struct PJRT_Memory PJRT_Memory;
typedef struct PJRT_Buffer PJRT_Buffer;
typedef struct PJRT_Event PJRT_Event;
typedef struct PJRT_Executable PJRT_Executable;
typedef struct PJRT_LoadedExecutable PJRT_LoadedExecutable;
typedef struct PJRT_SerializedExecutable PJRT_SerializedExecutable;
typedef struct PJRT_DeviceAssignmentSerialized PJRT_DeviceAssignmentSerialized;
typedef struct PJRT_Device_Attributes PJRT_Device_Attributes;

typedef PJRT_Error* (*PJRT_Entry)(void* args);

/* Slot numbers in the PJRT_Api table (declaration order of 0.114). */
enum {
  PJRT_SLOT_Error_Destroy = 0,
  PJRT_SLOT_Error_Message = 1,
  PJRT_SLOT_Error_GetCode = 2,
  PJRT_SLOT_Plugin_Initialize = 3,
  PJRT_SLOT_Plugin_Attributes = 4,
  PJRT_SLOT_Event_Destroy = 5,
  PJRT_SLOT_Event_IsReady = 6,
  PJRT_SLOT_Event_Error = 7,
  PJRT_SLOT_Event_Await = 8,
  PJRT_SLOT_Event_OnReady = 9,
  PJRT_SLOT_Client_Create = 10,
  PJRT_SLOT_Client_Destroy = 11,
  PJRT_SLOT_Client_PlatformName = 12,
  PJRT_SLOT_Client_ProcessIndex = 13,
  PJRT_SLOT_Client_PlatformVersion = 14,
  PJRT_SLOT_Client_Devices = 15,
  PJRT_SLOT_Client_AddressableDevices = 16,
  PJRT_SLOT_Client_LookupDevice = 17,
  PJRT_SLOT_Client_LookupAddressableDevice = 18,
  PJRT_SLOT_Client_AddressableMemories = 19,
  PJRT_SLOT_Client_Compile = 20,
  PJRT_SLOT_Client_DefaultDeviceAssignment = 21,
  PJRT_SLOT_Client_BufferFromHostBuffer = 22,
  PJRT_SLOT_DeviceDescription_Id = 23,
  PJRT_SLOT_DeviceDescription_ProcessIndex = 24,
  PJRT_SLOT_DeviceDescription_Attributes = 25,
  PJRT_SLOT_DeviceDescription_Kind = 26,
  PJRT_SLOT_DeviceDescription_DebugString = 27,
  PJRT_SLOT_DeviceDescription_ToString = 28,
  PJRT_SLOT_Device_GetDescription = 29,
  PJRT_SLOT_Device_IsAddressable = 30,
  PJRT_SLOT_Device_LocalHardwareId = 31,
  PJRT_SLOT_Device_AddressableMemories = 32,
  PJRT_SLOT_Device_DefaultMemory = 33,
  PJRT_SLOT_Device_MemoryStats = 34,
  PJRT_SLOT_Memory_Id = 35,
  PJRT_SLOT_Memory_Kind = 36,
  PJRT_SLOT_Memory_DebugString = 37,
  PJRT_SLOT_Memory_ToString = 38,
  PJRT_SLOT_Memory_AddressableByDevices = 39,
  PJRT_SLOT_Executable_Destroy = 40,
  PJRT_SLOT_Executable_Name = 41,
  PJRT_SLOT_Executable_NumReplicas = 42,
  PJRT_SLOT_Executable_NumPartitions = 43,
  PJRT_SLOT_Executable_NumOutputs = 44,
  PJRT_SLOT_Executable_SizeOfGeneratedCodeInBytes = 45,
  PJRT_SLOT_Executable_OutputMemoryKinds = 47,
  PJRT_SLOT_Executable_OptimizedProgram = 48,
  PJRT_SLOT_Executable_Serialize = 49,
  PJRT_SLOT_LoadedExecutable_Destroy = 50,
  PJRT_SLOT_LoadedExecutable_GetExecutable = 51,
  PJRT_SLOT_LoadedExecutable_AddressableDevices = 52,
  PJRT_SLOT_LoadedExecutable_Delete = 53,
  PJRT_SLOT_LoadedExecutable_IsDeleted = 54,
  PJRT_SLOT_LoadedExecutable_Execute = 55,
  PJRT_SLOT_Executable_DeserializeAndLoad = 56,
  PJRT_SLOT_LoadedExecutable_Fingerprint = 57,
  PJRT_SLOT_Buffer_Destroy = 58,
  PJRT_SLOT_Buffer_ElementType = 59,
  PJRT_SLOT_Buffer_Dimensions = 60,
  PJRT_SLOT_Buffer_UnpaddedDimensions = 61,
  PJRT_SLOT_Buffer_DynamicDimensionIndices = 62,
  PJRT_SLOT_Buffer_OnDeviceSizeInBytes = 64,
  PJRT_SLOT_Buffer_Device = 65,
  PJRT_SLOT_Buffer_Memory = 66,
  PJRT_SLOT_Buffer_Delete = 67,
  PJRT_SLOT_Buffer_IsDeleted = 68,
  PJRT_SLOT_Buffer_ToHostBuffer = 70,
  PJRT_SLOT_Buffer_IsOnCpu = 71,
  PJRT_SLOT_Buffer_ReadyEvent = 72,
  PJRT_SLOT_Executable_OutputElementTypes = 90,
  PJRT_SLOT_Executable_OutputDimensions = 91,
  PJRT_SLOT_Executable_Fingerprint = 94,
  PJRT_SLOT_Client_TopologyDescription = 95,
  PJRT_SLOT_Memory_Kind_Id = 97,
  PJRT_SLOT_LoadedExecutable_GetDeviceAssignment = 117,
  PJRT_SLOT_Device_GetAttributes = 128,
  PJRT_SLOT_LoadedExecutable_AddressableDeviceLogicalIds = 130,
  PJRT_SLOT_Error_ForEachPayload = 132,
  PJRT_SLOT_COUNT = 138,
};

typedef struct PJRT_Api_Version {
  size_t struct_size;
  void* extension_start;
  int major_version;
  int minor_version;
} PJRT_Api_Version;

typedef struct PJRT_Api {
  size_t struct_size;
  void* extension_start;
  PJRT_Api_Version pjrt_api_version;
  PJRT_Entry slots[PJRT_SLOT_COUNT];
} PJRT_Api;

typedef enum {
  PJRT_Error_Code_OK = 0,
  PJRT_Error_Code_UNKNOWN = 2,
  PJRT_Error_Code_INVALID_ARGUMENT = 3,
  PJRT_Error_Code_NOT_FOUND = 5,
  PJRT_Error_Code_RESOURCE_EXHAUSTED = 8,
  PJRT_Error_Code_FAILED_PRECONDITION = 9,
  PJRT_Error_Code_UNIMPLEMENTED = 12,
  PJRT_Error_Code_INTERNAL = 13,
} PJRT_Error_Code;

typedef enum {
  PJRT_Buffer_Type_INVALID = 0,
  PJRT_Buffer_Type_PRED = 1,
  PJRT_Buffer_Type_S8 = 2,
  PJRT_Buffer_Type_S16 = 3,
  PJRT_Buffer_Type_S32 = 4,
  PJRT_Buffer_Type_S64 = 5,
  PJRT_Buffer_Type_U8 = 6,
  PJRT_Buffer_Type_U16 = 7,
  PJRT_Buffer_Type_U32 = 8,
  PJRT_Buffer_Type_U64 = 9,
  PJRT_Buffer_Type_F16 = 10,
  PJRT_Buffer_Type_F32 = 11,
  PJRT_Buffer_Type_F64 = 12,
  PJRT_Buffer_Type_BF16 = 13,
} PJRT_Buffer_Type;

typedef enum { PJRT_NamedValue_kString = 0, PJRT_NamedValue_kInt64 = 1, PJRT_NamedValue_kInt64List = 2,
               PJRT_NamedValue_kFloat = 3, PJRT_NamedValue_kBool = 4 } PJRT_NamedValue_Type;

typedef struct PJRT_NamedValue {
  size_t struct_size;
  void* extension_start;
  const char* name;
  size_t name_size;
  uint32_t type; /* PJRT_NamedValue_Type */
  union {
    const char* string_value;
    int64_t int64_value;
    const int64_t* int64_array_value;
    float float_value;
    bool bool_value;
  } value;
  size_t value_size;
} PJRT_NamedValue;

/* ---- errors, plugin ---- */
typedef struct { size_t struct_size; void* extension_start; PJRT_Error* error; } PJRT_Error_Destroy_Args;
typedef struct { size_t struct_size; void* extension_start; const PJRT_Error* error;
                 const char* message; size_t message_size; } PJRT_Error_Message_Args;
typedef struct { size_t struct_size; void* extension_start; const PJRT_Error* error;
                 uint32_t code; } PJRT_Error_GetCode_Args;
typedef struct { size_t struct_size; void* extension_start; const PJRT_Error* error;
                 void* visitor; void* user_arg; } PJRT_Error_ForEachPayload_Args;
typedef struct { size_t struct_size; void* extension_start; const PJRT_NamedValue* attributes;
                 size_t num_attributes; } PJRT_Plugin_Attributes_Args;

/* ---- events ---- */
typedef void (*PJRT_Event_OnReadyCallback)(PJRT_Error* error, void* user_arg);
typedef struct { size_t struct_size; void* extension_start; PJRT_Event* event; } PJRT_Event_Args;
typedef struct { size_t struct_size; void* extension_start; PJRT_Event* event; bool is_ready; } PJRT_Event_IsReady_Args;
typedef struct { size_t struct_size; void* extension_start; PJRT_Event* event;
                 PJRT_Event_OnReadyCallback callback; void* user_arg; } PJRT_Event_OnReady_Args;

/* ---- client ---- */
typedef struct { size_t struct_size; void* extension_start; const PJRT_NamedValue* create_options;
                 size_t num_options; void* kv_get_callback; void* kv_get_user_arg; void* kv_put_callback;
                 void* kv_put_user_arg; PJRT_Client* client; void* kv_try_get_callback;
                 void* kv_try_get_user_arg; } PJRT_Client_Create_Args;
typedef struct { size_t struct_size; void* extension_start; PJRT_Client* client; } PJRT_Client_Destroy_Args;
/* PlatformName, PlatformVersion: one string out */
typedef struct { size_t struct_size; void* extension_start; PJRT_Client* client;
                 const char* text; size_t text_size; } PJRT_Client_String_Args;
typedef struct { size_t struct_size; void* extension_start; PJRT_Client* client; int process_index; } PJRT_Client_ProcessIndex_Args;
/* Devices, AddressableDevices, AddressableMemories: one array out */
typedef struct { size_t struct_size; void* extension_start; PJRT_Client* client;
                 void* const* items; size_t num_items; } PJRT_Client_List_Args;
typedef struct { size_t struct_size; void* extension_start; PJRT_Client* client; int id;
                 PJRT_Device* device; } PJRT_Client_LookupDevice_Args;
typedef struct { size_t struct_size; void* extension_start; const char* code; size_t code_size;
                 const char* format; size_t format_size; } PJRT_Program;
typedef struct { size_t struct_size; void* extension_start; PJRT_Client* client; const PJRT_Program* program;
                 const char* compile_options; size_t compile_options_size;
                 PJRT_LoadedExecutable* executable; } PJRT_Client_Compile_Args;
typedef struct { size_t struct_size; void* extension_start; PJRT_Client* client; int num_replicas;
                 int num_partitions; size_t default_assignment_size; int* default_assignment; }
    PJRT_Client_DefaultDeviceAssignment_Args;
typedef struct { size_t struct_size; void* extension_start; PJRT_Client* client; const void* data;
                 uint32_t type; const int64_t* dims; size_t num_dims; const int64_t* byte_strides;
                 size_t num_byte_strides; uint32_t host_buffer_semantics; PJRT_Device* device;
                 PJRT_Memory* memory; void* device_layout; PJRT_Event* done_with_host_buffer;
                 PJRT_Buffer* buffer; } PJRT_Client_BufferFromHostBuffer_Args;

/* ---- devices, memories ---- */
typedef struct { size_t struct_size; void* extension_start; PJRT_DeviceDescription* device_description;
                 int value; } PJRT_DeviceDescription_Int_Args;       /* Id, ProcessIndex */
typedef struct { size_t struct_size; void* extension_start; PJRT_DeviceDescription* device_description;
                 size_t num_attributes; const PJRT_NamedValue* attributes; } PJRT_DeviceDescription_Attributes_Args;
typedef struct { size_t struct_size; void* extension_start; PJRT_DeviceDescription* device_description;
                 const char* text; size_t text_size; } PJRT_DeviceDescription_String_Args; /* Kind, DebugString, ToString */
typedef struct { size_t struct_size; void* extension_start; PJRT_Device* device;
                 PJRT_DeviceDescription* device_description; } PJRT_Device_GetDescription_Args;
typedef struct { size_t struct_size; void* extension_start; PJRT_Device* device; bool is_addressable; }
    PJRT_Device_IsAddressable_Args;
typedef struct { size_t struct_size; void* extension_start; PJRT_Device* device; int local_hardware_id; }
    PJRT_Device_LocalHardwareId_Args;
typedef struct { size_t struct_size; void* extension_start; PJRT_Device* device; PJRT_Memory* const* memories;
                 size_t num_memories; } PJRT_Device_AddressableMemories_Args;
typedef struct { size_t struct_size; void* extension_start; PJRT_Device* device; PJRT_Memory* memory; }
    PJRT_Device_DefaultMemory_Args;
typedef struct { size_t struct_size; void* extension_start; PJRT_Device* device; const PJRT_NamedValue* attributes;
                 size_t num_attributes; PJRT_Device_Attributes* device_attributes;
                 void (*attributes_deleter)(PJRT_Device_Attributes*); } PJRT_Device_GetAttributes_Args;
typedef struct { size_t struct_size; void* extension_start; PJRT_Memory* memory; int value; } PJRT_Memory_Int_Args; /* Id, Kind_Id */
typedef struct { size_t struct_size; void* extension_start; PJRT_Memory* memory; const char* text;
                 size_t text_size; } PJRT_Memory_String_Args;  /* Kind, DebugString, ToString */
typedef struct { size_t struct_size; void* extension_start; PJRT_Memory* memory; PJRT_Device* const* devices;
                 size_t num_devices; } PJRT_Memory_AddressableByDevices_Args;

/* ---- executables ---- */
typedef struct { size_t struct_size; void* extension_start; PJRT_Executable* executable; } PJRT_Executable_Destroy_Args;
typedef struct { size_t struct_size; void* extension_start; PJRT_Executable* executable; const char* text;
                 size_t text_size; } PJRT_Executable_String_Args;  /* Name, Fingerprint */
typedef struct { size_t struct_size; void* extension_start; PJRT_Executable* executable; size_t value; }
    PJRT_Executable_Size_Args;  /* NumReplicas, NumPartitions, NumOutputs, SizeOfGeneratedCodeInBytes */
typedef struct { size_t struct_size; void* extension_start; PJRT_Executable* executable; size_t num_outputs;
                 const char* const* memory_kinds; const size_t* memory_kind_sizes; } PJRT_Executable_OutputMemoryKinds_Args;
typedef struct { size_t struct_size; void* extension_start; PJRT_Executable* executable;
                 PJRT_Program* program; } PJRT_Executable_OptimizedProgram_Args;
typedef struct { size_t struct_size; void* extension_start; const PJRT_Executable* executable;
                 const char* serialized_bytes; size_t serialized_bytes_size;
                 PJRT_SerializedExecutable* serialized_executable;
                 void (*serialized_executable_deleter)(PJRT_SerializedExecutable*); } PJRT_Executable_Serialize_Args;
typedef struct { size_t struct_size; void* extension_start; PJRT_Executable* executable; uint32_t* output_types;
                 size_t num_output_types; } PJRT_Executable_OutputElementTypes_Args;
typedef struct { size_t struct_size; void* extension_start; PJRT_Executable* executable; size_t num_outputs;
                 const int64_t* dims; const size_t* dim_sizes; } PJRT_Executable_OutputDimensions_Args;
typedef struct { size_t struct_size; void* extension_start; PJRT_Client* client; const char* serialized_executable;
                 size_t serialized_executable_size; PJRT_LoadedExecutable* loaded_executable;
                 const char* overridden_serialized_compile_options;
                 size_t overridden_serialized_compile_options_size; void* load_options; }
    PJRT_Executable_DeserializeAndLoad_Args;
typedef struct { size_t struct_size; void* extension_start; PJRT_LoadedExecutable* executable; }
    PJRT_LoadedExecutable_Args;  /* Destroy, Delete */
typedef struct { size_t struct_size; void* extension_start; PJRT_LoadedExecutable* executable; bool is_deleted; }
    PJRT_LoadedExecutable_IsDeleted_Args;
typedef struct { size_t struct_size; void* extension_start; PJRT_LoadedExecutable* loaded_executable;
                 PJRT_Executable* executable; } PJRT_LoadedExecutable_GetExecutable_Args;
typedef struct { size_t struct_size; void* extension_start; PJRT_LoadedExecutable* executable;
                 PJRT_Device* const* addressable_devices; size_t num_addressable_devices; }
    PJRT_LoadedExecutable_AddressableDevices_Args;
typedef struct { size_t struct_size; void* extension_start; PJRT_LoadedExecutable* executable;
                 const char* text; size_t text_size; } PJRT_LoadedExecutable_Fingerprint_Args;
typedef struct { int replica; int partition; } PJRT_LogicalDeviceIds;
typedef struct { size_t struct_size; void* extension_start; PJRT_LoadedExecutable* executable;
                 const PJRT_LogicalDeviceIds* addressable_device_logical_ids;
                 size_t num_addressable_device_logical_ids; } PJRT_LoadedExecutable_AddressableDeviceLogicalIds_Args;
typedef struct { size_t struct_size; void* extension_start; PJRT_LoadedExecutable* executable;
                 const char* serialized_bytes; size_t serialized_bytes_size;
                 PJRT_DeviceAssignmentSerialized* serialized_device_assignment;
                 void (*serialized_device_assignment_deleter)(PJRT_DeviceAssignmentSerialized*); }
    PJRT_LoadedExecutable_GetDeviceAssignment_Args;
typedef struct { size_t struct_size; void* extension_start; PJRT_LoadedExecutable* executable; void* options;
                 PJRT_Buffer* const* const* argument_lists; size_t num_devices; size_t num_args;
                 PJRT_Buffer** const* output_lists; PJRT_Event** device_complete_events;
                 PJRT_Device* execute_device; } PJRT_LoadedExecutable_Execute_Args;

/* ---- buffers ---- */
typedef struct { size_t struct_size; void* extension_start; PJRT_Buffer* buffer; } PJRT_Buffer_Args; /* Destroy, Delete */
typedef struct { size_t struct_size; void* extension_start; PJRT_Buffer* buffer; uint32_t type; } PJRT_Buffer_ElementType_Args;
typedef struct { size_t struct_size; void* extension_start; PJRT_Buffer* buffer; const int64_t* dims;
                 size_t num_dims; } PJRT_Buffer_Dimensions_Args;  /* Dimensions, UnpaddedDimensions */
typedef struct { size_t struct_size; void* extension_start; PJRT_Buffer* buffer; const size_t* dynamic_dim_indices;
                 size_t num_dynamic_dims; } PJRT_Buffer_DynamicDimensionIndices_Args;
typedef struct { size_t struct_size; void* extension_start; PJRT_Buffer* buffer; size_t value; }
    PJRT_Buffer_OnDeviceSizeInBytes_Args;
typedef struct { size_t struct_size; void* extension_start; PJRT_Buffer* buffer; void* object; }
    PJRT_Buffer_Object_Args;  /* Device, Memory, ReadyEvent: one pointer out */
typedef struct { size_t struct_size; void* extension_start; PJRT_Buffer* buffer; bool value; }
    PJRT_Buffer_Bool_Args;  /* IsDeleted, IsOnCpu */

enum { PJRT_Buffer_MemoryLayout_Type_Tiled = 0, PJRT_Buffer_MemoryLayout_Type_Strides = 1 };
typedef struct { size_t struct_size; void* extension_start; const int64_t* minor_to_major; size_t minor_to_major_size;
                 const int64_t* tile_dims; const size_t* tile_dim_sizes; size_t num_tiles; } PJRT_Buffer_MemoryLayout_Tiled;
typedef struct { size_t struct_size; void* extension_start; const int64_t* byte_strides; size_t num_byte_strides; }
    PJRT_Buffer_MemoryLayout_Strides;
typedef struct { size_t struct_size; void* extension_start;
                 union { PJRT_Buffer_MemoryLayout_Tiled tiled; PJRT_Buffer_MemoryLayout_Strides strides; } u;
                 uint32_t type; } PJRT_Buffer_MemoryLayout;
typedef struct { size_t struct_size; void* extension_start; PJRT_Buffer* src; PJRT_Buffer_MemoryLayout* host_layout;
                 void* dst; size_t dst_size; PJRT_Event* event; } PJRT_Buffer_ToHostBuffer_Args;

/* The caller's struct_size is the offset of the last field plus its size. */
#define PJRT_STRUCT_SIZE(type, last) (offsetof(type, last) + sizeof(((type*)0)->last))

#if defined(__LP64__) || defined(_LP64)
_Static_assert(sizeof(PJRT_Api) == 1144, "PJRT_Api layout");
_Static_assert(PJRT_STRUCT_SIZE(PJRT_NamedValue, value_size) == 56, "PJRT_NamedValue layout");
_Static_assert(PJRT_STRUCT_SIZE(PJRT_Client_Create_Args, kv_try_get_user_arg) == 88, "Client_Create layout");
_Static_assert(PJRT_STRUCT_SIZE(PJRT_Client_BufferFromHostBuffer_Args, buffer) == 120, "BufferFromHostBuffer layout");
_Static_assert(PJRT_STRUCT_SIZE(PJRT_Client_DefaultDeviceAssignment_Args, default_assignment) == 48, "DefaultDeviceAssignment layout");
_Static_assert(PJRT_STRUCT_SIZE(PJRT_Error_GetCode_Args, code) == 28, "Error_GetCode layout");
_Static_assert(PJRT_STRUCT_SIZE(PJRT_Device_GetAttributes_Args, attributes_deleter) == 56, "Device_GetAttributes layout");
_Static_assert(PJRT_STRUCT_SIZE(PJRT_Executable_Serialize_Args, serialized_executable_deleter) == 56, "Serialize layout");
_Static_assert(PJRT_STRUCT_SIZE(PJRT_Executable_DeserializeAndLoad_Args, load_options) == 72, "DeserializeAndLoad layout");
_Static_assert(PJRT_STRUCT_SIZE(PJRT_LoadedExecutable_Execute_Args, execute_device) == 80, "Execute layout");
_Static_assert(PJRT_STRUCT_SIZE(PJRT_Buffer_MemoryLayout, type) == 76, "MemoryLayout layout");
_Static_assert(PJRT_STRUCT_SIZE(PJRT_Buffer_ToHostBuffer_Args, event) == 56, "ToHostBuffer layout");
_Static_assert(PJRT_STRUCT_SIZE(PJRT_Executable_OutputMemoryKinds_Args, memory_kind_sizes) == 48, "OutputMemoryKinds layout");
_Static_assert(PJRT_STRUCT_SIZE(PJRT_Executable_OutputDimensions_Args, dim_sizes) == 48, "OutputDimensions layout");
_Static_assert(PJRT_STRUCT_SIZE(PJRT_Buffer_ElementType_Args, type) == 28, "Buffer_ElementType layout");
_Static_assert(PJRT_STRUCT_SIZE(PJRT_Buffer_Bool_Args, value) == 25, "Buffer_IsDeleted layout");
_Static_assert(PJRT_STRUCT_SIZE(PJRT_DeviceDescription_Attributes_Args, attributes) == 40, "Description_Attributes layout");
#endif

#endif /* TTPACK_PJRT_ABI_H_ */
