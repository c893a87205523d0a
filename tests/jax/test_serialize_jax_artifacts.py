"""serialize_compiled_artifacts_to_disk (ttpack.jax): the tutorial's call
writes the StableHLO, ttpack's TTNN-level program and an archive that
ttpack.runtime runs like JAX.

Tolerance: the default target n150 stores activations as bfloat16; sin·cos
of ones through bfloat16 is within 1e-2 of float32 (two roundings of
values below 1, each at most 2^-9 relative)."""

from __future__ import annotations

import re

import msgpack
import numpy as np
import pytest

import ttpack
import ttpack.runtime as rt
from ttpack.compiler.options import unknown_key_message
from ttpack.jax import serialize_compiled_artifacts_to_disk


@pytest.fixture(autouse=True)
def no_target_env(monkeypatch):
    monkeypatch.delenv("TTPACK_TARGET", raising=False)


def model(x):
    import jax.numpy as jnp

    return jnp.sin(x) * jnp.cos(x)


def test_tutorial_call_writes_ir_and_an_archive_that_matches_jax(tmp_path, monkeypatch):
    import jax
    import jax.numpy as jnp

    monkeypatch.chdir(tmp_path)
    input_data = jnp.ones((10,))
    written = serialize_compiled_artifacts_to_disk(model, input_data, output_prefix="output/model")
    assert [p.name for p in written] == ["model.stablehlo.mlir", "model.ttnn.txt", "model.ttpack"]
    assert sorted(p.name for p in (tmp_path / "output").iterdir()) == sorted(p.name for p in written)
    assert "stablehlo.sine" in (tmp_path / "output/model.stablehlo.mlir").read_text()
    assert "sin" in (tmp_path / "output/model.ttnn.txt").read_text()

    archive = rt.load(tmp_path / "output/model.ttpack")
    assert archive.target == "n150" and archive.emulated
    x = np.linspace(-3, 3, 10).astype(np.float32)
    np.testing.assert_allclose(archive(x), np.asarray(jax.jit(model)(x)), atol=1e-2)


def test_options_and_target_reach_the_archive(tmp_path):
    import jax

    w = np.random.default_rng(0).standard_normal((16, 8)).astype(np.float32)

    def mlp(x):
        return jax.nn.relu(x @ w)

    x = np.random.default_rng(1).standard_normal((4, 16)).astype(np.float32)
    written = serialize_compiled_artifacts_to_disk(mlp, x, output_prefix=tmp_path / "a/b/mlp", target="p150",
                                                   compiler_options={"math_fidelity": "lofi"})
    archive = rt.load(written[-1])
    meta = msgpack.unpackb(archive.metadata_bytes)
    assert archive.target == "p150"
    assert meta["options"] == {"math_fidelity": "lofi"} and meta["compile_options"]["math_fidelity"] == "lofi"
    np.testing.assert_allclose(archive(x), np.maximum(x @ w, 0), rtol=5e-2, atol=0.1)

    written = serialize_compiled_artifacts_to_disk(mlp, x, output_prefix=tmp_path / "cpu/mlp", target="cpu")
    np.testing.assert_allclose(rt.load(written[-1])(x), np.maximum(x @ w, 0), rtol=1e-5, atol=1e-5)


def test_target_from_environment(tmp_path, monkeypatch):
    import jax.numpy as jnp

    monkeypatch.setenv("TTPACK_TARGET", "cpu")
    written = serialize_compiled_artifacts_to_disk(model, jnp.ones((3,)), output_prefix=tmp_path / "m")
    assert rt.load(written[-1]).target == "cpu"


def test_failures_write_nothing(tmp_path):
    import jax.numpy as jnp

    out = tmp_path / "never"
    with pytest.raises(ttpack.BuildError, match=re.escape(unknown_key_message(["bogus"]))):
        serialize_compiled_artifacts_to_disk(model, jnp.ones((3,)), output_prefix=out / "m", options={"bogus": 1})
    with pytest.raises(ttpack.BuildError, match="unknown target 'n999'"):
        serialize_compiled_artifacts_to_disk(model, jnp.ones((3,)), output_prefix=out / "m", target="n999")
    with pytest.raises(ttpack.BuildError, match="pass compile options once"):
        serialize_compiled_artifacts_to_disk(model, jnp.ones((3,)), output_prefix=out / "m", options={},
                                             compiler_options={})
    with pytest.raises(ttpack.BuildError, match="names no file"):
        serialize_compiled_artifacts_to_disk(model, jnp.ones((3,)), output_prefix=str(out) + "/")
    assert not out.exists()


def test_an_unwritable_file_leaves_none_of_the_three(tmp_path):
    import jax.numpy as jnp

    (tmp_path / "m.ttpack").mkdir()  # the archive's path is taken by a folder: the last write fails
    with pytest.raises(OSError):
        serialize_compiled_artifacts_to_disk(model, jnp.ones((3,)), output_prefix=tmp_path / "m")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.ttpack"]
