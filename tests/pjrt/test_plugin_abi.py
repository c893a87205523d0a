"""The plugin library against the PJRT C API 0.114 contract, called
directly: the table's size and version, every slot filled, and the error
slots frameworks depend on (ForEachPayload never fails; unimplemented
entries say so with UNIMPLEMENTED)."""

from __future__ import annotations

import ctypes

import pytest

import ttpack.pjrt as tp

SLOT_COUNT = 138
SLOT_ERROR_DESTROY, SLOT_ERROR_MESSAGE, SLOT_ERROR_GETCODE = 0, 1, 2
SLOT_CREATE_UNINITIALIZED_BUFFER, SLOT_ERROR_FOR_EACH_PAYLOAD = 112, 132
UNIMPLEMENTED = 12
ENTRY = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)


class Version(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("extension_start", ctypes.c_void_p),
                ("major", ctypes.c_int), ("minor", ctypes.c_int)]


class Api(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("extension_start", ctypes.c_void_p), ("version", Version),
                ("slots", ctypes.c_void_p * SLOT_COUNT)]


class ErrorArgs(ctypes.Structure):  # Error_Destroy / GetCode / Message / ForEachPayload share the head
    _fields_ = [("struct_size", ctypes.c_size_t), ("extension_start", ctypes.c_void_p), ("error", ctypes.c_void_p),
                ("a", ctypes.c_void_p), ("b", ctypes.c_size_t)]


@pytest.fixture(scope="module")
def api() -> Api:
    lib = tp.load()
    lib.GetPjrtApi.restype = ctypes.POINTER(Api)
    return lib.GetPjrtApi().contents


def call(api: Api, slot: int, args) -> int | None:
    return ENTRY(api.slots[slot])(ctypes.addressof(args))


def test_table_is_version_0_114_with_every_slot_filled(api):
    assert api.struct_size == ctypes.sizeof(Api) == 1144
    assert (api.version.major, api.version.minor) == (0, 114)
    assert all(api.slots[i] for i in range(SLOT_COUNT))


def test_unimplemented_entries_fail_with_UNIMPLEMENTED_and_payloads_never_fail(api):
    dummy = (ctypes.c_char * 256)()
    ctypes.memset(dummy, 0, 256)
    ctypes.c_size_t.from_buffer(dummy).value = 80
    error = ENTRY(api.slots[SLOT_CREATE_UNINITIALIZED_BUFFER])(ctypes.addressof(dummy))
    assert error
    code = ErrorArgs(28, None, error)
    assert call(api, SLOT_ERROR_GETCODE, code) is None
    assert ctypes.c_uint32.from_buffer(code, 24).value == UNIMPLEMENTED  # the code: 4 bytes at offset 24
    message = ErrorArgs(40, None, error)
    assert call(api, SLOT_ERROR_MESSAGE, message) is None
    assert b"does not implement" in ctypes.string_at(message.a, message.b)
    assert call(api, SLOT_ERROR_FOR_EACH_PAYLOAD, ErrorArgs(40, None, error)) is None
    assert call(api, SLOT_ERROR_DESTROY, ErrorArgs(24, None, error)) is None
