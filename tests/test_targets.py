"""Target descriptors and `ttpack targets`."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli
from ttpack.targets import TARGETS, TargetError, get_target


def test_chip_figures():
    n150, n300, p150 = (get_target(n) for n in ("n150", "n300", "p150"))
    assert n150.arch == n300.arch == "wormhole_b0" and p150.arch == "blackhole"
    assert n150.cores == 64 and p150.cores == 130 and n300.num_chips == 2
    assert n150.l1_bytes_per_core == 1_499_136 and p150.l1_bytes_per_core == 1_572_864
    assert n150.dram_gbps == 288 and p150.dram_gbps == 512
    # 64 cores x 4096 FLOP/cycle x 1 GHz: 262 TFLOP/s at LoFi, a quarter of that at HiFi4
    assert n150.matmul_tflops("lofi") == pytest.approx(262.1, abs=0.1)
    assert n150.matmul_tflops("hifi4") == pytest.approx(n150.matmul_tflops("lofi") / 4)
    assert p150.matmul_tflops("lofi") > n150.matmul_tflops("lofi")
    assert n150.l1_usable_bytes_per_core < n150.l1_bytes_per_core


def test_unknown_target():
    with pytest.raises(TargetError, match="unknown target 'n151'; choose one of cpu, n150, n300, p150"):
        get_target("n151")


def test_targets_cli_table_and_json():
    table = run_cli("targets").stdout
    for name in TARGETS:
        assert name in table
    assert "wormhole_b0" in table and "blackhole" in table and "8x8" in table and "13x10" in table
    doc = json.loads(run_cli("targets", "--json").stdout)
    assert set(doc) == set(TARGETS)
    assert doc["p150"]["grid"] == [13, 10] and doc["n150"]["peak_matmul_tflops"]["hifi2"] == pytest.approx(131.1)
    assert doc["n150"]["sources"]
