"""Frontends: framework programs -> ttpack IR."""


def is_torch_module(obj) -> bool:
    """True for torch.nn.Module instances, checked without importing torch."""
    return any((c.__module__ or "").startswith("torch") for c in type(obj).__mro__)
