"""Fully masked attention rows and -inf / very negative logits: the archive
gives what the framework gives (zeros from PyTorch's safe softmax, uniform
rows from finfo.min masks, NaN where the framework gives NaN), for every
attention form the fusion recognises."""

from __future__ import annotations

import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ttpack
import ttpack.runtime as rt
from ttpack.archive.reader import read_archive

needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch_xla") is None, reason="needs torch_xla")


def _ops(path) -> list[str]:
    return [op["op"] for op in read_archive(path).programs[0]["ops"]]


def _logits(rng, shape=(5, 8)):
    x = rng.standard_normal(shape).astype(np.float32)
    x[0] = -np.inf                      # a fully masked row
    x[1, 2:] = -np.inf                  # a partly masked row
    x[2] = np.finfo(np.float32).min     # a row masked with the most negative float
    x[3, ::2] = np.finfo(np.float32).min
    x[4] *= 1e4                         # large logits
    return x


@pytest.mark.parametrize("name, fn", [
    ("softmax", jax.nn.softmax),
    ("softmax-axis0", lambda x: jax.nn.softmax(x, axis=0)),
    ("log-softmax", jax.nn.log_softmax),
    ("safe-softmax", lambda x: jnp.where(jnp.all(x == -jnp.inf, axis=-1, keepdims=True), 0.0, jax.nn.softmax(x))),
    ("masked-add", lambda x: jax.nn.softmax(x + jnp.where(jnp.arange(8) > 5, -jnp.inf, 0.0))),
    ("finfo-min-mask", lambda x: jax.nn.softmax(jnp.where(jnp.arange(8) < 3, x, jnp.finfo(jnp.float32).min))),
])
def test_jax_softmax_on_masked_and_extreme_logits(tmp_path, rng, name, fn):
    x = _logits(rng)
    path = ttpack.build(fn, [x], output=tmp_path / "s.ttpack")
    np.testing.assert_allclose(rt.load(path)(x), np.asarray(jax.jit(fn)(x)), rtol=1e-5, atol=1e-6, equal_nan=True)


def test_safe_softmax_is_not_fused_into_a_plain_softmax(tmp_path, rng):
    """A where that zeroes fully masked rows must survive fusion (a plain
    softmax gives NaN there): fusion is confirmed on -inf rows too."""
    fn = lambda x: jnp.where(jnp.all(x == -jnp.inf, axis=-1, keepdims=True), 0.0, jax.nn.softmax(x))  # noqa: E731
    x = _logits(rng)
    path = ttpack.build(fn, [x], output=tmp_path / "s.ttpack")
    ops = _ops(path)
    assert "softmax" in ops and "where" in ops
    assert np.isfinite(rt.load(path)(x)).all()


def test_jax_dot_product_attention_with_a_fully_masked_row(tmp_path, rng):
    q, k, v = (rng.standard_normal((1, 6, 2, 8)).astype(np.float32) for _ in range(3))
    mask = np.ones((1, 2, 6, 6), bool)
    mask[0, :, 2, :] = False  # query 2 sees no key

    def attention(q, k, v, mask):
        return jax.nn.dot_product_attention(q, k, v, mask=mask)

    path = ttpack.build(attention, [q, k, v, mask], output=tmp_path / "a.ttpack")
    np.testing.assert_allclose(rt.load(path)(q, k, v, mask), np.asarray(jax.jit(attention)(q, k, v, mask)),
                               rtol=1e-5, atol=1e-5, equal_nan=True)


@needs_torch
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_bert_with_a_fully_masked_sequence(tmp_path, attn):
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=32)
    config._attn_implementation = attn
    model = transformers.BertModel(config).eval()
    ids = torch.randint(0, 100, (3, 10), generator=torch.Generator().manual_seed(1))
    mask = torch.ones(3, 10, dtype=torch.int64)
    mask[1, :] = 0     # all padding
    mask[2, 6:] = 0    # partly padded
    inputs = {"input_ids": ids, "attention_mask": mask}
    path = ttpack.build(model, inputs, output=tmp_path / "bert.ttpack")
    assert "softmax" in _ops(path)
    got = rt.load(path)(ids.numpy(), mask.numpy())
    with torch.no_grad():
        want = model(**inputs)
    for g, w in zip(got, (want.last_hidden_state, want.pooler_output)):
        assert np.isfinite(w.numpy()).all()
        np.testing.assert_allclose(g, w.numpy(), rtol=1e-4, atol=1e-5)


@needs_torch
def test_torch_sdpa_with_boolean_masks(tmp_path, rng):
    import torch

    class Attention(torch.nn.Module):
        def forward(self, q, k, v, mask):
            return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)

    q, k, v = (torch.from_numpy(rng.standard_normal((2, 2, 5, 8)).astype(np.float32)) for _ in range(3))
    mask = torch.ones(2, 2, 5, 5, dtype=torch.bool)
    mask[0, :, 1, :] = False
    mask[1, 1, :, 3:] = False
    path = ttpack.build(Attention(), [q, k, v, mask], output=tmp_path / "sdpa.ttpack")
    with torch.no_grad():
        want = Attention()(q, k, v, mask).numpy()
    assert np.isfinite(want).all()  # PyTorch's safe softmax: a fully masked row attends to nothing
    np.testing.assert_allclose(rt.load(path)(q.numpy(), k.numpy(), v.numpy(), mask.numpy()), want,
                               rtol=1e-5, atol=1e-6)


@needs_torch
def test_transformer_encoder_layer_with_key_padding(tmp_path, rng):
    import torch

    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True).eval()

    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = layer

        def forward(self, x, pad):
            return self.layer(x, src_key_padding_mask=pad)

    x = torch.from_numpy(rng.standard_normal((2, 6, 16)).astype(np.float32))
    pad = torch.zeros(2, 6, dtype=torch.bool)
    pad[1, 4:] = True
    path = ttpack.build(Encoder(), [x, pad], output=tmp_path / "enc.ttpack")
    with torch.no_grad():
        want = Encoder()(x, pad).numpy()
    np.testing.assert_allclose(rt.load(path)(x.numpy(), pad.numpy()), want, rtol=1e-4, atol=1e-5)
