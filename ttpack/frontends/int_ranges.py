"""Where 64-bit integer arithmetic can leave int32.

ttpack computes the frameworks' int64 as int32 (TTNN has no 64-bit
integers), so an int64 result beyond int32 would wrap silently. While the
StableHLO importer lowers a function, this interval analysis follows the
integer values it can bound (constants, iota, index arithmetic, remainders
by a constant) through data movement and arithmetic, and for each int64
add, subtract, multiply, negate, abs, power, shift left, product reduction
or scatter-add:
- whose result certainly leaves int32 (every operand bounded): an error,
  reported with the op's source location like an unsupported op;
- that multiplies (or shifts) a value it cannot bound by a constant of
  magnitude >= 2: a warning naming the input range beyond which it wraps
  (the build's verification catches the example inputs that do).
Adding to an unbounded value is not reported (any `x + 1` would be), nor is
multiplying it by at most REPORTED_FACTOR (it wraps only beyond +-16M).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

INT32 = (-(2 ** 31), 2 ** 31 - 1)
_WIDE = ("i64", "ui64")
_SAME = {"stablehlo.broadcast_in_dim", "stablehlo.reshape", "stablehlo.transpose", "stablehlo.slice",
         "stablehlo.reverse", "stablehlo.dynamic_slice", "stablehlo.gather", "stablehlo.convert",
         "stablehlo.copy"}
_UNION = {"stablehlo.concatenate", "stablehlo.maximum", "stablehlo.minimum", "stablehlo.pad"}
_CHECKED = {"stablehlo.add", "stablehlo.subtract", "stablehlo.multiply", "stablehlo.negate", "stablehlo.abs",
            "stablehlo.power", "stablehlo.shift_left"}
Interval = tuple  # (lo, hi) of Python ints
REPORTED_FACTOR = 128


def _reduces_by(op_name: str, mop) -> bool:
    body = [o.operation.name for o in mop.regions[0].blocks[0].operations]
    return len(body) == 2 and body[0] == op_name


def _integer(mlir_type) -> str | None:
    from jaxlib.mlir import ir as mlir

    elem = str(mlir.RankedTensorType(mlir_type).element_type)
    return elem if elem.startswith(("i", "ui")) and elem != "i1" else None


@dataclass
class IntRanges:
    known: dict[int, Interval] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def of(self, v) -> Interval | None:
        if v.is_constant:
            data = np.asarray(v.data)
            if data.dtype.kind not in "iu" or data.size == 0:
                return None
            return int(data.min()), int(data.max())
        return self.known.get(v.id)

    def note(self, name: str, mop, inputs, outs, location: str) -> str | None:
        """Records the ranges of an op's integer results; returns an error
        message when an int64 result certainly leaves int32."""
        if len(outs) != 1 or _integer(mop.results[0].type) is None:
            return None
        ranges = [self.of(v) for v in inputs]
        result = self._result(name, mop, ranges)
        if result is not None:
            self.known[outs[0].id] = result
        elem = _integer(mop.results[0].type)
        if elem == "ui64":
            # held as uint32 bits: every uint64 value must be known to fit 32 bits
            if name == "stablehlo.constant":
                result = self.of(outs[0])
            if result is None and name in _CHECKED | {"stablehlo.constant", "stablehlo.convert"}:
                return ("uint64 values that ttpack cannot bound: it holds uint64 as 32 bits (TTNN has no 64-bit "
                        "integers), exact only below 2^32")
            if result is not None and (result[0] < 0 or result[1] >= 2 ** 32):
                return (f"uint64 values in [{result[0]}, {result[1]}] do not fit the 32 bits ttpack holds uint64 in "
                        f"(TTNN has no 64-bit integers)")
            return None
        if name == "stablehlo.reduce" and elem in _WIDE and _reduces_by("stablehlo.multiply", mop):
            return self._product(mop, ranges[0], location)
        if name == "stablehlo.scatter" and elem in _WIDE and _reduces_by("stablehlo.add", mop) and len(ranges) == 3:
            return self._scatter_sum(mop, ranges, outs[0])
        if name not in _CHECKED or elem not in _WIDE:
            return None
        if result is not None and (result[0] < INT32[0] or result[1] > INT32[1]):
            return (f"int64 result in [{result[0]}, {result[1]}] leaves int32, which ttpack computes int64 as "
                    f"(TTNN has no 64-bit integers): compute it in float, or keep the values within int32")
        if result is None and name in ("stablehlo.multiply", "stablehlo.shift_left", "stablehlo.power"):
            bounded = [r for r in ranges if r is not None]
            scale = max((max(abs(r[0]), abs(r[1])) for r in bounded), default=0)
            if name == "stablehlo.shift_left" and bounded:
                scale = 2 ** min(bounded[-1][1], 62)
            if len(bounded) == len(ranges) - 1 and scale > REPORTED_FACTOR:
                limit = INT32[1] // scale
                self.warnings.append(f"{name} at {location}: int64 arithmetic is computed as int32, and this "
                                     f"result wraps for operands beyond +-{limit:,}")
        return None

    def _product(self, mop, r: Interval | None, location: str) -> str | None:
        """An int64 product over reduced dims: refused when it certainly
        leaves int32, warned about when the factors are unbounded."""
        from jaxlib.mlir import ir as mlir

        shape = mlir.RankedTensorType(mop.operands[0].type).shape
        dims = [int(d) for d in mlir.DenseI64ArrayAttr(mop.attributes["dimensions"])]
        count = int(np.prod([shape[d] for d in dims])) if dims else 1
        if r is None:
            if count > 1:
                self.warnings.append(f"stablehlo.reduce at {location}: an int64 product of {count} values is "
                                     f"computed as int32 and wraps once it passes +-2^31")
            return None
        biggest = max(abs(r[0]), abs(r[1]))
        if biggest >= 2 and count > 1 and count * np.log2(biggest) > 31:
            return (f"an int64 product of {count} values up to {biggest} can reach {biggest}^{count}, beyond the "
                    f"int32 ttpack computes int64 as: compute it in float (TTNN has no 64-bit integers)")
        return None

    def _scatter_sum(self, mop, r: list, out) -> str | None:
        """An int64 scatter-add (index_add, scatter_add, .at[].add): each
        element receives at most one update per index tuple, so it ends in
        [x_lo + n min(u_lo, 0), x_hi + n max(u_hi, 0)] for n index tuples;
        refused when that leaves int32."""
        from jaxlib.mlir import ir as mlir
        from jaxlib.mlir.dialects import stablehlo

        x, u = r[0], r[2]
        if x is None or u is None:
            return None
        shape = mlir.RankedTensorType(mop.operands[1].type).shape
        ivd = stablehlo.ScatterDimensionNumbers(mop.attributes["scatter_dimension_numbers"]).index_vector_dim
        n = int(np.prod(shape, dtype=np.int64)) // (max(shape[ivd], 1) if ivd < len(shape) else 1)
        lo, hi = x[0] + n * min(u[0], 0), x[1] + n * max(u[1], 0)
        self.known[out.id] = (lo, hi)
        if lo < INT32[0] or hi > INT32[1]:
            return (f"an int64 scatter-add of {n} updates in [{u[0]}, {u[1]}] into values in [{x[0]}, {x[1]}] can "
                    f"reach [{lo}, {hi}], beyond the int32 ttpack computes int64 as (TTNN has no 64-bit "
                    f"integers): compute it in float, or keep the values within int32")
        return None

    @staticmethod
    def _result(name: str, mop, r: list) -> Interval | None:
        if name == "stablehlo.iota":
            from jaxlib.mlir import ir as mlir

            shape = mlir.RankedTensorType(mop.results[0].type).shape
            dim = mlir.IntegerAttr(mop.attributes["iota_dimension"]).value
            return 0, max(shape[dim] - 1, 0)
        if name == "stablehlo.constant":
            return None  # constants are read from their data (`of`)
        if name == "stablehlo.remainder" and len(r) == 2 and r[1] is not None and (r[1][0] > 0 or r[1][1] < 0):
            c = max(abs(r[1][0]), abs(r[1][1])) - 1  # |x % d| < |d|, whatever x; the sign is x's
            return (0 if r[0] is not None and r[0][0] >= 0 else -c), c
        if name == "stablehlo.and" and len(r) == 2:
            masks = [x for x in r if x is not None and x[0] >= 0]
            if masks:
                return 0, min(x[1] for x in masks)
        if name == "stablehlo.select" and len(r) == 3 and r[1] is not None and r[2] is not None:
            return min(r[1][0], r[2][0]), max(r[1][1], r[2][1])  # whatever the predicate
        if any(x is None for x in r) or not r:
            return None
        if name in _SAME:
            return r[0]
        if name in _UNION:
            return min(x[0] for x in r), max(x[1] for x in r)
        if name == "stablehlo.clamp":
            return max(r[0][0], r[1][0]), min(r[2][1], r[1][1])
        if name == "stablehlo.add":
            return r[0][0] + r[1][0], r[0][1] + r[1][1]
        if name == "stablehlo.subtract":
            return r[0][0] - r[1][1], r[0][1] - r[1][0]
        if name == "stablehlo.multiply":
            products = [a * b for a in r[0] for b in r[1]]
            return min(products), max(products)
        if name == "stablehlo.negate":
            return -r[0][1], -r[0][0]
        if name == "stablehlo.abs":
            lo, hi = r[0]
            return (0 if lo <= 0 <= hi else min(abs(lo), abs(hi))), max(abs(lo), abs(hi))
        if name == "stablehlo.shift_left" and r[1][0] >= 0 and r[1][1] < 63:
            ends = [a << b for a in r[0] for b in r[1]]
            return min(ends), max(ends)
        return None
