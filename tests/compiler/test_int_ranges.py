"""int64 arithmetic that leaves int32 (ttpack computes int64 as int32) is
refused when certain and warned about when it depends on the inputs, with
the op's source location; the build's verification catches what the example
inputs show."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ttpack
import ttpack.runtime as rt
from ttpack.errors import BuildWarning
from ttpack.frontends.stablehlo import UnsupportedOpsError


@pytest.fixture(autouse=True)
def x64():
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", False)


def _hash(ids):
    return (ids * 1_000_003 + 7) % 1009


def test_certain_overflow_is_refused_with_its_location(tmp_path):
    def fn(x):
        return x + jnp.arange(5, dtype=jnp.int64) * 10 ** 9

    with pytest.raises(UnsupportedOpsError) as e:
        ttpack.build(fn, [np.arange(5, dtype=np.int64)], output=tmp_path / "m.ttpack")
    msg = str(e.value)
    assert "stablehlo.multiply at" in msg and "test_int_ranges.py" in msg
    assert "int64 result in [0, 4000000000] leaves int32" in msg
    assert not (tmp_path / "m.ttpack").exists()


def test_possible_overflow_warns_and_verification_catches_the_example_that_wraps(tmp_path):
    small = np.arange(10, dtype=np.int64) * 100
    with pytest.warns(BuildWarning, match=r"stablehlo.multiply at .*test_int_ranges.py.*wraps for operands "
                                          r"beyond \+-2,147"):
        path = ttpack.build(_hash, [small], output=tmp_path / "m.ttpack")
    # within the range the warning names, the archive is right
    np.testing.assert_array_equal(rt.load(path)(small), np.asarray(jax.jit(_hash)(small)))
    large = np.arange(10, dtype=np.int64) * 10_000
    with pytest.warns(BuildWarning), pytest.raises(ttpack.BuildError, match="integers must match exactly"):
        ttpack.build(_hash, [large], output=tmp_path / "n.ttpack")
    assert not (tmp_path / "n.ttpack").exists()


@pytest.mark.parametrize("fn", [
    lambda ids: (ids % 1000) * 1000 + 5,                            # bounded by the remainder
    lambda ids: ids + jnp.arange(ids.shape[-1], dtype=jnp.int64),    # position ids
    lambda ids: ids * 2 + 1,                                        # small factors are not reported
    lambda ids: (jnp.arange(100, dtype=jnp.int64) * 100_000)[None, :] + ids[:, :1] * 0,
], ids=["remainder", "positions", "small-factor", "iota-scale"])
def test_index_arithmetic_that_stays_within_int32_is_silent(tmp_path, rng, fn):
    import warnings

    ids = rng.integers(0, 30000, (2, 100)).astype(np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("error", BuildWarning)
        path = ttpack.build(fn, [ids], output=tmp_path / "m.ttpack")
    np.testing.assert_array_equal(rt.load(path)(ids), np.asarray(jax.jit(fn)(ids)))


def test_uint64_counters_that_fit_32_bits(tmp_path):
    """jax.random's counter arithmetic: uint64 iota, multiply, add, split into 32-bit halves."""
    def fn(x):
        i = jnp.arange(x.shape[0], dtype=jnp.uint64)[:, None] * 8 + jnp.arange(x.shape[1], dtype=jnp.uint64)
        hi, lo = (i >> 32).astype(jnp.uint32), i.astype(jnp.uint32)
        return x + lo.astype(jnp.int32) + hi.astype(jnp.int32)

    x = np.zeros((4, 8), np.int32)
    path = ttpack.build(fn, [x], output=tmp_path / "m.ttpack")
    np.testing.assert_array_equal(rt.load(path)(x), np.asarray(jax.jit(fn)(x)))


def test_uint64_beyond_32_bits_is_refused(tmp_path):
    def fn(x):
        return x + (jnp.arange(4, dtype=jnp.uint64) * 2 ** 40 >> 40).astype(jnp.int32)

    with pytest.raises(UnsupportedOpsError, match="do not fit the 32 bits ttpack holds uint64 in"):
        ttpack.build(fn, [np.zeros(4, np.int32)], output=tmp_path / "m.ttpack")


def test_int64_products(tmp_path):
    ids = np.arange(1, 7, dtype=np.int64).reshape(2, 3)
    with pytest.warns(BuildWarning, match="an int64 product of 3 values"):
        path = ttpack.build(lambda x: jnp.prod(x, axis=1), [ids], output=tmp_path / "p.ttpack")
    np.testing.assert_array_equal(rt.load(path)(ids), [6, 120])

    def big(x):
        return x + jnp.prod(jnp.arange(1, 21, dtype=jnp.int64))  # 20! > 2^31

    with pytest.raises(UnsupportedOpsError, match="an int64 product of 20 values up to 20"):
        ttpack.build(big, [np.zeros(2, np.int64)], output=tmp_path / "q.ttpack")


def test_int64_scatter_add_that_can_leave_int32_is_refused(tmp_path):
    ids = np.array([0, 2, 2, 1, 2], np.int64)

    def fn(x):  # 5 updates of 10^9 may all land on one element (3 of them do)
        return x + jnp.arange(4, dtype=jnp.int64).at[ids].add(jnp.full(5, 10 ** 9, jnp.int64))

    with pytest.raises(UnsupportedOpsError, match=r"int64 scatter-add of 5 updates in \[1000000000, 1000000000\] "
                                                  r"into values in \[0, 3\] can reach \[0, 5000000003\]") as e:
        ttpack.build(fn, [np.zeros(4, np.int64)], output=tmp_path / "m.ttpack")
    assert "test_int_ranges.py" in str(e.value)


def test_int64_scatter_add_within_int32_builds(tmp_path):
    ids = np.array([0, 2, 2, 1, 2], np.int64)
    fn = lambda x: (x % 1000).at[ids].add(jnp.arange(5, dtype=jnp.int64) * 1000)
    x = np.array([5, 123456, 7, 999], np.int64)
    path = ttpack.build(fn, [x], output=tmp_path / "m.ttpack")
    np.testing.assert_array_equal(rt.load(path)(x), np.asarray(jax.jit(fn)(x)))
