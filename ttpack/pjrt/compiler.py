"""The compiler behind the tt plugin: a framework's program and compile
options in, a ttpack archive out, exactly as `ttpack build` compiles (same
options table, targets, pipeline and errors).

The C plugin calls `make_callback(lib)`'s function for two requests:
- compile: the program JAX or torch_xla hands to PJRT_Client_Compile (a
  StableHLO portable artifact or MLIR text, format "mlir"; or an
  HloModuleProto, format "hlo", which torch_xla sends by default) and a
  serialized CompileOptionsProto whose env_option_overrides carry
  `jax.jit(..., compiler_options={...})`;
- load: a serialized executable, i.e. an archive this module wrote, whose
  metadata ("pjrt") says the framework's element types and program text.
"""

from __future__ import annotations

import ctypes
import os
import warnings

from ..errors import BuildError, BuildWarning

# MLIR element type -> PJRT_Buffer_Type (the frameworks' view of a tensor)
PJRT_TYPES = {"i1": 1, "i8": 2, "i16": 3, "i32": 4, "i64": 5, "ui8": 6, "ui16": 7, "ui32": 8, "ui64": 9,
              "f16": 10, "f32": 11, "f64": 12, "bf16": 13}
# torch_xla names ops by their HLO names ("convert.16") unless asked to record Python frames
TORCH_XLA_LOCATIONS_HINT = ("(torch_xla names the ops by their HLO names; run with XLA_IR_DEBUG=1 XLA_HLO_DEBUG=1 "
                            "to see each one's Python file, line and aten op)")
# PJRT error codes the callback reports
INVALID_ARGUMENT, INTERNAL = 3, 13


# --- CompileOptionsProto: only env_option_overrides is read -------------------------

def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def _fields(data: bytes):
    """(field number, wire type, value) of a protobuf message; length-delimited
    values are bytes, varints ints, fixed64 the 8 raw bytes."""
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        elif wire == 2:
            size, i = _varint(data, i)
            value, i = data[i:i + size], i + size
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        else:
            raise ValueError(f"protobuf wire type {wire} is not supported")
        yield number, wire, value


def _override_value(data: bytes):
    """OptionOverrideProto: string_field 1, bool_field 2, int_field 3, double_field 4."""
    import struct

    for number, _, value in _fields(data):
        if number == 1:
            return value.decode()
        if number == 2:
            return bool(value)
        if number == 3:
            return value - (1 << 64) if value >= 1 << 63 else value
        if number == 4:
            return struct.unpack("<d", value)[0]
    return ""


def compile_options_overrides(proto: bytes) -> dict:
    """The ttpack options in a serialized CompileOptionsProto. JAX puts the
    keys of `jax.jit(f, compiler_options={...})` in env_option_overrides
    (field 7), except `optimization_level`, which it moves to the
    ExecutableBuildOptionsProto (field 3) as its field 24 (0, the default,
    is not serialized). TT-XLA reads the level there too."""
    options = {}
    for number, wire, value in _fields(proto):
        if number == 7 and wire == 2:
            entry = {n: v for n, _, v in _fields(value)}
            options[entry.get(1, b"").decode()] = _override_value(entry.get(2, b""))
        elif number == 3 and wire == 2:
            for build_number, build_wire, build_value in _fields(value):
                if build_number == 24 and build_wire == 0 and build_value:
                    options["optimization_level"] = build_value
    return options


# --- programs -----------------------------------------------------------------------

def _context():
    from jax._src.interpreters import mlir as jax_mlir

    return jax_mlir.make_ir_context()


def _module(fmt: str, code: bytes, context):
    from jaxlib.mlir import ir
    from jaxlib.mlir.dialects import stablehlo as shlo

    if fmt == "hlo":  # torch_xla's default: an HloModuleProto
        from jax._src.lib import _jax

        code = _jax.mlir.hlo_to_stablehlo(code)
    elif fmt != "mlir":
        raise BuildError(f"the tt plugin compiles StableHLO ('mlir') or HLO ('hlo') programs, not {fmt!r}")
    if code.startswith(b"ML\xefR"):
        try:
            return shlo.deserialize_portable_artifact(context, code)
        except Exception:  # plain MLIR bytecode, not a portable artifact
            pass
    return ir.Module.parse(code, context=context)


