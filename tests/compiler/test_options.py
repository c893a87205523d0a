"""The compile option table: TT-XLA's and the tutorials' names, value forms, errors."""

from __future__ import annotations

import pytest

from ttpack.compiler.options import OPTIONS, resolve
from ttpack.errors import BuildError
from ttpack.targets import get_target

N150, CPU = get_target("n150"), get_target("cpu")


def test_defaults():
    opts, given = resolve(None, N150)
    assert given == {}
    assert (opts.optimization_level, opts.l1_activations, opts.weight_dtype, opts.math_fidelity,
            opts.fp32_dest_acc_en, opts.conv2d_multiply_fusion) == (0, "none", None, "hifi4", True, False)


@pytest.mark.parametrize("value", ["true", "True", "1", True, 1])
def test_tutorial_string_and_real_values(value):
    opts, _ = resolve({"enable_optimizer": value}, N150)
    assert opts.optimization_level == 1 and opts.conv2d_multiply_fusion


def test_tutorial_options_as_the_tutorial_passes_them():
    tutorial = {"enable_optimizer": "true", "enable_memory_layout_analysis": "true",
                "enable_l1_interleaved": "true", "enable_fusing_conv2d_with_multiply_pattern": "true"}
    opts, given = resolve(tutorial, N150)
    assert given == {k: True for k in tutorial}
    assert opts.optimization_level == 1 and opts.l1_activations == "sharded" and opts.conv2d_multiply_fusion


@pytest.mark.parametrize("level, l1, fusion", [(0, "none", False), (1, "none", True), (2, "sharded", True)])
def test_optimization_levels(level, l1, fusion):
    for value in (level, str(level)):
        opts, _ = resolve({"optimization_level": value}, N150)
        assert (opts.optimization_level, opts.l1_activations, opts.conv2d_multiply_fusion) == (level, l1, fusion)


def test_l1_interleaved_alone():
    assert resolve({"enable_l1_interleaved": "true"}, N150)[0].l1_activations == "interleaved"


@pytest.mark.parametrize("value, dtype", [("bfp_bf8", "bfloat8_b"), ("bfp_bf4", "bfloat4_b"), ("", None)])
def test_weight_dtype(value, dtype):
    assert resolve({"experimental_weight_dtype": value}, N150)[0].weight_dtype == dtype


def test_fidelity_and_accumulation():
    opts, _ = resolve({"math_fidelity": "LoFi", "fp32_dest_acc_en": "false"}, N150)
    assert opts.math_fidelity == "lofi" and opts.fp32_dest_acc_en is False
    assert resolve({"math_fidelity": "ttnn_default"}, N150)[0].math_fidelity == "hifi4"


def test_const_eval_is_fold_constants():
    assert resolve({"enable_const_eval": "false"}, CPU)[0].fold_constants is False
    with pytest.raises(BuildError, match="contradict"):
        resolve({"enable_const_eval": False, "fold_constants": True}, CPU)


def test_unknown_key_lists_every_key_with_its_values():
    with pytest.raises(BuildError) as e:
        resolve({"enable_turbo": "true"}, N150)
    msg = str(e.value)
    assert "['enable_turbo']" in msg
    for name in OPTIONS:
        assert name in msg
    assert "optimization_level (0/1/2)" in msg and "experimental_weight_dtype (/bfp_bf8/bfp_bf4)" in msg


@pytest.mark.parametrize("key, value", [("optimization_level", 3), ("optimization_level", "high"),
                                        ("math_fidelity", "hifi5"), ("fp32_dest_acc_en", "maybe"),
                                        ("experimental_weight_dtype", "bfp_bf2"), ("optimization_level", True)])
def test_bad_values_name_the_allowed_ones(key, value):
    with pytest.raises(BuildError, match=f"{key}=.* is not valid; allowed: {OPTIONS[key].allowed()}"):
        resolve({key: value}, N150)


def test_chip_options_are_refused_for_the_cpu_target():
    with pytest.raises(BuildError, match=r"\['experimental_weight_dtype'\] apply to Tenstorrent targets only"):
        resolve({"experimental_weight_dtype": "bfp_bf8"}, CPU)
