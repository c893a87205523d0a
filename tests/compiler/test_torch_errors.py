"""PyTorch build errors point at the user's code: unsupported ops name the
file, line, module path and torch function; torch.export and torch_xla
failures say which stage failed, where, and what to change."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import ttpack
from ttpack.frontends.stablehlo import UnsupportedOpsError

pytestmark = pytest.mark.skipif(importlib.util.find_spec("torch_xla") is None, reason="needs torch_xla")


def _model(inner_forward):
    import torch

    class Inner(torch.nn.Module):
        forward = inner_forward

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4, 4)
            self.block = Inner()

        def forward(self, x):
            return self.block(self.lin(x))

    return Model().eval()


def test_unsupported_op_names_file_line_module_and_torch_function(tmp_path):
    import torch

    def forward(self, x):
        return torch.atan2(x, x + 1).sum() + torch.sin(x).sum()

    with pytest.raises(UnsupportedOpsError) as e:
        ttpack.build(_model(forward), [torch.randn(2, 4)], output=tmp_path / "m.ttpack")
    (line,) = [ln for ln in str(e.value).splitlines() if "stablehlo.atan2" in ln and " at " in ln]
    assert "test_torch_errors.py:" in line and "in forward" in line
    assert "module block: Inner" in line and "torch atan2" in line
    assert not (tmp_path / "m.ttpack").exists()


def test_ops_torch_xla_cannot_capture_are_located(tmp_path):
    import torch

    def forward(self, x):
        return torch.special.i0(x).sum()

    with pytest.raises(ttpack.BuildError) as e:
        ttpack.build(_model(forward), [torch.randn(2, 4)], output=tmp_path / "m.ttpack")
    msg = str(e.value)
    assert msg.startswith("converting Model to StableHLO with torch_xla failed")
    assert "aten.i0 at" in msg and "test_torch_errors.py:" in msg and "module block: Inner" in msg


def test_data_dependent_control_flow_says_what_to_change(tmp_path):
    import torch

    def forward(self, x):
        return x * 2 if x.sum() > 0 else x

    with pytest.raises(ttpack.BuildError) as e:
        ttpack.build(_model(forward), [torch.randn(2, 4)], output=tmp_path / "m.ttpack")
    msg = str(e.value)
    assert msg.startswith("exporting Model with torch.export failed") and "torch.cond" in msg


def test_a_kv_cache_output_says_to_turn_the_cache_off_and_gpt2_sdpa_builds(tmp_path):
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=200, n_positions=32, n_embd=32, n_layer=2, n_head=2)
    model = transformers.GPT2LMHeadModel(config).eval()
    assert model.config._attn_implementation == "sdpa"  # the default attention
    ids = torch.randint(0, 200, (2, 12), generator=torch.Generator().manual_seed(1))
    with pytest.raises(ttpack.BuildError, match="model.config.use_cache = False"):
        ttpack.build(model, {"input_ids": ids}, output=tmp_path / "g.ttpack")
    model.config.use_cache = False
    path = ttpack.build(model, {"input_ids": ids}, output=tmp_path / "g.ttpack")  # verified against torch
    import ttpack.runtime as rt

    with torch.no_grad():
        want = model(input_ids=ids).logits.numpy()
    np.testing.assert_allclose(rt.load(path)(ids.numpy()), want, rtol=1e-4, atol=1e-4)


def test_float16_inputs_and_weights_build(tmp_path):
    """(They were refused at the input until float16 became a logical type.)"""
    import torch

    import ttpack.runtime as rt

    def tanh_sin(self, x):
        return torch.tanh(x) * 2 + torch.sin(x) - x.mean()

    class Plain(torch.nn.Module):
        forward = tanh_sin

    class HalfWeight(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.full((4,), 1.5, dtype=torch.float16))

        def forward(self, x):
            return x * self.scale.float()

    for model, x in ((Plain(), torch.linspace(-2, 2, 3).half()), (HalfWeight(), torch.ones(2, 4))):
        path = ttpack.build(model, [x], output=tmp_path / "m.ttpack")
        with torch.no_grad():
            want = model(x)
        got = rt.load(path)(x.numpy())
        assert got.dtype == want.numpy().dtype
        np.testing.assert_allclose(got.astype(np.float32), want.float().numpy(), rtol=1e-2, atol=2e-3)


def test_a_forward_that_updates_a_buffer_is_refused(tmp_path):
    import torch

    class Counter(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("calls", torch.zeros(1))

        def forward(self, x):
            self.calls.add_(1)
            return x * 2

    with pytest.raises(ttpack.BuildError, match=r"Counter.forward\(\) writes in place to buffer 'calls'"):
        ttpack.build(Counter(), [torch.randn(3)], output=tmp_path / "m.ttpack")
    assert not (tmp_path / "m.ttpack").exists()
