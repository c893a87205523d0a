"""PyTorch outputs come out as the module's eager outputs, even where
torch_xla's StableHLO shapes them otherwise (nn.LSTM's h_n / c_n)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import ttpack
import ttpack.runtime as rt

pytestmark = pytest.mark.skipif(importlib.util.find_spec("torch_xla") is None, reason="needs torch_xla")


@pytest.mark.parametrize("layers, batch_first", [(1, True), (2, True), (2, False)])
def test_lstm_state_shapes_and_values(tmp_path, layers, batch_first):
    import torch

    torch.manual_seed(0)

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(4, 8, num_layers=layers, batch_first=batch_first)

        def forward(self, x):
            return self.lstm(x)

    model = Model().eval()
    x = torch.randn((3, 5, 4) if batch_first else (5, 3, 4))
    path = ttpack.build(model, [x], output=tmp_path / "lstm.ttpack")
    out, (h, c) = model(x)
    got = rt.load(path)(x.numpy())
    for g, w in zip(got, (out, h, c)):
        assert g.shape == tuple(w.shape)
        np.testing.assert_allclose(g, w.detach().numpy(), rtol=1e-4, atol=1e-5)


def test_outputs_whose_elements_differ_are_refused():
    from ttpack.compiler import ir
    from ttpack.compiler.types import TensorType
    from ttpack.errors import BuildError
    from ttpack.frontends.torch_frontend import _eager_output_shapes

    x = ir.Value(TensorType((2, 1, 3), "float32"))
    program = ir.Program("main", [("x", x)], [("y", x)])
    fixed = _eager_output_shapes(program, [(2, 3)])
    assert fixed.outputs[0][1].type.shape == (2, 3) and [op.name for op in fixed.ops] == ["reshape"]
    with pytest.raises(BuildError, match=r"output 'y' is \[2, 4\] in PyTorch but \[2, 1, 3\]"):
        _eager_output_shapes(program, [(2, 4)])
