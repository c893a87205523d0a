"""Small, random-initialised configurations of real architectures, shared by
tests/models and benchmarks/models_report.py. No weights are downloaded.

Each entry returns (model or fn, params or None, make_inputs(seed) -> inputs)
with inputs a list (positional) or dict (keywords) of framework arrays.
"""

from __future__ import annotations

import numpy as np


def torch_resnet18():
    import torch
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    return model, None, lambda seed: [torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(seed))]


def torch_mobilenet_v2():
    import torch
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v2(weights=None).eval()
    return model, None, lambda seed: [torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(seed))]


def _ids(seed, shape, vocab):
    import torch

    return torch.randint(0, vocab, shape, generator=torch.Generator().manual_seed(seed))


def torch_bert():
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=500, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=128, max_position_embeddings=64)
    model = transformers.BertModel(config).eval()

    def inputs(seed):
        mask = torch.ones(2, 16, dtype=torch.int64)
        mask[1, 11:] = 0  # a padded second sequence
        return {"input_ids": _ids(seed, (2, 16), 500), "attention_mask": mask,
                "token_type_ids": (_ids(seed + 1, (2, 16), 2))}

    return model, None, inputs


def torch_gpt2():
    import transformers

    import torch

    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=500, n_embd=64, n_layer=2, n_head=4, n_positions=64, use_cache=False)
    config._attn_implementation = "eager"  # the SDPA path does not export with torch 2.9
    model = transformers.GPT2LMHeadModel(config).eval()
    return model, None, lambda seed: {"input_ids": _ids(seed, (2, 16), 500)}


def torch_transformer_encoder_layer():
    import torch

    torch.manual_seed(0)
    model = torch.nn.TransformerEncoderLayer(64, 4, 128, batch_first=True, activation="gelu").eval()
    return model, None, lambda seed: [torch.randn(2, 16, 64, generator=torch.Generator().manual_seed(seed))]


def jax_cnn():
    """A small NHWC CNN: conv + bias + relu, max pool, conv, average pool, dense."""
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(0)

    def w(*shape):
        return (rng.standard_normal(shape) / np.sqrt(np.prod(shape[:-1]))).astype(np.float32)

    params = {"conv1": {"w": w(3, 3, 3, 16), "b": w(16)}, "conv2": {"w": w(3, 3, 16, 32), "b": w(32)},
              "dense": {"w": w(32, 10), "b": w(10)}}

    def conv(x, p, stride):
        y = jax.lax.conv_general_dilated(x, p["w"], (stride, stride), "SAME",
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return jax.nn.relu(y + p["b"])

    def cnn(params, x):
        h = conv(x, params["conv1"], 1)
        h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
        h = conv(h, params["conv2"], 2)
        h = jax.lax.reduce_window(h, 0.0, jax.lax.add, (1, 2, 2, 1), (1, 2, 2, 1), "VALID") / 4.0
        return jax.nn.log_softmax(h.mean(axis=(1, 2)) @ params["dense"]["w"] + params["dense"]["b"])

    return cnn, params, lambda seed: [np.random.default_rng(seed).standard_normal((2, 32, 32, 3)).astype(np.float32)]


def jax_transformer_block():
    """A pre-norm transformer block: layer norm, multi-head attention, GELU MLP."""
    import jax
    import jax.numpy as jnp

    d, heads, ff = 64, 4, 128
    rng = np.random.default_rng(0)

    def w(*shape):
        return (rng.standard_normal(shape) / np.sqrt(shape[0])).astype(np.float32)

    params = {"ln1": {"g": 1 + 0.1 * w(d), "b": 0.1 * w(d)}, "ln2": {"g": 1 + 0.1 * w(d), "b": 0.1 * w(d)},
              "qkv": {"w": w(d, 3 * d), "b": 0.1 * w(3 * d)}, "out": {"w": w(d, d), "b": 0.1 * w(d)},
              "ff1": {"w": w(d, ff), "b": 0.1 * w(ff)}, "ff2": {"w": w(ff, d), "b": 0.1 * w(d)}}

    def layer_norm(x, p, eps=1e-5):
        mean = x.mean(axis=-1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        return (x - mean) * jax.lax.rsqrt(var + eps) * p["g"] + p["b"]

    def block(params, x):
        b, s, _ = x.shape
        h = layer_norm(x, params["ln1"])
        qkv = (h @ params["qkv"]["w"] + params["qkv"]["b"]).reshape(b, s, 3, heads, d // heads)
        q, k, v = (qkv[:, :, i].transpose(0, 2, 1, 3) for i in range(3))
        att = jax.nn.softmax(q @ k.transpose(0, 1, 3, 2) / np.sqrt(d // heads), axis=-1)
        o = (att @ v).transpose(0, 2, 1, 3).reshape(b, s, d)
        x = x + o @ params["out"]["w"] + params["out"]["b"]
        h = jax.nn.gelu(layer_norm(x, params["ln2"]) @ params["ff1"]["w"] + params["ff1"]["b"], approximate=False)
        return x + h @ params["ff2"]["w"] + params["ff2"]["b"]

    return block, params, lambda seed: [np.random.default_rng(seed).standard_normal((2, 16, d)).astype(np.float32)]


MODELS = {
    "torch_resnet18": torch_resnet18,
    "torch_mobilenet_v2": torch_mobilenet_v2,
    "torch_bert": torch_bert,
    "torch_gpt2": torch_gpt2,
    "torch_transformer_encoder_layer": torch_transformer_encoder_layer,
    "jax_cnn": jax_cnn,
    "jax_transformer_block": jax_transformer_block,
}


def reference(model, params, inputs) -> list[np.ndarray]:
    """The framework's own outputs, flattened."""
    if params is None and hasattr(model, "eval"):
        import torch
        import torch.utils._pytree as pytree

        with torch.no_grad():
            out = model(**inputs) if isinstance(inputs, dict) else model(*inputs)
        return [t.numpy() for t in pytree.tree_leaves(out)]
    import jax

    return [np.asarray(x) for x in jax.tree_util.tree_leaves(jax.jit(model)(params, *inputs))]


def as_numpy(inputs) -> list[np.ndarray]:
    values = inputs.values() if isinstance(inputs, dict) else inputs
    return [v.numpy() if hasattr(v, "numpy") else np.asarray(v) for v in values]
