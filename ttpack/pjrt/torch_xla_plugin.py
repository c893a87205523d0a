"""The `torch_xla.plugins` entry point TT: `xr.set_device_type("TT")` and
`xm.xla_device()` give a device whose programs ttpack compiles and runs.

torch_xla instantiates the plugin when it is imported (it registers every
installed plugin); that is when `torch_xla.set_custom_compile_options`, which
TT-XLA's tutorials call and upstream torch_xla lacks, is provided. It only
stores options for ttpack's compiles, so other devices are unaffected.
"""

from __future__ import annotations

import os

from torch_xla.experimental import plugins

from . import library_path, load, set_custom_compile_options


def _provide_set_custom_compile_options() -> None:
    import torch_xla

    if not hasattr(torch_xla, "set_custom_compile_options"):
        torch_xla.set_custom_compile_options = set_custom_compile_options


class TtPlugin(plugins.DevicePlugin):
    """ttpack's tt device (one device, emulated on the CPU)."""

    def __init__(self):
        super().__init__()
        _provide_set_custom_compile_options()

    def library_path(self) -> str:
        # torch_xla asks for the library when it creates the TT client, i.e.
        # only when TT is the device type. From then on it hands programs over
        # as StableHLO (as TT-XLA's plugin asks too) rather than HLO, whose
        # conversion keeps ops ttpack's frontend does not read (stablehlo.dot).
        os.environ.setdefault("XLA_STABLEHLO_COMPILE", "1")
        load()  # the compiler must be registered before torch_xla creates its client
        return library_path()

    def physical_chip_count(self) -> int:
        return 1

    def client_create_options(self) -> dict:
        return {"ttpack_client": "torch_xla"}

