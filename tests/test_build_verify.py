"""`ttpack.build` verifies by default: the archive runs on the example inputs
and must match the framework in values, shapes and element types, or the
build raises and writes nothing."""

from __future__ import annotations

import numpy as np
import pytest

import ttpack
import ttpack.verify
from ttpack.archive.reader import read_archive


def _fn(x):
    return x * 2 + 1, (x > 0).sum()


@pytest.fixture
def x(rng):
    return rng.standard_normal((3, 4)).astype(np.float32)


def test_verification_is_the_default_and_is_recorded(tmp_path, x):
    path = ttpack.build(_fn, [x], output=tmp_path / "m.ttpack")
    acc = read_archive(path).metadata["accuracy"]
    assert acc["framework"] == "jax" and acc["device"] == "cpu" and acc["max_abs_error"] == 0
    assert [o["name"] for o in acc["outputs"]] == ["output 'output_0'", "output 'output_1'"]


@pytest.mark.parametrize("wrong, words", [
    (lambda w: [w[0] + 1, w[1]], ["output 'output_0' differs from jax's by up to 1"]),
    (lambda w: [w[0].reshape(1, 3, 4), w[1]], ["output 'output_0' has shape [3, 4], jax's has [1, 3, 4]"]),
    (lambda w: [w[0], w[1].astype(np.float32)], ["output 'output_1' is int32, jax's is float32"]),
    (lambda w: [w[0]], ["the archive has 2 outputs, jax returns 1"]),
    (lambda w: [np.where(w[0] > 0, np.nan, w[0]), w[1]], ["output 'output_0' has NaN or infinite values"]),
])
def test_a_mismatch_raises_and_writes_nothing(tmp_path, x, monkeypatch, wrong, words):
    real = ttpack.verify.framework_outputs
    monkeypatch.setattr(ttpack.verify, "framework_outputs", lambda spec: wrong(real(spec)))
    out = tmp_path / "m.ttpack"
    out.write_bytes(b"the previous archive")
    with pytest.raises(ttpack.verify.VerifyError) as e:
        ttpack.build(_fn, [x], output=out)
    msg = str(e.value)
    assert "does not match jax on the example inputs" in msg and f"Nothing was written to {out}" in msg
    for w in words:
        assert w in msg, msg
    assert isinstance(e.value, ttpack.BuildError)
    assert out.read_bytes() == b"the previous archive"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.ttpack"]


def test_keep_failed_keeps_a_clearly_named_side_file(tmp_path, x, monkeypatch):
    real = ttpack.verify.framework_outputs
    monkeypatch.setattr(ttpack.verify, "framework_outputs", lambda spec: [real(spec)[0] + 1, real(spec)[1]])
    out = tmp_path / "m.ttpack"
    with pytest.raises(ttpack.verify.VerifyError, match="kept for inspection as .*m.unverified.ttpack"):
        ttpack.build(_fn, [x], output=out, keep_failed=True)
    assert not out.exists() and (tmp_path / "m.unverified.ttpack").exists()
    read_archive(tmp_path / "m.unverified.ttpack")  # a whole archive


def test_verify_false_skips(tmp_path, x, monkeypatch):
    monkeypatch.setattr(ttpack.verify, "framework_outputs", lambda spec: pytest.fail("verified"))
    path = ttpack.build(_fn, [x], output=tmp_path / "m.ttpack", verify=False)
    assert "accuracy" not in read_archive(path).metadata


def test_shapes_only_cannot_be_verified(tmp_path):
    import jax

    path = ttpack.build(_fn, [jax.ShapeDtypeStruct((3, 4), np.float32)], output=tmp_path / "m.ttpack")
    assert "accuracy" not in read_archive(path).metadata


def test_a_chip_build_fails_only_beyond_its_formats(tmp_path, x, monkeypatch):
    w = np.random.default_rng(0).standard_normal((4, 16)).astype(np.float32)
    path = ttpack.build(lambda w, x: x @ w, [x], params=w, output=tmp_path / "ok.ttpack", target="n150",
                        options={"experimental_weight_dtype": "bfp_bf4"})
    assert 0.9 < read_archive(path).metadata["accuracy"]["pearson"] < 1
    monkeypatch.setattr(ttpack.verify, "framework_outputs", lambda spec: [-(x @ w)])
    with pytest.raises(ttpack.verify.VerifyError, match="on n150's formats is far from jax's"):
        ttpack.build(lambda w, x: x @ w, [x], params=w, output=tmp_path / "bad.ttpack", target="n150")
    assert not (tmp_path / "bad.ttpack").exists()
