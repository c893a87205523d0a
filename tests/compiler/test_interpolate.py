"""Interpolation (F.interpolate, nn.Upsample, jax.image.resize) in every
mode and size form segmentation and FPN models use, against the framework."""

from __future__ import annotations

import importlib.util

import jax
import numpy as np
import pytest

import ttpack
import ttpack.runtime as rt

needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch_xla") is None, reason="needs torch_xla")

CASES = [
    ("nearest-2x", dict(scale_factor=2, mode="nearest")),
    ("nearest-3x2", dict(scale_factor=(3, 2), mode="nearest")),
    ("nearest-size", dict(size=(8, 9), mode="nearest")),
    ("nearest-down", dict(size=(3, 4), mode="nearest")),
    ("nearest-1.7", dict(scale_factor=1.7, mode="nearest")),
    ("nearest-exact", dict(size=(8, 11), mode="nearest-exact")),
    ("bilinear-size", dict(size=(8, 9), mode="bilinear", align_corners=False)),
    ("bilinear-size-ac", dict(size=(8, 9), mode="bilinear", align_corners=True)),
    ("bilinear-2x", dict(scale_factor=2, mode="bilinear", align_corners=False)),
    ("bilinear-1.7-ac", dict(scale_factor=1.7, mode="bilinear", align_corners=True)),
    ("bilinear-1.7", dict(scale_factor=1.7, mode="bilinear", align_corners=False)),
    ("bilinear-1.7-recompute", dict(scale_factor=1.7, mode="bilinear", recompute_scale_factor=True)),
    ("bilinear-down", dict(size=(2, 3), mode="bilinear", align_corners=False)),
    ("bilinear-to-1", dict(size=(1, 1), mode="bilinear", align_corners=True)),
]


@needs_torch
@pytest.mark.parametrize("name, kw", CASES, ids=[c[0] for c in CASES])
def test_torch_interpolate(tmp_path, name, kw):
    import torch

    class Resize(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.interpolate(x, **kw)

    x = torch.randn(2, 3, 5, 7, generator=torch.Generator().manual_seed(0))
    path = ttpack.build(Resize(), [x], output=tmp_path / "r.ttpack")
    want = Resize()(x).numpy()
    got = rt.load(path)(x.numpy())
    assert got.shape == want.shape
    exact = kw["mode"].startswith("nearest")
    np.testing.assert_allclose(got, want, rtol=0 if exact else 1e-5, atol=0 if exact else 1e-6)


@needs_torch
def test_unet_style_decoder(tmp_path):
    """Upsample modules and interpolate-to-size between convolutions, with skip connections."""
    import torch

    torch.manual_seed(0)

    class Decoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.down = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
            self.mid = torch.nn.Conv2d(8, 8, 3, padding=1)
            self.up = torch.nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
            self.fuse = torch.nn.Conv2d(11, 4, 1)

        def forward(self, x):
            d = torch.relu(self.down(x))
            u = self.up(torch.relu(self.mid(d)))
            head = self.fuse(torch.cat([u, x], dim=1))
            return torch.nn.functional.interpolate(head, size=(15, 13), mode="nearest")

    model = Decoder().eval()
    x = torch.randn(1, 3, 10, 12)
    path = ttpack.build(model, [x], output=tmp_path / "unet.ttpack")
    with torch.no_grad():
        want = model(x).numpy()
    np.testing.assert_allclose(rt.load(path)(x.numpy()), want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("method", ["nearest", "bilinear", "bicubic", "lanczos3"])
@pytest.mark.parametrize("shape", [(1, 8, 9, 2), (1, 3, 4, 2), (1, 10, 14, 2)])
def test_jax_image_resize(tmp_path, rng, method, shape):
    x = rng.standard_normal((1, 5, 7, 2)).astype(np.float32)
    fn = lambda x: jax.image.resize(x, shape, method)  # noqa: E731
    path = ttpack.build(fn, [x], output=tmp_path / "r.ttpack")
    np.testing.assert_allclose(rt.load(path)(x), np.asarray(jax.jit(fn)(x)), rtol=1e-5, atol=1e-5)
