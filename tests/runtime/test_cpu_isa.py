"""The cpu device's GEMM kernels on every instruction-set path this machine
has (TTPACK_CPU_ISA forces one: portable, avx2, avx512) and several thread
counts: linear, conv2d, conv_transpose2d and batched matmul against float64
numpy, at odd sizes that leave partial register tiles, partial column panels
and more than one 256-deep block of k.

Tolerance: |got - exact| <= 4e-6 * sum_k |a_ik b_kj| (+ 1e-30) per element.
The kernels sum each 16 products in float32, then those partial sums in
order (gemm.c), so the rounding error is at most about (16 + K/16) * 2^-24
of the sum of magnitudes: under 2.2e-6 for the K <= 320 used here. A wrong
element (a missed tap, a stale tile) is off by order 1 of that sum.
Results must also be bit-identical for every thread count: the split over
threads never changes an output's order of summation.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ttpack
import ttpack.runtime as rt

ISAS = ("portable", "avx2", "avx512")
THREADS = (1, 2, 3)


def _load(path, isa, threads, monkeypatch):
    monkeypatch.setenv("TTPACK_CPU_ISA", isa)
    try:
        return rt.load(path, num_threads=threads)
    except rt.UnsupportedError as e:
        pytest.skip(str(e))


def _bound(a_abs_b_abs):
    return 4e-6 * a_abs_b_abs + 1e-30


def _check(got, exact, magnitude):
    err = np.abs(got.astype(np.float64) - exact)
    worst = np.max(err / _bound(magnitude))
    assert worst <= 1.0, f"error {np.max(err):.3g} exceeds the bound by {worst:.2f}x"


# (M, K, N): one row (GEMV), partial tiles of 4/6/8 rows, panels of 16/32, K across the 256 block
LINEAR_SHAPES = [(1, 784, 100), (7, 17, 33), (65, 300, 47), (130, 5, 1), (3, 1, 64)]


@pytest.fixture(scope="module")
def linear_archives(tmp_path_factory):
    rng = np.random.default_rng(7)
    out = []
    for i, (m, k, n) in enumerate(LINEAR_SHAPES):
        params = {"w": rng.standard_normal((k, n)).astype(np.float32),
                  "b": rng.standard_normal(n).astype(np.float32)}
        x = rng.standard_normal((m, k)).astype(np.float32)
        fn = lambda p, x: jax.nn.relu(x @ p["w"] + p["b"])
        path = ttpack.build(fn, [x], params=params, output=tmp_path_factory.mktemp("lin") / f"l{i}.ttpack")
        exact = np.maximum(x.astype(np.float64) @ params["w"] + params["b"], 0)
        mag = np.abs(x.astype(np.float64)) @ np.abs(params["w"]) + np.abs(params["b"])
        out.append((path, x, exact, mag))
    return out


@pytest.mark.parametrize("isa", ISAS)
def test_linear_on_each_isa(linear_archives, isa, monkeypatch):
    for path, x, exact, mag in linear_archives:
        results = []
        for threads in THREADS:
            got = _load(path, isa, threads, monkeypatch)(x)
            _check(got, exact, mag)
            results.append(got)
        for r in results[1:]:
            np.testing.assert_array_equal(r, results[0])  # thread count never changes a result


def _conv_ref(x, w, stride, padding, dilation, groups):
    """float64 conv2d NHWC x HWIO, and the same over |x|, |w| (the bound's magnitude)."""
    def run(x, w):
        return np.asarray(jax.lax.conv_general_dilated(
            jnp.asarray(x, jnp.float64), jnp.asarray(w, jnp.float64), stride, padding, rhs_dilation=dilation,
            feature_group_count=groups, dimension_numbers=("NHWC", "HWIO", "NHWC"),
            precision=jax.lax.Precision.HIGHEST))
    with jax.enable_x64(True):
        return run(x, w), run(np.abs(x), np.abs(w))


# name, x shape (NHWC), w shape (HWIO), stride, padding, dilation, groups
CONVS = [
    ("stem 7x7 C=3 stride 2", (1, 23, 21, 3), (7, 7, 3, 10), (2, 2), ((3, 3), (3, 3)), (1, 1), 1),
    ("3x3 pad 1, 2 images", (2, 9, 9, 20), (3, 3, 20, 33), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
    ("1x1 stride 2", (1, 8, 8, 40), (1, 1, 40, 17), (2, 2), ((0, 0), (0, 0)), (1, 1), 1),
    ("1x1 padded", (1, 4, 5, 6), (1, 1, 6, 7), (1, 1), ((1, 0), (0, 2)), (1, 1), 1),
    ("groups 2 dilated", (1, 10, 10, 8), (3, 3, 4, 6), (1, 1), ((2, 2), (2, 2)), (2, 2), 2),
    ("deep k 3x3x64", (1, 6, 6, 64), (3, 3, 64, 35), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
]


@pytest.fixture(scope="module")
def conv_archives(tmp_path_factory):
    rng = np.random.default_rng(8)
    out = []
    for i, (name, xs, ws, stride, padding, dilation, groups) in enumerate(CONVS):
        x = rng.standard_normal(xs).astype(np.float32)
        p = {"w": rng.standard_normal(ws).astype(np.float32)}
        fn = lambda p, x, s=stride, pd=padding, d=dilation, g=groups: jax.lax.conv_general_dilated(
            x, p["w"], s, pd, rhs_dilation=d, feature_group_count=g, dimension_numbers=("NHWC", "HWIO", "NHWC"))
        path = ttpack.build(fn, [x], params=p, output=tmp_path_factory.mktemp("conv") / f"c{i}.ttpack")
        exact, mag = _conv_ref(x, p["w"], stride, padding, dilation, groups)
        out.append((name, path, x, exact, mag))
    return out


@pytest.mark.parametrize("isa", ISAS)
def test_conv2d_on_each_isa(conv_archives, isa, monkeypatch):
    for name, path, x, exact, mag in conv_archives:
        results = []
        for threads in THREADS:
            got = _load(path, isa, threads, monkeypatch)(x)
            assert got.shape == exact.shape, name
            _check(got, exact, mag)
            results.append(got)
        for r in results[1:]:
            np.testing.assert_array_equal(r, results[0], err_msg=name)


@pytest.fixture(scope="module")
def attention_archive(tmp_path_factory):
    """Batched matmuls as attention computes them: q @ k^T and p @ v over
    (batch, heads), with a right operand broadcast over batch."""
    rng = np.random.default_rng(9)
    q = rng.standard_normal((2, 3, 37, 20)).astype(np.float32)
    k = rng.standard_normal((2, 3, 37, 20)).astype(np.float32)
    v = rng.standard_normal((1, 3, 37, 45)).astype(np.float32)
    fn = lambda q, k, v: (jnp.matmul(q, jnp.swapaxes(k, -1, -2)), jnp.matmul(q @ jnp.swapaxes(k, -1, -2), v))
    path = ttpack.build(fn, [q, k, v], output=tmp_path_factory.mktemp("attn") / "a.ttpack")
    q64, k64, v64 = (t.astype(np.float64) for t in (q, k, v))
    s = q64 @ np.swapaxes(k64, -1, -2)
    s_mag = np.abs(q64) @ np.abs(np.swapaxes(k64, -1, -2))
    return path, (q, k, v), [(s, s_mag), (s @ v64, s_mag @ np.abs(v64))]


@pytest.mark.parametrize("isa", ISAS)
def test_batched_matmul_on_each_isa(attention_archive, isa, monkeypatch):
    path, inputs, refs = attention_archive
    results = []
    for threads in THREADS:
        got = _load(path, isa, threads, monkeypatch)(*inputs)
        for g, (exact, mag) in zip(got, refs):
            # the second product reads the first's float32 rounding: allow it twice
            _check(g, exact, 2 * mag)
        results.append(got)
    for r in results[1:]:
        for a, b in zip(r, results[0]):
            np.testing.assert_array_equal(a, b)


@pytest.fixture(scope="module")
def conv_transpose_archive(tmp_path_factory):
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 5, 6, 9)).astype(np.float32)
    p = {"w": rng.standard_normal((3, 3, 9, 19)).astype(np.float32)}
    fn = lambda p, x: jax.lax.conv_transpose(x, p["w"], (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    path = ttpack.build(fn, [x], params=p, output=tmp_path_factory.mktemp("convt") / "t.ttpack")
    with jax.enable_x64(True):
        run = lambda x, w: np.asarray(jax.lax.conv_transpose(
            jnp.asarray(x, jnp.float64), jnp.asarray(w, jnp.float64), (2, 2), "SAME",
            dimension_numbers=("NHWC", "HWIO", "NHWC"), precision=jax.lax.Precision.HIGHEST))
        exact, mag = run(x, p["w"]), run(np.abs(x), np.abs(p["w"]))
    return path, x, exact, mag


@pytest.mark.parametrize("isa", ISAS)
def test_conv_transpose2d_on_each_isa(conv_transpose_archive, isa, monkeypatch):
    path, x, exact, mag = conv_transpose_archive
    results = [_load(path, isa, t, monkeypatch)(x) for t in THREADS]
    for got in results:
        _check(got, exact, mag)
        np.testing.assert_array_equal(got, results[0])


def test_unknown_isa_is_refused_plainly(linear_archives, monkeypatch):
    monkeypatch.setenv("TTPACK_CPU_ISA", "sse9")
    with pytest.raises(rt.TTPackError, match="TTPACK_CPU_ISA=sse9.*portable, avx2 or avx512"):
        rt.load(linear_archives[0][0])


def test_num_threads_out_of_range_is_refused_plainly(linear_archives):
    with pytest.raises(rt.TTPackError, match="num_threads=-2"):
        rt.load(linear_archives[0][0], num_threads=-2)


# ---- row kernels (isa/rows_generic.h): gelu and softmax without libm ------------------------------

@pytest.fixture(scope="module")
def gelu_archive(tmp_path_factory):
    grid = np.linspace(-30, 30, 60001).astype(np.float32)
    special = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e-30], np.float32)
    x = np.concatenate([grid, special])
    path = ttpack.build(lambda x: jax.nn.gelu(x, approximate=False), [x],
                        output=tmp_path_factory.mktemp("gelu") / "g.ttpack")
    exact = np.array([0.5 * v * math.erfc(-v / math.sqrt(2)) if np.isfinite(v) else np.nan
                      for v in x.astype(np.float64)])
    exact[np.isposinf(x)] = np.inf
    return path, x, exact


@pytest.mark.parametrize("isa", ISAS)
def test_gelu_polynomial_error_bound(gelu_archive, isa, monkeypatch):
    """The stated bound: relative error <= 5e-7 where |gelu(x)| >= 1e-30,
    absolute <= 1e-30 below (the far negative tail); NaN and the infinities
    as the reference (gelu(-inf) is -inf * 0 = NaN)."""
    path, x, exact = gelu_archive
    got = _load(path, isa, 2, monkeypatch)(x).astype(np.float64)
    assert np.array_equal(np.isnan(got), np.isnan(exact))
    fin = np.isfinite(exact)
    assert np.array_equal(got[~fin & ~np.isnan(exact)], exact[~fin & ~np.isnan(exact)])
    err = np.abs(got[fin] - exact[fin])
    big = np.abs(exact[fin]) >= 1e-30
    ok = np.where(big, err <= 5e-7 * np.abs(exact[fin]), err <= 1e-30)
    assert ok.all(), x[fin][~ok][:5]


@pytest.mark.parametrize("isa", ISAS)
def test_softmax_rows_error_bound(isa, tmp_path, monkeypatch):
    """Rows of odd lengths (partial lanes), spread of +-30 (exp over a wide
    range): relative error <= 5e-7 of each probability against float64, and
    a NaN makes its row NaN."""
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((37, 1001)) * 10).astype(np.float32)
    x[5, 17] = np.nan
    path = ttpack.build(lambda x: jax.nn.softmax(x, axis=-1), [x], output=tmp_path / "s.ttpack")
    got = _load(path, isa, 2, monkeypatch)(x).astype(np.float64)
    x64 = x.astype(np.float64)
    e = np.exp(x64 - x64.max(axis=1, keepdims=True))
    exact = e / e.sum(axis=1, keepdims=True)
    assert np.isnan(got[5]).all() and not np.isnan(np.delete(got, 5, axis=0)).any()
    rows = np.arange(37) != 5
    np.testing.assert_allclose(got[rows], exact[rows], rtol=5e-7, atol=0)
