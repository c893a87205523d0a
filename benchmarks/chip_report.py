"""Tenstorrent formats on real architectures, for the notes: for each model,
weight format and math fidelity, the accuracy of the chip's numerics (run on
the cpu device, which emulates them) against the float32 framework, and for
each chip the ESTIMATED device time (roofline, `ttpack inspect --estimate`)
and the memory plan's DRAM and per-core L1 peaks. No chip is involved.

    .venv/bin/python benchmarks/chip_report.py [resnet18|bert_small|minilm_l6 ...]

Formats: bf16 = the model in bfloat16; bfp8 / bfp4 = the bfloat16 model with
matmul/linear weights in bfloat8_b / bfloat4_b (experimental_weight_dtype).
Every build uses optimization_level=2 (activations in L1 where they fit).
Weights are random (seeded): accuracy on trained weights can differ.
"""

from __future__ import annotations

import copy
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHIPS = ("n150", "p150")  # n300 runs a program on one of its two Wormhole chips: n150's figures
FORMATS = {"bf16": None, "bfp8": "bfp_bf8", "bfp4": "bfp_bf4"}
FIDELITIES = ("hifi4", "lofi")


def resnet18():
    import torch
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    return model, [torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))]


def _bert(hidden, layers, heads, intermediate, vocab):
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers,
                                     num_attention_heads=heads, intermediate_size=intermediate,
                                     max_position_embeddings=512)
    model = transformers.BertModel(config).eval()
    g = torch.Generator().manual_seed(1)
    inputs = {"input_ids": torch.randint(0, vocab, (1, 128), generator=g),
              "attention_mask": torch.ones(1, 128, dtype=torch.int64),
              "token_type_ids": torch.zeros(1, 128, dtype=torch.int64)}
    return model, inputs


def bert_small():  # Google's BERT-Small: 4 layers, hidden 512
    return _bert(512, 4, 8, 2048, 30522)


def minilm_l6():  # all-MiniLM-L6-v2's architecture: 6 layers, hidden 384
    return _bert(384, 6, 12, 1536, 30522)


MODELS = {"resnet18": resnet18, "bert_small": bert_small, "minilm_l6": minilm_l6}


def _leaves(out):
    import torch.utils._pytree as pytree

    return [t.detach().float().numpy() for t in pytree.tree_leaves(out)]


def main(names):
    import torch

    import ttpack
    import ttpack.runtime as rt
    from ttpack.archive.reader import read_archive
    from ttpack.estimate import estimate_program
    from ttpack.targets import get_target

    print("| model | weights | fidelity | pearson vs f32 | max rel err | " +
          " | ".join(f"{c} est. ms | {c} DRAM MB | {c} L1 KB/core" for c in CHIPS) + " | build s |")
    print("|---" * (6 + 3 * len(CHIPS)) + "|")
    tmp = Path(tempfile.mkdtemp())
    for name in names or MODELS:
        model, inputs = MODELS[name]()
        with torch.no_grad():
            want = _leaves(model(**inputs) if isinstance(inputs, dict) else model(*inputs))
        bf16 = copy.deepcopy(model).to(torch.bfloat16)
        bf16_inputs = ({k: v for k, v in inputs.items()} if isinstance(inputs, dict)
                       else [x.to(torch.bfloat16) for x in inputs])
        feed = list(bf16_inputs.values()) if isinstance(bf16_inputs, dict) else bf16_inputs
        feed = [x.float().numpy() if x.is_floating_point() else x.numpy() for x in feed]
        for fmt, weight_dtype in FORMATS.items():
            for fidelity in FIDELITIES:
                options = {"optimization_level": 2, "math_fidelity": fidelity}
                if weight_dtype:
                    options["experimental_weight_dtype"] = weight_dtype
                row, t0 = [], time.perf_counter()
                for chip in CHIPS:
                    path = tmp / f"{name}-{fmt}-{fidelity}-{chip}.ttpack"
                    ttpack.build(bf16, bf16_inputs, output=path, target=chip, options=options, verify=False)
                    contents = read_archive(path)
                    if chip == CHIPS[0]:  # the numerics are the same for every chip
                        got = rt.load(path)(*feed)
                        got = list(got) if isinstance(got, tuple) else [got]
                        g = np.concatenate([np.asarray(x, np.float64).ravel() for x in got])
                        w = np.concatenate([np.asarray(x, np.float64).ravel() for x in want])
                        pearson = np.corrcoef(g, w)[0, 1]
                        rel = np.max(np.abs(g - w)) / np.max(np.abs(w))
                    est = estimate_program(contents.programs[0], get_target(chip))
                    plan = contents.metadata["programs"][0]["memory_plan"]
                    row += [f"{est['total_seconds'] * 1e3:.3f}", f"{plan['dram_peak_bytes'] / 1e6:.1f}",
                            f"{plan['l1_peak_bytes_per_core'] / 1e3:.1f}"]
                print(f"| {name} | {fmt} | {fidelity} | {pearson:.6f} | {rel:.2e} | " + " | ".join(row) +
                      f" | {time.perf_counter() - t0:.1f} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
