"""The format holds several programs; the runtime loads each by name."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

import ttpack.runtime as rt
from ttpack.archive.writer import archive_bytes, write_atomic
from ttpack.compiler import passes
from ttpack.frontends.jax_frontend import lower_jax


def test_two_programs_in_one_archive(tmp_path, rng):
    w = rng.standard_normal((4, 4)).astype(np.float32)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    prefill, _, _ = lower_jax(lambda p, x: jnp.tanh(x @ p), [x], w, name="prefill")
    decode, _, _ = lower_jax(lambda p, x: (x @ p).sum(axis=0), [x[:1]], w, name="decode")
    programs = [passes.run_pipeline(prefill), passes.run_pipeline(decode)]
    path = write_atomic(tmp_path / "two.ttpack", archive_bytes(programs, {"producer": "test"}))
    model = rt.load(path)
    assert model.programs == ["prefill", "decode"]
    np.testing.assert_allclose(model(x), np.tanh(x @ w), rtol=1e-5, atol=1e-6)  # first program
    dec = model.program("decode")
    assert dec.inputs[0].shape == (1, 4)
    np.testing.assert_allclose(dec(x[:1]), (x[:1] @ w).sum(axis=0), rtol=1e-5, atol=1e-6)
