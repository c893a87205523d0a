"""ttpack.torch.serialize_compiled_artifacts_to_disk: a module's StableHLO,
TTNN-level program and archive, the archive run against eager PyTorch
(target cpu: float32, 1e-5; default n150: bfloat16, pearson >= 0.999)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("torch_xla") is None, reason="needs torch and torch_xla")

import torch  # noqa: E402

import ttpack  # noqa: E402
import ttpack.runtime as rt  # noqa: E402
from ttpack.torch import serialize_compiled_artifacts_to_disk  # noqa: E402


@pytest.fixture(autouse=True)
def no_target_env(monkeypatch):
    monkeypatch.delenv("TTPACK_TARGET", raising=False)


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(12, 32), torch.nn.GELU(), torch.nn.Linear(32, 5)).eval()


def test_module_artifacts_match_eager(tmp_path):
    model, x = _model(), torch.randn(3, 12)
    written = serialize_compiled_artifacts_to_disk(model, x, output_prefix=tmp_path / "out/mlp", target="cpu")
    assert [p.name for p in written] == ["mlp.stablehlo.mlir", "mlp.ttnn.txt", "mlp.ttpack"]
    assert "stablehlo.dot_general" in written[0].read_text()
    assert "linear" in written[1].read_text()
    archive = rt.load(written[2])
    y = torch.randn(3, 12)
    with torch.no_grad():
        np.testing.assert_allclose(archive(y.numpy()), model(y).numpy(), rtol=1e-5, atol=1e-5)


def test_default_target_is_n150(tmp_path):
    model, x = _model(), torch.randn(3, 12)
    written = serialize_compiled_artifacts_to_disk(model, x, output_prefix=tmp_path / "mlp")
    archive = rt.load(written[-1])
    assert archive.target == "n150"
    with torch.no_grad():
        want = model(x).numpy()
    assert np.corrcoef(archive(x.numpy()).ravel(), want.ravel())[0, 1] >= 0.999


def test_not_a_module(tmp_path):
    with pytest.raises(ttpack.BuildError, match="takes a torch.nn.Module.*ttpack.jax"):
        serialize_compiled_artifacts_to_disk(lambda x: x, torch.ones(2), output_prefix=tmp_path / "f")
    assert not list(tmp_path.iterdir())
