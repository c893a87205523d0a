"""Model families beyond the test suite, for the notes: does each build, and
how close is it to the framework (Pearson, max error relative to the
output's largest magnitude) on a seeded random input. Random weights; small
inputs to keep it quick. No chip involved (target cpu).

    .venv/bin/python benchmarks/coverage_report.py [name ...]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _no_zero_weights(model):
    """torchvision zero-initialises some heads (ViT's classifier): a constant
    output would compare trivially, so give zero matrices seeded values."""
    import torch

    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1 and not p.any():
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
    return model


def _torchvision(builder, shape=(1, 3, 96, 96), **kw):
    def make():
        import torch
        import torchvision

        torch.manual_seed(0)
        model = _no_zero_weights(getattr(torchvision.models, builder)(weights=None, **kw).eval())
        return model, [torch.randn(*shape, generator=torch.Generator().manual_seed(1))]

    return make


def _segmentation(builder, **kw):
    def make():
        import torch
        import torchvision

        torch.manual_seed(0)
        model = _no_zero_weights(getattr(torchvision.models.segmentation, builder)(weights=None,
                                                                                 weights_backbone=None, **kw).eval())
        return model, [torch.randn(1, 3, 96, 96, generator=torch.Generator().manual_seed(1))]

    return make


def fpn_backbone():
    import torch
    from torchvision.models.detection.backbone_utils import resnet_fpn_backbone

    torch.manual_seed(0)
    model = resnet_fpn_backbone(backbone_name="resnet18", weights=None, trainable_layers=0).eval()
    return model, [torch.randn(1, 3, 128, 128, generator=torch.Generator().manual_seed(1))]


def _rnn(kind, **kw):
    def make():
        import torch

        torch.manual_seed(0)
        rnn = getattr(torch.nn, kind)(8, 16, batch_first=True, **kw)

        class Model(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = rnn

            def forward(self, x):
                return self.rnn(x)

        return Model().eval(), [torch.randn(2, 7, 8, generator=torch.Generator().manual_seed(1))]

    return make


def topk_head():
    import torch

    torch.manual_seed(0)

    class Head(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(16, 50)

        def forward(self, x):
            scores = self.lin(x).softmax(-1)
            values, indices = torch.topk(scores, 5)
            return values, indices, torch.sort(scores, dim=-1, descending=True).values

    return Head().eval(), [torch.randn(4, 16, generator=torch.Generator().manual_seed(1))]


def _jax(fn_name):
    def make():
        import jax
        import jax.numpy as jnp

        rng = np.random.default_rng(1)
        x = rng.standard_normal((4, 8)).astype(np.float32)
        if fn_name == "jax_rnn_scan":  # a tanh RNN cell scanned over 16 steps of [batch 2, 8 features]
            wx, wh = rng.standard_normal((8, 16)).astype(np.float32) / 3, rng.standard_normal((16, 16)).astype(
                np.float32) / 4

            def rnn(xs):
                return jax.lax.scan(lambda h, x: (jnp.tanh(x @ wx + h @ wh),) * 2, jnp.zeros((2, 16)), xs)

            return rnn, [rng.standard_normal((16, 2, 8)).astype(np.float32)]
        if fn_name == "jax_random_key_input":  # normal and uniform draws from a key the caller passes
            def draw(key, x):
                k1, k2 = jax.random.split(key)
                return x + jax.random.normal(k1, x.shape), jax.random.uniform(k2, x.shape)

            return draw, [np.asarray(jax.random.PRNGKey(7)), x]
        fns = {
            "jax_scan": lambda x: jax.lax.scan(lambda c, r: (c + jnp.tanh(r), c), jnp.zeros(8), x)[0],
            "jax_fori": lambda x: jax.lax.fori_loop(0, 5, lambda i, c: c * 0.5 + jnp.sin(c), x),
            "jax_while_data_dependent": lambda x: jax.lax.while_loop(
                lambda c: jnp.max(jnp.abs(c)) > 0.01, lambda c: c * 0.7, x),
            "jax_random": lambda x: x + jax.random.normal(jax.random.PRNGKey(0), x.shape),
            "jax_sort_topk": lambda x: (jnp.sort(x, axis=-1), jax.lax.top_k(x, 3)[0]),
            "jax_take_along_axis": lambda x: jnp.take_along_axis(x, jnp.argsort(x, axis=1), axis=1),
        }
        return fns[fn_name], [x]

    return make


MODELS = {
    "resnet50": _torchvision("resnet50"),
    "mobilenet_v3_small": _torchvision("mobilenet_v3_small"),
    "efficientnet_b0": _torchvision("efficientnet_b0"),
    "regnet_y_400mf": _torchvision("regnet_y_400mf"),
    "convnext_tiny": _torchvision("convnext_tiny"),
    "vit_b_16(112px)": _torchvision("vit_b_16", shape=(1, 3, 112, 112), image_size=112),
    "fcn_resnet50": _segmentation("fcn_resnet50", num_classes=5),
    "deeplabv3_mobilenet_v3_large": _segmentation("deeplabv3_mobilenet_v3_large", num_classes=5),
    "lraspp_mobilenet_v3_large": _segmentation("lraspp_mobilenet_v3_large", num_classes=5),
    "resnet18_fpn_backbone": fpn_backbone,
    "lstm_2layer_bidirectional": _rnn("LSTM", num_layers=2, bidirectional=True),
    "gru_2layer": _rnn("GRU", num_layers=2),
    "gru_bidirectional": _rnn("GRU", bidirectional=True),
    "rnn_tanh": _rnn("RNN"),
    "topk_sort_head": topk_head,
    **{name: _jax(name) for name in ("jax_scan", "jax_fori", "jax_random", "jax_sort_topk",
                                     "jax_take_along_axis", "jax_rnn_scan", "jax_random_key_input",
                                     "jax_while_data_dependent")},
}


def _flat(out):
    try:
        import torch.utils._pytree as pytree

        leaves = pytree.tree_leaves(out)
    except ImportError:
        import jax

        leaves = jax.tree_util.tree_leaves(out)
    return [np.asarray(x.detach().numpy() if hasattr(x, "detach") else x, np.float64).ravel() for x in leaves]


def main(names):
    import ttpack
    import ttpack.runtime as rt

    print("| model | builds | pearson (min) | max rel err | build s |")
    print("|---|---|---|---|---|")
    tmp = Path(tempfile.mkdtemp())
    for name in names or MODELS:
        model, inputs = MODELS[name]()
        t0 = time.perf_counter()
        try:
            path = ttpack.build(model, inputs, output=tmp / "m.ttpack", verify=False)
        except Exception as e:  # the report is the point: say why
            first = str(e).strip().splitlines()
            print(f"| {name} | no: {type(e).__name__}: {' '.join(first[:2])[:160]} | | | "
                  f"{time.perf_counter() - t0:.1f} |", flush=True)
            continue
        build_s = time.perf_counter() - t0
        got = rt.load(path)(*[x.numpy() if hasattr(x, "numpy") else x for x in inputs])
        got = got if isinstance(got, tuple) else (got,)
        if hasattr(model, "eval"):
            import torch

            with torch.no_grad():
                want = model(*inputs)
        else:
            import jax

            want = jax.jit(model)(*inputs)
        pearsons, rels = [], []
        for g, w in zip(_flat(got), _flat(want)):
            if g.size > 1 and np.std(w) > 0:
                pearsons.append(np.corrcoef(g, w)[0, 1])
            rels.append(np.max(np.abs(g - w)) / max(np.max(np.abs(w)), 1e-30))
        print(f"| {name} | yes | {min(pearsons, default=1.0):.6f} | {max(rels):.1e} | {build_s:.1f} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
