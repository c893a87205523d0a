"""PyTorch ops torch_xla cannot capture, decomposed by ttpack before it sees
them: each against PyTorch eager, edge cases included."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import ttpack
import ttpack.runtime as rt

pytestmark = pytest.mark.skipif(importlib.util.find_spec("torch_xla") is None, reason="needs torch_xla")


def _check(tmp_path, forward, inputs, params=None, rtol=1e-5, atol=1e-6):
    import torch

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            for k, v in (params or {}).items():
                self.register_buffer(k, v)

        def forward(self, *args):
            return forward(self, *args)

    model = Model().eval()
    path = ttpack.build(model, inputs, output=tmp_path / "m.ttpack")
    with torch.no_grad():
        want = model(*inputs)
    want = want if isinstance(want, tuple) else (want,)
    got = rt.load(path)(*[x.numpy() for x in inputs])
    got = got if isinstance(got, tuple) else (got,)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w.numpy(), rtol=rtol, atol=atol)
    return path


@pytest.mark.parametrize("hw, out", [((7, 11), (3, 5)), ((8, 8), (3, 3)), ((5, 6), (5, 6)), ((4, 5), (7, 9)),
                                     ((6, 6), (1, 1)), ((9, 4), (2, 4))])
def test_adaptive_avg_pool2d_any_size(tmp_path, hw, out):
    import torch

    x = torch.randn(2, 3, *hw, generator=torch.Generator().manual_seed(0))
    _check(tmp_path, lambda self, x: torch.nn.functional.adaptive_avg_pool2d(x, out), [x])


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("form", ["2d", "offsets", "empty-bag", "last-offset", "padding"])
def test_embedding_bag(tmp_path, mode, form):
    import torch

    g = torch.Generator().manual_seed(1)
    table = torch.randn(10, 4, generator=g)
    F = torch.nn.functional
    if form == "2d":
        ids = [torch.randint(0, 10, (3, 4), generator=g)]
        fn = lambda self, i: F.embedding_bag(i, self.table, mode=mode)  # noqa: E731
    elif form == "padding":
        ids = [torch.tensor([[1, 0, 3], [0, 0, 0], [5, 6, 0]])]
        fn = lambda self, i: F.embedding_bag(i, self.table, mode=mode, padding_idx=0)  # noqa: E731
    else:
        flat = torch.randint(0, 10, (7,), generator=g)
        offsets = {"offsets": [0, 2, 5], "empty-bag": [0, 3, 3, 6], "last-offset": [0, 2, 5, 7]}[form]
        ids = [flat, torch.tensor(offsets)]
        last = form == "last-offset"
        fn = lambda self, i, o: F.embedding_bag(i, self.table, o, mode=mode, include_last_offset=last)  # noqa: E731
    _check(tmp_path, fn, ids, {"table": table})


def test_embedding_bag_per_sample_weights(tmp_path):
    import torch

    g = torch.Generator().manual_seed(2)
    table = torch.randn(10, 4, generator=g)
    fn = lambda self, i, o, w: torch.nn.functional.embedding_bag(i, self.table, o, mode="sum",  # noqa: E731
                                                                 per_sample_weights=w)
    _check(tmp_path, fn, [torch.randint(0, 10, (6,), generator=g), torch.tensor([0, 1, 4]), torch.randn(6, generator=g)],
           {"table": table})


@pytest.mark.parametrize("kernel, stride, padding, dilation, ceil", [
    (3, 1, 0, 2, False), (3, 2, 1, 2, False), (2, 2, 0, 3, True), (3, 2, 1, 2, True), ((2, 3), (1, 2), (1, 0), (2, 1), False),
])
def test_dilated_max_pool2d_with_indices(tmp_path, kernel, stride, padding, dilation, ceil):
    import torch

    x = torch.randn(1, 2, 11, 10, generator=torch.Generator().manual_seed(3))
    x[0, 0, 4, 4] = float("-inf")
    fn = lambda self, x: torch.nn.functional.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode=ceil,  # noqa: E731
                                                        return_indices=True)
    _check(tmp_path, fn, [x])


@pytest.mark.parametrize("decimals", [0, 1, 2, -1, -2])
def test_round_decimals(tmp_path, decimals):
    import torch

    x = torch.tensor([0.5, 1.5, 2.5, -0.5, -2.5, 0.125, 0.375, 12.345, -150.0, 250.0, 1234.5678])
    _check(tmp_path, lambda self, x: torch.round(x, decimals=decimals), [x])


@pytest.mark.parametrize("shape, dim, size, step", [((2, 9), 1, 3, 2), ((2, 9), -1, 4, 1), ((6, 3, 2), 0, 2, 3),
                                                    ((5,), 0, 5, 1)])
def test_unfold(tmp_path, shape, dim, size, step):
    import torch

    x = torch.randn(*shape, generator=torch.Generator().manual_seed(4))
    _check(tmp_path, lambda self, x: x.unfold(dim, size, step), [x])


@pytest.mark.parametrize("layers, batch_first", [(1, True), (2, True), (2, False)])
def test_gru(tmp_path, layers, batch_first):
    import torch

    torch.manual_seed(0)
    gru = torch.nn.GRU(4, 8, num_layers=layers, batch_first=batch_first)
    x = torch.randn((2, 5, 4) if batch_first else (5, 2, 4))

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = gru

        def forward(self, x):
            return self.gru(x)

    model = Model().eval()
    path = ttpack.build(model, [x], output=tmp_path / "gru.ttpack")
    with torch.no_grad():
        out, h = model(x)
    got = rt.load(path)(x.numpy())
    np.testing.assert_allclose(got[0], out.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got[1], h.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("reduce", ["sum", "sum_dims_empty", "sum_int", "amax", "amin", "amax_keepdim"])
def test_reductions_over_every_dim(tmp_path, reduce):
    """torch_xla's exporter returns the input unreduced for an empty dim
    list; `x - x.amax()` broadcasts either way, so only the values show it."""
    import torch

    ops = {"sum": lambda x: x.sum(), "sum_dims_empty": lambda x: x.sum(dim=[]),
           "sum_int": lambda x: (x > 0).sum(), "amax": lambda x: x.amax(), "amin": lambda x: x.amin(),
           "amax_keepdim": lambda x: x.amax(dim=[], keepdim=True)}
    x = torch.randn(3, 4, 5, generator=torch.Generator().manual_seed(0))
    _check(tmp_path, lambda self, x: (ops[reduce](x), x - ops[reduce](x)), [x], rtol=1e-5, atol=1e-5)


# --- masked assignment ---------------------------------------------------------------------------


def _masked(self, x):
    import torch

    y = x.clone()
    y[x < 0] = 0.5                                   # a scalar into every selected element
    z = x * 2
    z[x[:, :, 0] > 0] = torch.tensor([1.0, -2.0, 3.0])  # one row of values into every selected row
    w = x.clone()
    w[x.abs() > 1] = torch.tensor(7, dtype=torch.int64)  # values of another dtype are cast, as PyTorch does
    a = x.clone().index_put_((x > 0.5,), torch.tensor(10.0), accumulate=True)  # y[mask] += v
    return y, z, w, a


def test_masked_assignment_becomes_where(tmp_path):
    import torch

    x = torch.randn(2, 4, 3, generator=torch.Generator().manual_seed(3))
    _check(tmp_path, _masked, [x])
    x[0, 0] = torch.tensor([-1.0, 2.0, 0.0])  # other masks, same archive semantics
    _check(tmp_path, _masked, [x])


def test_masked_assignment_of_one_value_per_selected_element_is_refused(tmp_path):
    import torch

    def gather_then_assign(self, x):
        y = x.clone()
        y[x > 0] = x[x > 0] * 2  # as many values as the mask selects: a data-dependent shape
        return y

    # PyTorch itself cannot trace it without a data-dependent size (the stage is named)
    with pytest.raises(ttpack.BuildError, match="exported program failed.*data-dependent") as e:
        _check(tmp_path, gather_then_assign, [torch.randn(5)])
    assert "torch.where(mask, v, y)" in str(e.value)