def _signature(module) -> tuple[list[int], list[int]]:
    """The PJRT element types of @main's parameters and results."""
    from jaxlib.mlir import ir

    from ..frontends.stablehlo import element_type

    for op in module.body.operations:
        if op.operation.name == "func.func" and ir.StringAttr(op.attributes["sym_name"]).value == "main":
            ftype = ir.FunctionType(ir.TypeAttr(op.attributes["function_type"]).value)
            break
    else:
        raise BuildError("the program has no @main function")

    def pjrt(types, what):
        out = []
        for i, t in enumerate(types):
            try:
                name = element_type(t)
            except ValueError:  # not a ranked tensor (a token, a tuple)
                name = str(t)
            if name not in PJRT_TYPES:
                raise BuildError(f"{what} {i} of the program is {t}; the tt device holds tensors of "
                                 f"{', '.join(PJRT_TYPES)}")
            out.append(PJRT_TYPES[name])
        return out

    return pjrt(ftype.inputs, "parameter"), pjrt(ftype.results, "result")


def compile_program(tag: str, fmt: str, code: bytes, options_proto: bytes) -> tuple[bytes, str, list[int], list[int]]:
    """(archive, StableHLO text, parameter types, result types)."""
    from ..archive.writer import archive_bytes
    from ..build_api import archive_info, resolve_target_and_options
    from ..compiler import passes
    from ..compiler.pipeline import pipeline_for
    from ..frontends import stablehlo
    from ..targets import device_target
    from . import custom_compile_options

    options = custom_compile_options() if tag == "torch_xla" else {}
    options.update(compile_options_overrides(options_proto))
    target = str(device_target(options.pop("target", None)))
    chip, opts, given = resolve_target_and_options(target, options)
    context = _context()
    with context:
        module = _module(fmt, code, context)
        parameter_types, result_types = _signature(module)
        try:
            program = stablehlo.import_module(module, "main", [f"input_{i}" for i in range(len(parameter_types))],
                                              [f"output_{i}" for i in range(len(result_types))], {})
        except stablehlo.UnsupportedOpsError as e:
            if tag == "torch_xla" and os.environ.get("XLA_HLO_DEBUG") != "1":
                raise BuildError(f"{e}\n{TORCH_XLA_LOCATIONS_HINT}") from None
            raise
        text = str(module)
    for warning in program.facts.get("warnings", []):
        warnings.warn(warning, BuildWarning, stacklevel=2)
    lowered_counts = program.op_counts()
    program = passes.run_pipeline(program, pipeline_for(chip, opts))
    source = {"framework": tag, "via": "PJRT plugin tt", "format": fmt}
    info = archive_info(source, target, chip, opts, given, {"main": lowered_counts})
    info["pjrt"] = {"parameter_types": parameter_types, "result_types": result_types, "program_text": text}
    return archive_bytes([program], info, target=target), text, parameter_types, result_types


def describe_archive(data: bytes) -> tuple[bytes, str, list[int], list[int]]:
    """A serialized executable back: its archive and what its metadata says."""
    from ..archive.reader import read_archive

    meta = read_archive(data).metadata.get("pjrt")
    if not meta:
        raise BuildError("this archive was not compiled by the tt PJRT plugin (its metadata has no 'pjrt' entry); "
                         "load it with ttpack.runtime instead")
    return data, meta["program_text"], list(meta["parameter_types"]), list(meta["result_types"])


def make_callback(lib):
    """The Python function behind the C plugin's compiler callback. It never
    raises: an exception is reported to the plugin as a PJRT error (ctypes
    would otherwise swallow it and the plugin would read success)."""

    def callback(kind, tag, fmt_ptr, fmt_size, code_ptr, code_size, opts_ptr, opts_size, result):
        try:
            fmt = ctypes.string_at(fmt_ptr, fmt_size).decode()
            code = ctypes.string_at(code_ptr, code_size)
            if kind == 0:
                options = ctypes.string_at(opts_ptr, opts_size) if opts_size else b""
                archive, text, ptypes, rtypes = compile_program((tag or b"").decode(), fmt, code, options)
            else:
                archive, text, ptypes, rtypes = describe_archive(code)
            text_bytes = text.encode()
            params = (ctypes.c_uint32 * max(1, len(ptypes)))(*ptypes)
            results = (ctypes.c_uint32 * max(1, len(rtypes)))(*rtypes)
            if lib.tt_pjrt_result_set(result, archive, len(archive), text_bytes, len(text_bytes), params, len(ptypes),
                                      results, len(rtypes)) != 0:
                lib.tt_pjrt_result_error(result, INTERNAL, b"out of memory storing the compiled program")
        except BuildError as e:
            lib.tt_pjrt_result_error(result, INVALID_ARGUMENT, str(e).encode())
        except BaseException as e:  # noqa: BLE001 - every failure must reach the framework
            lib.tt_pjrt_result_error(result, INTERNAL, f"ttpack's compiler failed: {type(e).__name__}: {e}".encode())

    return callback
