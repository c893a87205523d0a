"""Frontends: framework programs -> ttpack IR."""


def is_torch_module(obj) -> bool:
    """True for torch.nn.Module instances, checked without importing torch."""
    return any((c.__module__ or "").startswith("torch") for c in type(obj).__mro__)


def torch_to_numpy(t):
    """A torch tensor (or anything array-like) as a numpy array; bfloat16
    becomes ml_dtypes.bfloat16 (numpy has no bfloat16 of its own)."""
    import numpy as np

    if not hasattr(t, "detach"):
        return np.asarray(t)
    t = t.detach().cpu()
    import torch

    if t.dtype == torch.bfloat16:
        import ml_dtypes

        return t.view(torch.uint16).numpy().view(ml_dtypes.bfloat16)
    return t.numpy()
