"""The sin·cos function from Tenstorrent's JAX tutorial, packaged for the CPU
runtime (the tutorial runs it with jax.jit(f, backend="tt")).

    ttpack build samples/jax_sincos.py -o sincos.ttpack
"""

import jax.numpy as jnp
import numpy as np

import ttpack


def sin_cos(x, y):
    return jnp.sin(x) * jnp.cos(y)


def ttpack_spec() -> ttpack.BuildSpec:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 32)).astype(np.float32)
    y = rng.standard_normal((32, 32)).astype(np.float32)
    return ttpack.BuildSpec(fn=sin_cos, example_inputs=[x, y])
