"""float16 is a logical type like bfloat16: programs take and return float16
tensors, the CPU device computes in float32 and rounds every value a
float16 tensor holds to float16 (nearest even, as IEEE), and on a chip
(TTNN has no float16) the device holds float16 values exactly in float32.

Tolerances: float16 has 11 significant bits (a rounding is <= 2^-11 relative,
~4.9e-4). The frameworks round at other points than ttpack does (XLA's CPU
backend computes some float16 ops in float32 and rounds once; PyTorch
accumulates matmuls in float32), so results may differ by a few float16
roundings: HALF = rtol 1e-2, atol 2e-3 on values of magnitude ~1.
Conversions between float32 and float16 are compared bit for bit.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ttpack
import ttpack.runtime as rt
from conftest import jax_reference

HALF = dict(rtol=1e-2, atol=2e-3)
F16 = np.float16


def _build(tmp_path, fn, inputs, **kw):
    path = ttpack.build(fn, inputs, output=tmp_path / "m.ttpack", **kw)
    return rt.load(path)


def _edge_floats() -> np.ndarray:
    """float32 values around every float16 rounding case: ties between
    neighbours (even and odd), the subnormal range and its underflow, the
    largest finite value and overflow, signed zeros, infinities and NaN."""
    h = np.arange(0, 0x7C00, 7, dtype=np.uint16).view(F16).astype(np.float32)  # every 7th finite float16
    up = np.nextafter(h, np.float32(np.inf))
    mid = (h[:-1].astype(np.float64) + h[1:]) / 2  # exact ties (float16 neighbours are exact in float32)
    special = np.array([0.0, -0.0, 65504.0, 65519.996, 65520.0, 1e6, 2.0 ** -24, 2.0 ** -25, 2.0 ** -25 * 1.0001,
                        2.0 ** -26, 1e-10, np.inf, -np.inf, np.nan], np.float32)
    x = np.concatenate([h, up, mid.astype(np.float32), special])
    return np.concatenate([x, -x]).astype(np.float32)


def test_float32_to_float16_rounds_as_ieee(tmp_path):
    x = _edge_floats()
    model = _build(tmp_path, lambda v: v.astype(jnp.float16), [x])
    with np.errstate(over="ignore"):  # 1e6 and beyond overflow to inf, as intended
        want = x.astype(F16)
    got = model(x)
    assert got.dtype == F16
    same = (got.view(np.uint16) == want.view(np.uint16)) | (np.isnan(got) & np.isnan(want))
    assert same.all(), list(zip(x[~same][:5], got[~same][:5], want[~same][:5]))


def test_float16_to_float32_is_exact(tmp_path):
    h = np.arange(0, 0x10000, dtype=np.uint32).astype(np.uint16).view(F16)  # every float16 bit pattern
    model = _build(tmp_path, lambda v: v.astype(jnp.float32) * 1.0, [h])
    got, want = model(h), h.astype(np.float32)
    np.testing.assert_array_equal(got[~np.isnan(want)], want[~np.isnan(want)])
    assert np.isnan(got[np.isnan(want)]).all()


def test_float16_program_matches_jax(tmp_path, rng):
    def fn(x, w, b):
        h = jnp.tanh(x @ w + b)
        return jax.nn.softmax(h * 3.0, axis=-1), jnp.sum(h, axis=0), jnp.max(x, axis=1)

    x = rng.standard_normal((6, 16)).astype(F16)
    w = (rng.standard_normal((16, 8)) / 4).astype(F16)
    b = rng.standard_normal(8).astype(F16)
    model = _build(tmp_path, fn, [x, w, b])
    for got, want in zip(model(x, w, b), jax_reference(fn, [x, w, b])):
        assert got.dtype == F16 == want.dtype
        np.testing.assert_allclose(got.astype(np.float32), want.astype(np.float32), **HALF)


def test_values_are_float16_after_every_op(tmp_path):
    # 1 + 2^-12 is not a float16: the sum rounds to 1 before the subtraction
    fn = lambda x: (x + F16(2.0 ** -12)) - x
    x = np.ones(4, F16)
    got = _build(tmp_path, fn, [x])(x)
    np.testing.assert_array_equal(got, np.zeros(4, F16))
    np.testing.assert_array_equal(got, np.asarray(jax.jit(fn)(x)))


def test_float16_inside_a_loop(tmp_path, rng):
    fn = lambda x: jax.lax.fori_loop(0, 6, lambda i, c: jnp.tanh(c * F16(1.5)) + F16(0.25), x)
    x = rng.standard_normal((3, 5)).astype(F16)
    got = _build(tmp_path, fn, [x])(x)
    np.testing.assert_allclose(got.astype(np.float32), np.asarray(jax.jit(fn)(x), np.float32), **HALF)


def test_float16_builds_for_a_chip(tmp_path, rng):
    fn = lambda x, w: jax.nn.relu(x @ w)
    x, w = rng.standard_normal((32, 64)).astype(F16), (rng.standard_normal((64, 32)) / 8).astype(F16)
    model = _build(tmp_path, fn, [x, w], target="n150")
    got = model(x, w)
    assert got.dtype == F16
    want = np.asarray(jax.jit(fn)(x, w), np.float32)
    # the chip computes in bfloat16 by default (HiFi/bf16 activations): bfloat16's tolerance
    np.testing.assert_allclose(got.astype(np.float32), want, rtol=5e-2, atol=5e-2)


def test_torch_half_module(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("torch_xla")

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.GELU(), torch.nn.LayerNorm(32),
                                torch.nn.Linear(32, 4)).eval().half()
    x = torch.randn(3, 16, generator=torch.Generator().manual_seed(1)).half()
    archive = _build(tmp_path, model, [x])
    got = archive(x.numpy())
    with torch.no_grad():
        want = model(x).float().numpy()
    assert got.dtype == F16
    np.testing.assert_allclose(got.astype(np.float32), want, **HALF)
