"""torch_xla on the tt PJRT plugin ("TT" device): tensor ops and modules
against PyTorch on the CPU, set_custom_compile_options reaching ttpack's
compiler, and a clean exit. Each test is its own process: torch_xla's device
type is fixed per process."""

from __future__ import annotations

import pytest

pytest.importorskip("torch_xla")

from pjrt_helpers import run_script  # noqa: E402

TUTORIAL = """
    import json
    import torch
    import torch_xla
    import torch_xla.core.xla_model as xm
    import torch_xla.runtime as xr

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(8 * 6 * 6, 10))
    input = torch.randn(2, 3, 6, 6)
    with torch.no_grad():
        expected = model(input)

    # TT-XLA's single-chip tutorial (model.compile(backend="tt") is the dynamo backend's, not the device's)
    xr.set_device_type("TT")
    device = xm.xla_device()
    options = {"enable_optimizer": "true", "enable_memory_layout_analysis": "true",
               "enable_l1_interleaved": "true", "enable_fusing_conv2d_with_multiply_pattern": "true"}
    torch_xla.set_custom_compile_options(options)
    model = model.eval()
    input = input.to(device); model = model.to(device)
    with torch.no_grad():
        output = model(input)
    output = output.to("cpu")

    a = torch.arange(6.0).reshape(2, 3)
    b = torch.full((2, 3), 0.5)
    on_tt = (a.to(device) * b.to(device) + torch.sin(a.to(device))).to("cpu")
    argmax = torch.argmax(expected.to(device), dim=1).to("cpu")
    import ttpack.pjrt
    print(json.dumps({
        "device": str(device), "type": xr.device_type(),
        "module_error": (output - expected).abs().max().item(),
        "ops_error": (on_tt - (a * b + torch.sin(a))).abs().max().item(),
        "argmax": argmax.tolist(), "argmax_expected": torch.argmax(expected, dim=1).tolist(),
        "argmax_dtype": str(argmax.dtype), "compiles": ttpack.pjrt.compile_count(),
    }))
"""


def test_tutorial_template_on_the_TT_device_matches_cpu():
    out = run_script(TUTORIAL)
    assert out["device"] == "xla:0" and out["type"] == "TT"
    # activations in float32 on n150 (ttpack's chip emulation keeps float32 for float32 models)
    assert out["module_error"] < 1e-4
    assert out["ops_error"] < 1e-5
    assert out["argmax"] == out["argmax_expected"] and out["argmax_dtype"] == "torch.int64"
    assert out["compiles"] >= 3  # lazy graphs: the module, the tensor ops, the argmax


OPTIONS = """
    import json
    import torch
    import torch_xla
    import torch_xla.core.xla_model as xm
    import torch_xla.runtime as xr

    xr.set_device_type("TT")
    device = xm.xla_device()
    g = torch.Generator().manual_seed(0)
    a = torch.randn(16, 64, generator=g).to(torch.bfloat16)
    b = torch.randn(64, 16, generator=g).to(torch.bfloat16)
    exact = a.double() @ b.double()

    def error(shape_tag):
        # a fresh shape per run, so torch_xla compiles anew instead of reusing its cached graph
        x, y = a[:shape_tag], b
        got = (x.to(device) @ y.to(device)).to("cpu").double()
        return ((got - exact[:shape_tag]).abs().max() / exact.abs().max()).item()

    default = error(16)
    torch_xla.set_custom_compile_options({"math_fidelity": "lofi"})
    lofi = error(15)
    torch_xla.set_custom_compile_options({"no_such_option": "true"})
    try:
        error(14)
        message = None
    except RuntimeError as e:
        message = str(e)
    torch_xla.set_custom_compile_options({})
    try:
        torch.randn(3, device=device).to("cpu")  # jax.random-style uint64 counters: unsupported
        unsupported = None
    except RuntimeError as e:
        unsupported = str(e)
    print(json.dumps({"default": default, "lofi": lofi, "message": message, "unsupported": unsupported}))
"""


