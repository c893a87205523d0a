"""Compile options: one table, parsed once into a typed CompileOptions.

Keys are ttpack's own, TT-XLA's current names (`optimization_level`,
`experimental_weight_dtype`, `math_fidelity`, `fp32_dest_acc_en`,
`enable_const_eval`) and the older names Tenstorrent's tutorials still pass
(`enable_optimizer`, `enable_memory_layout_analysis`, `enable_l1_interleaved`,
`enable_fusing_conv2d_with_multiply_pattern`). Values may be what the
tutorials pass ("true"/"false" strings) or real booleans and ints.

What each option does is decided in one place, `resolve`, and read by the
pipeline (compiler/pipeline.py) and the storage/placement passes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

from ..errors import BuildError
from ..targets import Target

_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


@dataclass(frozen=True)
class OptionDef:
    name: str
    kind: str                 # "bool", "int" or "choice"
    choices: tuple = ()       # allowed values for "int" and "choice"
    chip_only: bool = False   # meaningful on Tenstorrent targets only
    doc: str = ""

    def allowed(self) -> str:
        if self.kind == "bool":
            return "true/false"
        return "/".join(map(str, self.choices))

    def parse(self, value: Any):
        text = str(value).strip().lower() if not isinstance(value, bool) else None
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            if text in _TRUE or text in _FALSE:
                return text in _TRUE
        elif self.kind == "int":
            if not isinstance(value, bool):
                try:
                    number = int(text)
                except ValueError:
                    number = None
                if number in self.choices:
                    return number
        elif text in self.choices:
            return text
        raise BuildError(f"compile option {self.name}={value!r} is not valid; allowed: {self.allowed()}")


OPTIONS: dict[str, OptionDef] = {o.name: o for o in [
    OptionDef("fold_constants", "bool", doc="evaluate weight-only subgraphs at build time"),
    OptionDef("simplify", "bool", doc="remove no-op data movement, merge reshapes and permutes"),
    OptionDef("fuse", "bool", doc="fuse into TTNN ops: linear, conv2d+bias+activation, softmax, layer_norm, gelu"),
    OptionDef("enable_const_eval", "bool", doc="TT-XLA's name for fold_constants"),
    OptionDef("optimization_level", "int", (0, 1, 2), True,
              "TT-XLA: 0 all tensors in DRAM; 1 optimizer on (conv2d x multiply fusion); "
              "2 also memory-layout analysis (activations in L1)"),
    OptionDef("enable_optimizer", "bool", chip_only=True, doc="tutorial name: optimization_level >= 1"),
    OptionDef("enable_memory_layout_analysis", "bool", chip_only=True,
              doc="tutorial name: place activations in L1, sharded where they divide over the grid"),
    OptionDef("enable_l1_interleaved", "bool", chip_only=True,
              doc="tutorial name: place activations in L1, interleaved over the grid"),
    OptionDef("enable_fusing_conv2d_with_multiply_pattern", "bool",
              doc="fold a per-channel multiply after conv2d into its weights"),
    OptionDef("experimental_enable_fusing_conv2d_with_multiply_pattern", "bool",
              doc="TT-XLA's name for enable_fusing_conv2d_with_multiply_pattern"),
    OptionDef("experimental_weight_dtype", "choice", ("", "bfp_bf8", "bfp_bf4"), True,
              "store matmul/linear weights as bfloat8_b (bfp_bf8) or bfloat4_b (bfp_bf4)"),
    OptionDef("math_fidelity", "choice", ("lofi", "hifi2", "hifi3", "hifi4", "ttnn_default"), True,
              "multiplier passes of matmul/linear/conv2d; ttnn_default is modelled as hifi4"),
    OptionDef("fp32_dest_acc_en", "bool", chip_only=True,
              doc="accumulate matmul/linear/conv2d in float32 (false: through a bfloat16 register)"),
]}

# Keys that say the same thing under two names; giving both with different
# values is an error.
SYNONYMS = {"enable_const_eval": "fold_constants",
            "experimental_enable_fusing_conv2d_with_multiply_pattern": "enable_fusing_conv2d_with_multiply_pattern"}


@dataclass(frozen=True)
class CompileOptions:
    """What the pipeline acts on, after defaults and synonyms."""
    fold_constants: bool = True
    simplify: bool = True
    fuse: bool = True
    optimization_level: int = 0
    conv2d_multiply_fusion: bool = False
    l1_activations: str = "none"        # "none", "interleaved" or "sharded"
    weight_dtype: str | None = None     # None: weights keep the activations' storage type
    math_fidelity: str = "hifi4"
    fp32_dest_acc_en: bool = True

    def as_dict(self) -> dict:
        return asdict(self)


def unknown_key_message(keys) -> str:
    known = ", ".join(f"{o.name} ({o.allowed()})" for o in OPTIONS.values())
    return f"unknown compile option(s) {sorted(keys)}; known: {known}"


def resolve(options: Mapping[str, Any] | None, target: Target) -> tuple[CompileOptions, dict]:
    """Parses user options for a target. Returns the typed options and the
    user's options as parsed (for the archive's metadata)."""
    options = dict(options or {})
    unknown = set(options) - set(OPTIONS)
    if unknown:
        raise BuildError(unknown_key_message(unknown))
    given = {k: OPTIONS[k].parse(v) for k, v in options.items()}
    for alias, canonical in SYNONYMS.items():
        if alias in given:
            if canonical in given and given[canonical] != given[alias]:
                raise BuildError(f"compile options {alias}={given[alias]} and {canonical}={given[canonical]} "
                                 f"contradict each other (they are the same option)")
            given[canonical] = given.pop(alias)
    if not target.is_chip:
        chip = sorted(k for k in given if OPTIONS[k].chip_only)
        if chip:
            raise BuildError(f"compile option(s) {chip} apply to Tenstorrent targets only "
                             f"(n150, n300, p150); target '{target.name}' computes in float32 on the host")
    level = given.get("optimization_level", 0)
    if given.get("enable_optimizer"):
        level = max(level, 1)
    l1 = "none"
    if level >= 2 or given.get("enable_memory_layout_analysis"):
        l1 = "sharded"
    elif given.get("enable_l1_interleaved"):
        l1 = "interleaved"
    weight = {"": None, "bfp_bf8": "bfloat8_b", "bfp_bf4": "bfloat4_b"}[given.get("experimental_weight_dtype", "")]
    fidelity = given.get("math_fidelity", "hifi4")
    resolved = CompileOptions(
        fold_constants=given.get("fold_constants", True),
        simplify=given.get("simplify", True),
        fuse=given.get("fuse", True),
        optimization_level=level,
        conv2d_multiply_fusion=given.get("enable_fusing_conv2d_with_multiply_pattern", level >= 1),
        l1_activations=l1,
        weight_dtype=weight,
        math_fidelity="hifi4" if fidelity == "ttnn_default" else fidelity,
        fp32_dest_acc_en=given.get("fp32_dest_acc_en", True),
    )
    return resolved, given
