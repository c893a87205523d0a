"""Build targets: the CPU and Tenstorrent chips, each described once.

A target says what a compiled program may assume about the device: which
element types and layouts it runs, how much L1 and DRAM it has, and how fast
it computes and moves bytes (for the memory plan and the roofline estimate).
Nothing here talks to a chip; the descriptors come from Tenstorrent's
published figures (sources per field below), as TT-XLA's compile-only mode
(`TT_COMPILE_ONLY_SYSTEM_DESC`) compiles against a saved system descriptor.

Figures:
- compute grid, L1 per core, DRAM channels and bank sizes: tt-mlir's default
  system descriptors (lib/Dialect/TTCore/IR/TTCoreOpsTypes.cpp), bank sizes as
  reported in tt-xla#4943 and #4040;
- clocks, DRAM size and bandwidth: docs.tenstorrent.com board specifications;
- matmul rate: 4096 FLOP per core per cycle at LoFi, throughput divided by
  the number of fidelity phases (tt-metal tech_reports/GEMM_FLOPS); eltwise
  128 and reduce 512 FLOP per core per cycle (same report, Wormhole LoFi).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# Multiplier passes per math fidelity (tt-metal matrix_engine.md): LoFi uses
# the operands' most significant bits only, HiFi4 all four bit slices.
FIDELITY_PHASES = {"lofi": 1, "hifi2": 2, "hifi3": 3, "hifi4": 4}
MATMUL_FLOP_PER_CYCLE = 4096   # per Tensix core at LoFi: 8x16 @ 16x16 per cycle
ELTWISE_FLOP_PER_CYCLE = 128   # per core (SFPU/FPU eltwise)
REDUCE_FLOP_PER_CYCLE = 512

# Part of each core's L1 that firmware, kernel binaries and circular buffers
# take before any tensor is placed. Tenstorrent publishes no single figure (it
# depends on the ops' kernels); ttpack reserves this fraction so that an L1
# plan that "fits" leaves the op kernels room. An assumption, stated as one.
L1_RESERVED_FRACTION = 0.25

CHIP_DTYPES = ("float32", "bfloat16", "bfloat8_b", "bfloat4_b", "int32", "uint32", "uint16", "uint8")


@dataclass(frozen=True)
class Target:
    name: str
    kind: str                    # "cpu" or "chip"
    description: str
    arch: str = ""               # "wormhole_b0", "blackhole"
    num_chips: int = 1           # on the board; a ttpack program runs on one chip
    grid: tuple[int, int] = (0, 0)    # compute grid (x, y) used by TTNN
    l1_bytes_per_core: int = 0
    dram_bytes: int = 0          # per chip
    dram_channels: int = 0
    dram_bank_bytes: int = 0     # usable bytes per channel
    dram_gbps: float = 0.0       # per chip, GB/s
    clock_ghz: float = 0.0
    tile: tuple[int, int] = (32, 32)
    dtypes: tuple[str, ...] = ()  # storage element types the device computes on
    sources: tuple[str, ...] = field(default=())

    @property
    def is_chip(self) -> bool:
        return self.kind == "chip"

    @property
    def cores(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def l1_usable_bytes_per_core(self) -> int:
        return int(self.l1_bytes_per_core * (1 - L1_RESERVED_FRACTION))

    @property
    def dram_usable_bytes(self) -> int:
        return self.dram_channels * self.dram_bank_bytes

    def matmul_tflops(self, fidelity: str) -> float:
        """Peak matmul rate of the compute grid at a math fidelity."""
        return self.cores * MATMUL_FLOP_PER_CYCLE * self.clock_ghz * 1e9 / FIDELITY_PHASES[fidelity] / 1e12

    def eltwise_tflops(self) -> float:
        return self.cores * ELTWISE_FLOP_PER_CYCLE * self.clock_ghz * 1e9 / 1e12

    def descriptor(self) -> dict:
        """Everything about the target, as stored in archive metadata and printed by `ttpack targets --json`."""
        d = asdict(self)
        d["grid"], d["tile"] = list(self.grid), list(self.tile)
        d["dtypes"], d["sources"] = list(self.dtypes), list(self.sources)
        if self.is_chip:
            d["cores"] = self.cores
            d["l1_usable_bytes_per_core"] = self.l1_usable_bytes_per_core
            d["l1_reserved_fraction"] = L1_RESERVED_FRACTION
            d["dram_usable_bytes"] = self.dram_usable_bytes
            d["peak_matmul_tflops"] = {f: round(self.matmul_tflops(f), 1) for f in FIDELITY_PHASES}
            d["peak_eltwise_tflops"] = round(self.eltwise_tflops(), 2)
        return d


_WORMHOLE = dict(arch="wormhole_b0", grid=(8, 8), l1_bytes_per_core=1_499_136, dram_channels=12,
                 dram_bank_bytes=1_071_821_792, dram_bytes=12 * 2**30, dram_gbps=288.0, clock_ghz=1.0,
                 dtypes=CHIP_DTYPES)
_SOURCES = ("tt-mlir TTCoreOpsTypes.cpp default system descriptors", "docs.tenstorrent.com specifications",
            "tt-metal tech_reports/GEMM_FLOPS.md")

TARGETS: dict[str, Target] = {t.name: t for t in [
    Target("cpu", "cpu", "the host CPU: float32, bfloat16, float16, int32 and bool tensors in row-major host memory",
           dtypes=("float32", "bfloat16", "int32", "bool")),
    Target("n150", "chip", "Tenstorrent Wormhole n150: one Wormhole chip", sources=_SOURCES, **_WORMHOLE),
    Target("n300", "chip", "Tenstorrent Wormhole n300: two Wormhole chips; a program runs on one",
           num_chips=2, sources=_SOURCES, **_WORMHOLE),
    Target("p150", "chip", "Tenstorrent Blackhole p150: one Blackhole chip", arch="blackhole",
           grid=(13, 10), l1_bytes_per_core=1_572_864, dram_channels=8, dram_bank_bytes=4_273_390_016,
           dram_bytes=8 * 4_278_190_080, dram_gbps=512.0, clock_ghz=1.35, dtypes=CHIP_DTYPES, sources=_SOURCES),
]}


# The chip that framework integrations (the PJRT plugin, the dynamo backend
# "tt", serialize_compiled_artifacts_to_disk) compile for when the code does
# not say: TT-XLA's tutorials run on an n150. TTPACK_TARGET overrides it.
DEFAULT_DEVICE_TARGET = "n150"
TARGET_ENV = "TTPACK_TARGET"


def device_target(explicit: str | None = None) -> str:
    """The target name a framework integration compiles for: the explicit
    choice, else $TTPACK_TARGET, else n150 (checked by get_target later)."""
    import os

    return explicit or os.environ.get(TARGET_ENV) or DEFAULT_DEVICE_TARGET


class TargetError(ValueError):
    """An unknown target name."""


def get_target(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise TargetError(f"unknown target {name!r}; choose one of {', '.join(TARGETS)} "
                          f"(`ttpack targets` lists them)") from None