def test_set_custom_compile_options_reach_ttpacks_compiler():
    from ttpack.compiler.options import resolve
    from ttpack.errors import BuildError
    from ttpack.targets import get_target

    out = run_script(OPTIONS)
    assert out["default"] < 0.004  # bfloat16 rounding of the result
    assert out["lofi"] > 0.015     # LoFi keeps only the operands' top bits
    with pytest.raises(BuildError) as build_error:
        resolve({"no_such_option": "true"}, get_target("n150"))
    assert out["message"] is not None and str(build_error.value) in out["message"]
    assert "unsupported operation(s) (stablehlo.convert)" in out["unsupported"]
    assert "XLA_IR_DEBUG=1 XLA_HLO_DEBUG=1" in out["unsupported"]  # how to get Python locations


def test_unsupported_ops_name_the_python_line_with_torch_xla_debug_info():
    out = run_script("""
        import json
        import torch
        import torch_xla.core.xla_model as xm
        import torch_xla.runtime as xr
        xr.set_device_type("TT")
        try:
            torch.randn(3, device=xm.xla_device()).to("cpu")
        except RuntimeError as e:
            print(json.dumps({"message": str(e)}))
    """, env={"XLA_IR_DEBUG": "1", "XLA_HLO_DEBUG": "1"})
    assert "stablehlo.convert at <string>:8:0 (aten__normal)" in out["message"]


def test_other_devices_are_unaffected_by_the_plugin():
    out = run_script("""
        import json
        import torch, torch_xla
        import torch_xla.core.xla_model as xm
        import torch_xla.runtime as xr
        xr.set_device_type("CPU")
        torch_xla.set_custom_compile_options({"math_fidelity": "lofi"})  # provided, and inert off TT
        device = xm.xla_device()
        out = (torch.arange(4.0).to(device) * 2).to("cpu")
        import ttpack.pjrt
        print(json.dumps({"out": out.tolist(), "type": xr.device_type(), "compiles": ttpack.pjrt.compile_count()}))
    """)
    assert (out["out"], out["type"], out["compiles"]) == ([0.0, 2.0, 4.0, 6.0], "CPU", 0)


MODELS = """
    import json
    import torch, torchvision, transformers
    import torch_xla.core.xla_model as xm
    import torch_xla.runtime as xr

    xr.set_device_type("TT")
    device = xm.xla_device()
    torch.manual_seed(0)
    resnet = torchvision.models.resnet18(num_classes=10).eval()
    image = torch.randn(1, 3, 64, 64)
    config = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=32)
    bert = transformers.BertModel(config).eval()
    ids = torch.randint(0, 100, (2, 12))
    mask = torch.ones(2, 12, dtype=torch.long)
    mask[1, 8:] = 0
    flags = torch.tensor([[True, False], [True, True]])
    with torch.no_grad():
        want_resnet = resnet(image)
        want_bert = bert(input_ids=ids, attention_mask=mask).last_hidden_state
        got_resnet = resnet.to(device)(image.to(device)).to("cpu")
        # BERT checks mask.all() on the device first: a boolean reduce torch_xla wraps in a select
        got_bert = bert.to(device)(input_ids=ids.to(device), attention_mask=mask.to(device)).last_hidden_state.to("cpu")
    alls = [bool(torch.all(flags.to(device)[i]).to("cpu")) for i in range(2)]
    print(json.dumps({"resnet": (got_resnet - want_resnet).abs().max().item(),
                      "resnet_scale": want_resnet.abs().max().item(),
                      "bert": (got_bert - want_bert).abs().max().item(), "alls": alls}))
"""


@pytest.mark.parametrize("target, bert_tolerance", [("cpu", 1e-5), ("n150", 2e-2)])
def test_resnet18_and_bert_on_the_TT_device_match_cpu(target, bert_tolerance):
    """float32 models: the cpu target computes as PyTorch does; n150's
    emulated numerics (its approximations of exp, erf, reciprocals) stay
    within about 1% on BERT's unit-scale hidden states."""
    out = run_script(MODELS, env={"TTPACK_TARGET": target})
    assert out["resnet"] < 1e-5 * max(1.0, out["resnet_scale"])
    assert out["bert"] < bert_tolerance
    assert out["alls"] == [False, True]
