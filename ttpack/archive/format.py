"""The archive's fixed layout, shared by the writer and the Python reader.

    offset 0    header (80 bytes, little-endian):
                  magic "TTPACK\\0\\x1a", u16 format major, u16 format minor,
                  u32 header size,
                  u64 program offset, u64 program size, u64 program XXH64,
                  u64 metadata offset, u64 metadata size, u64 metadata XXH64,
                  u64 reserved (0), u64 XXH64 of header bytes [0, 72)
    then        program section: a flatbuffer (ttpack.fbs, identifier "TTPK")
    then        metadata section: msgpack (producer, source, signatures, weights)
    then        segments, each starting on a SEGMENT_ALIGNMENT boundary; weights
                inside a segment start on WEIGHT_ALIGNMENT boundaries.

runtime_c/src/model.h states the same layout for the C reader. A reader
accepts any minor of its own major; a change older readers would misread
bumps the major.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import xxhash

MAGIC = b"TTPACK\x00\x1a"
FORMAT_MAJOR = 2
FORMAT_MINOR = 1  # 2.1: Program.regions (control flow)
HEADER_SIZE = 80
SEGMENT_ALIGNMENT = 4096
WEIGHT_ALIGNMENT = 64
FILE_IDENTIFIER = b"TTPK"

_HEADER = struct.Struct("<8sHHIQQQQQQQ")  # everything but the trailing header hash
assert _HEADER.size == 72


def xxh64(data) -> int:
    return xxhash.xxh64_intdigest(data)


def align(n: int, alignment: int) -> int:
    return (n + alignment - 1) // alignment * alignment


@dataclass(frozen=True)
class Header:
    major: int
    minor: int
    program_offset: int
    program_size: int
    program_hash: int
    metadata_offset: int
    metadata_size: int
    metadata_hash: int

    def pack(self) -> bytes:
        head = _HEADER.pack(MAGIC, self.major, self.minor, HEADER_SIZE,
                            self.program_offset, self.program_size, self.program_hash,
                            self.metadata_offset, self.metadata_size, self.metadata_hash, 0)
        return head + struct.pack("<Q", xxh64(head))


class ArchiveFormatError(ValueError):
    """The bytes are not a valid archive (message says why)."""


def unpack_header(data: bytes) -> Header:
    if len(data) < 8 or data[:8] != MAGIC:
        raise ArchiveFormatError("not a ttpack archive (bad magic)")
    if len(data) < 12:
        raise ArchiveFormatError("archive truncated inside its header")
    major, minor = struct.unpack_from("<HH", data, 8)
    if major != FORMAT_MAJOR:
        raise ArchiveFormatError(
            f"archive format {major}.{minor} is not readable by this ttpack, which reads format "
            f"{FORMAT_MAJOR}.x; {'upgrade ttpack' if major > FORMAT_MAJOR else 'rebuild the archive'}")
    if len(data) < HEADER_SIZE:
        raise ArchiveFormatError("archive truncated inside its header")
    fields = _HEADER.unpack_from(data, 0)
    if fields[3] != HEADER_SIZE:
        raise ArchiveFormatError(f"header size {fields[3]}, expected {HEADER_SIZE}")
    if xxh64(data[:72]) != struct.unpack_from("<Q", data, 72)[0]:
        raise ArchiveFormatError("header checksum mismatch: the archive is corrupted")
    return Header(major, minor, *fields[4:10])
