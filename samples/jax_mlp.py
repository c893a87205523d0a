"""A two-layer MLP in JAX: the sample `ttpack build` packages.

    ttpack build samples/jax_mlp.py -o mlp.ttpack
"""

import jax
import jax.numpy as jnp
import numpy as np

import ttpack

IN, HIDDEN, OUT, BATCH = 64, 128, 10, 8


def init_params(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)

    def dense(n_in, n_out):
        return {"kernel": (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(np.float32),
                "bias": (0.1 * rng.standard_normal(n_out)).astype(np.float32)}

    return {"dense1": dense(IN, HIDDEN), "dense2": dense(HIDDEN, OUT)}


def mlp(params, x):
    h = jax.nn.relu(x @ params["dense1"]["kernel"] + params["dense1"]["bias"])
    logits = h @ params["dense2"]["kernel"] + params["dense2"]["bias"]
    return jax.nn.softmax(logits, axis=-1)


def ttpack_spec() -> ttpack.BuildSpec:
    x = np.random.default_rng(1).standard_normal((BATCH, IN)).astype(np.float32)
    return ttpack.BuildSpec(fn=mlp, example_inputs=[x], params=init_params())
