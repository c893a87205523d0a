"""The dynamo backend "tt" (ttpack/torch/dynamo.py) on CPU tensors, against eager PyTorch.

Tolerances: target cpu computes in float32, so results match eager to
float32 accumulation-order error (1e-5 relative). The default target n150
emulates the chip's bfloat16 storage, so those results are compared by
Pearson correlation (>= 0.999) and a relative error bound of a few bfloat16
steps (5e-2 of the output's largest magnitude).
"""

from __future__ import annotations

import importlib.util
import re
import warnings

import msgpack
import numpy as np
import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("torch_xla") is None, reason="needs torch and torch_xla")

import torch  # noqa: E402

from ttpack.compiler.options import unknown_key_message  # noqa: E402
from ttpack.torch import dynamo  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_dynamo(monkeypatch):
    """Each test compiles from scratch, for the default target unless it says otherwise."""
    monkeypatch.delenv("TTPACK_TARGET", raising=False)
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.fixture
def builds(monkeypatch):
    """The ttpack builds the backend runs: a list of the targets they were for."""
    seen = []
    real = dynamo.compile_archive

    def counting(*args, **kwargs):
        seen.append(kwargs["target"])
        return real(*args, **kwargs)

    monkeypatch.setattr(dynamo, "compile_archive", counting)
    return seen


@pytest.fixture
def graphs():
    """A backend that is "tt" and keeps the CompiledGraphs it returns."""
    kept = []

    def backend(gm, example_inputs, **kwargs):
        kept.append(dynamo.tt_backend(gm, example_inputs, **kwargs))
        return kept[-1]

    backend.kept = kept
    return backend


def _close_bf16(got: torch.Tensor, want: torch.Tensor):
    g, w = got.detach().double().flatten().numpy(), want.detach().double().flatten().numpy()
    assert got.shape == want.shape and got.dtype == want.dtype
    assert np.corrcoef(g, w)[0, 1] >= 0.999
    assert np.abs(g - w).max() <= 5e-2 * np.abs(w).max()


class ConvNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.fc = torch.nn.Linear(8 * 8 * 8, 10)

    def forward(self, x):
        y = torch.relu(self.bn(self.conv(x)))
        return self.fc(y.flatten(1))


def _convnet():
    torch.manual_seed(0)
    model = ConvNet().eval()
    with torch.no_grad():  # running statistics other than 0 and 1, so batch norm does something
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.5, 2.0)
    return model


def test_model_compile_runs_on_ttpack_for_n150_by_default(builds):
    model, x = _convnet(), torch.randn(2, 3, 8, 8)
    want = model(x)
    model.compile(backend="tt")
    got = model(x)
    assert builds == ["n150"]
    _close_bf16(got, want)
    assert not torch.equal(got, want)  # bfloat16 storage: the n150 result is not float32's


def test_torch_compile_with_target_cpu_matches_eager_in_float32(builds):
    model, x = _convnet(), torch.randn(2, 3, 8, 8)
    compiled = torch.compile(model, backend="tt", options={"target": "cpu"})
    with torch.no_grad():
        got, want = compiled(x), model(x)
    assert builds == ["cpu"]
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert not got.requires_grad


def test_target_from_environment(builds, monkeypatch, graphs):
    monkeypatch.setenv("TTPACK_TARGET", "p150")
    model, x = _convnet(), torch.randn(1, 3, 8, 8)
    _close_bf16(torch.compile(model, backend=graphs)(x), model(x))
    assert builds == ["p150"]
    (graph,) = graphs.kept
    (executable,) = graph._executables.values()
    assert executable.program.target == "p150" and executable.program.emulated


def test_graph_break_runs_each_graph_on_ttpack_and_python_between(builds):
    w = torch.randn(6, 6)

    def f(x):
        y = torch.tanh(x @ w)
        if y.sum().item() > 0:  # data-dependent Python branch: a graph break
            return torch.sigmoid(y) * 3
        return y - 1

    compiled = torch.compile(f, backend="tt", options={"target": "cpu"})
    for sign in (1.0, -1.0):
        x = sign * torch.rand(4, 6) @ torch.linalg.inv(w)  # tanh(x @ w) has the sign of `sign`
        torch.testing.assert_close(compiled(x), f(x), rtol=1e-5, atol=1e-5)
    # the graph before the break, then one per branch taken
    assert builds == ["cpu"] * 3


def test_print_graph_break(builds, capsys):
    def f(x):
        y = x * 2 + 1
        print("between the graphs")
        return torch.exp(y).sum(0)

    x = torch.randn(3, 5)
    got = torch.compile(f, backend="tt", options={"target": "cpu"})(x)
    torch.testing.assert_close(got, torch.exp(x * 2 + 1).sum(0), rtol=1e-5, atol=1e-5)
    assert "between the graphs" in capsys.readouterr().out
    assert len(builds) == 2


def test_new_shape_compiles_again_and_known_shapes_do_not(builds):
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(), torch.nn.Linear(16, 4)).eval()
    compiled = torch.compile(model, backend="tt", options={"target": "cpu"})
    xs = {n: torch.randn(n, 8) for n in (2, 5, 7)}
    with torch.no_grad():
        for n in (2, 5, 5, 7, 2, 7):
            torch.testing.assert_close(compiled(xs[n]), model(xs[n]), rtol=1e-5, atol=1e-5)
    # one static build per batch size; dynamo's dynamic-shape graph (after
    # the first recompile) is specialized to each concrete shape it sees
    assert len(builds) == 3


def test_compile_option_reaches_the_compiler(graphs):
    model, x = _convnet(), torch.randn(2, 3, 8, 8)
    want = model(x)
    plain = torch.compile(model, backend="tt")(x)
    torch._dynamo.reset()
    bf4 = torch.compile(model, backend=graphs, options={"experimental_weight_dtype": "bfp_bf4"})(x)
    (graph,) = graphs.kept
    (executable,) = graph._executables.values()
    meta = msgpack.unpackb(executable.program.metadata_bytes)
    assert meta["options"] == {"experimental_weight_dtype": "bfp_bf4"}
    assert meta["compile_options"]["weight_dtype"] == "bfloat4_b"
    # 4-bit weights move the result well past bfloat16's rounding, but not off the model
    err = lambda y: (y - want).abs().max().item()  # noqa: E731
    assert err(bf4) > 2 * err(plain)
    assert np.corrcoef(bf4.detach().flatten().numpy(), want.detach().flatten().numpy())[0, 1] > 0.95


def test_unknown_option_and_target_give_ttpack_builds_errors():
    model, x = _convnet(), torch.randn(1, 3, 8, 8)
    with pytest.raises(Exception, match=re.escape(unknown_key_message(["no_such_option"]))):
        torch.compile(model, backend="tt", options={"no_such_option": "true"})(x)
    torch._dynamo.reset()
    with pytest.raises(Exception, match="unknown target 'n151'; choose one of cpu, n150"):
        torch.compile(model, backend="tt", options={"target": "n151"})(x)
    torch._dynamo.reset()
    with pytest.raises(Exception, match=r"optimization_level=7 is not valid; allowed: 0/1/2"):
        torch.compile(model, backend="tt", options={"optimization_level": 7})(x)


def test_unsupported_op_is_ttpack_builds_error_located_in_the_users_code():
    class Angles(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4, 4)

        def forward(self, x):
            y = self.lin(x)
            return torch.atan2(y, y + 1) + torch.sin(y)

    with pytest.raises(Exception) as e:
        torch.compile(Angles().eval(), backend="tt")(torch.randn(2, 4))
    (line,) = [ln for ln in str(e.value).splitlines() if "stablehlo.atan2" in ln and " at " in ln]
    assert "test_dynamo.py:" in line and "in forward" in line and "torch atan2" in line
    assert "UnsupportedOpsError: 1 unsupported operation(s)" in str(e.value)


def test_suppress_errors_runs_a_graph_ttpack_cannot_compile_eagerly():
    def f(x):
        return torch.atan2(x, x + 1)  # no ttpack lowering

    x = torch.randn(3, 4)
    with torch._dynamo.config.patch(suppress_errors=True):
        got = torch.compile(f, backend="tt")(x)
    torch.testing.assert_close(got, f(x), rtol=0, atol=0)


def test_backward_says_inference_only_and_no_grad_outputs_need_none():
    model, x = _convnet(), torch.randn(2, 3, 8, 8, requires_grad=True)
    compiled = torch.compile(model, backend="tt")
    y = compiled(x)  # the tutorial runs without torch.no_grad(): that must work
    assert y.requires_grad
    with pytest.raises(RuntimeError, match="ttpack compiles for inference only"):
        y.sum().backward()
    with torch.no_grad():
        assert not compiled(x).requires_grad


def test_changed_weights_compile_again(builds):
    model = torch.nn.Linear(5, 3).eval()
    compiled = torch.compile(model, backend="tt", options={"target": "cpu"})
    x = torch.randn(4, 5)
    with torch.no_grad():
        compiled(x)
        model.weight.mul_(-2.0)  # in place: the version counter moves
        with pytest.warns(UserWarning, match="weights changed since this graph was compiled"):
            got = compiled(x)
        torch.testing.assert_close(got, model(x), rtol=1e-5, atol=1e-5)
        model.load_state_dict(torch.nn.Linear(5, 3).state_dict())
        with pytest.warns(UserWarning, match="weights changed"):
            torch.testing.assert_close(compiled(x), model(x), rtol=1e-5, atol=1e-5)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            compiled(x)  # unchanged since: no new build
    assert len(builds) == 3


def test_integer_and_bool_outputs_keep_eager_dtypes():
    def f(ids, x):
        return ids * 2 + 1, x > 0, x.argmax(-1)

    ids, x = torch.arange(6, dtype=torch.int64).reshape(2, 3), torch.randn(2, 3)
    got = torch.compile(f, backend="tt", options={"target": "cpu"})(ids, x)
    for g, w in zip(got, f(ids, x)):
        assert g.dtype == w.dtype
        torch.testing.assert_close(g, w)


def test_resnet18_through_the_backend(builds):
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        want = model(x)
        model.compile(backend="tt")
        got = model(x)
    assert builds == ["n150"]
    _close_bf16(got, want)


def test_small_bert_through_the_backend(builds):
    import transformers

    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=500, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=128, max_position_embeddings=64)
    model = transformers.BertModel(config).eval()
    ids = torch.randint(0, 500, (2, 16), generator=torch.Generator().manual_seed(1))
    mask = torch.ones(2, 16, dtype=torch.int64)
    mask[1, 11:] = 0  # a padded second sequence
    with torch.no_grad():
        want = model(input_ids=ids, attention_mask=mask)
        compiled = torch.compile(model, backend="tt", options={"target": "cpu"})
        got = compiled(input_ids=ids, attention_mask=mask)
    torch.testing.assert_close(got.last_hidden_state, want.last_hidden_state, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(got.pooler_output, want.pooler_output, rtol=1e-4, atol=1e-4)
    assert builds and set(builds) == {"cpu"}


@pytest.mark.parametrize("layer", [torch.nn.Dropout(0.5), torch.nn.BatchNorm1d(3)])
def test_training_mode_says_call_eval(layer):
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), layer).train()
    with pytest.raises(Exception, match=r"(?s)runs ops in training mode:.*call model.eval\(\)"):
        torch.compile(model, backend="tt")(torch.randn(5, 4))
    torch._dynamo.reset()
    model.eval()
    x = torch.randn(5, 4)
    with torch.no_grad():
        torch.testing.assert_close(torch.compile(model, backend="tt", options={"target": "cpu"})(x), model(x),
                                   rtol=1e-5, atol=1e-5)


def test_writing_into_an_input_is_refused():
    def f(x):
        x.add_(1)  # the caller's tensor would change in eager mode; an archive cannot do that
        return x * 2

    with pytest.raises(Exception, match="writes in place to input"):
        torch.compile(f, backend="tt")(torch.zeros(3))


# The tutorial's order: compile, then move model and input to torch_xla's
# device. Run in a fresh process, so that no torch_xla runtime state leaks
# into the other tests. torch_xla's own CPU device stands in for the TT
# device of ttpack's plugin: tensors on it reach the backend as XLA tensors.
_XLA_DEVICE_SCRIPT = r"""
import sys
import torch, torch_xla
import torch_xla.core.xla_model as xm
import torch_xla.runtime as xr
from ttpack.torch import dynamo

builds = []
real = dynamo.compile_archive
dynamo.compile_archive = lambda *a, **k: builds.append(k["target"]) or real(*a, **k)

xr.set_device_type(sys.argv[1])
device = xm.xla_device()
torch.manual_seed(0)
class Model(torch.nn.Module):  # a class of the user's: model.compile() does not trace torch.nn's own forwards
    def __init__(self):
        super().__init__()
        self.conv, self.fc = torch.nn.Conv2d(3, 4, 3), torch.nn.Linear(144, 5)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))

model = Model()
input = torch.randn(2, 3, 8, 8)
want = model.eval()(input)
model = model.eval()
model.compile(backend="tt", options={"target": "cpu"})
input = input.to(device); model = model.to(device)
output = model(input)
assert output.device.type == "xla", output.device
output = output.to("cpu")
torch.testing.assert_close(output, want, rtol=1e-5, atol=1e-5)
print("builds", builds)
"""


def test_tensors_on_a_torch_xla_device_run_on_the_host_and_come_back():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", _XLA_DEVICE_SCRIPT, "CPU"], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "builds ['cpu']" in proc.stdout


def test_weights_the_graph_holds_itself_are_watched_too(builds):
    # TT-XLA's torch plugin turns inlining off: parameters are then attributes of the graph, not its inputs
    model = ConvNet().eval()
    compiled = torch.compile(model, backend="tt", options={"target": "cpu"})
    x = torch.randn(2, 3, 8, 8)
    with torch._dynamo.config.patch(inline_inbuilt_nn_modules=False), torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-5, atol=1e-5)
        model.fc.bias.add_(1.0)
        with pytest.warns(UserWarning, match="weights changed"):
            torch.testing.assert_close(compiled(x), model(x), rtol=1e-5, atol=1e-5)
    assert len(builds) == 2


def test_set_custom_compile_options_reach_the_backend(monkeypatch, graphs):
    """The tutorial sets options with torch_xla.set_custom_compile_options,
    which ttpack's PJRT plugin keeps (ttpack.pjrt.custom_compile_options);
    options= given to torch.compile win over them. The plugin's store is
    stood in for here, so the test runs whether or not it is installed."""
    import sys
    import types

    stored = {"experimental_weight_dtype": "bfp_bf8", "target": "p150"}
    monkeypatch.setitem(sys.modules, "ttpack.pjrt", types.SimpleNamespace(custom_compile_options=lambda: stored))
    model, x = _convnet(), torch.randn(1, 3, 8, 8)
    torch.compile(model, backend=graphs, options={"math_fidelity": "hifi2"})(x)
    (graph,) = graphs.kept
    assert graph.target == "p150"
    assert graph.options == {"experimental_weight_dtype": "bfp_bf8", "math_fidelity": "hifi2"}
    (executable,) = graph._executables.values()
    assert msgpack.unpackb(executable.program.metadata_bytes)["compile_options"]["weight_dtype"] == "bfloat8_b"


# TT-XLA's PyTorch template, verbatim but for the model and the check: on
# the TT device of ttpack's torch_xla plugin, with the tutorial's options.
_TT_TUTORIAL_SCRIPT = r"""
import numpy as np
import torch, torchvision
import torch_xla
import torch_xla.core.xla_model as xm
import torch_xla.runtime as xr
from ttpack.torch import dynamo

builds = []
real = dynamo.compile_archive
dynamo.compile_archive = lambda *a, **k: builds.append((k["target"], k["options"])) or real(*a, **k)

torch.manual_seed(0)
model = torchvision.models.resnet18(weights=None)
input = torch.randn(1, 3, 64, 64)
with torch.no_grad():
    want = model.eval()(input)

xr.set_device_type("TT")
device = xm.xla_device()
options = {"enable_optimizer": "true", "enable_memory_layout_analysis": "true",
           "enable_l1_interleaved": "true", "enable_fusing_conv2d_with_multiply_pattern": "true"}
torch_xla.set_custom_compile_options(options)
model = model.eval()
model.compile(backend="tt")
input = input.to(device); model = model.to(device)
output = model(input)
assert output.device.type == "xla", output.device
output = output.to("cpu")
assert builds == [("n150", options)], builds
pearson = np.corrcoef(output.detach().flatten().numpy(), want.flatten().numpy())[0, 1]
assert pearson >= 0.999, pearson
print("ok", pearson)
"""


@pytest.mark.skipif(importlib.util.find_spec("ttpack.pjrt") is None, reason="needs ttpack's PJRT plugin (ttpack.pjrt)")
def test_tutorial_template_on_the_tt_device():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", _TT_TUTORIAL_SCRIPT], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("ok")


def test_dynamic_true_compiles_once_per_concrete_shape(builds):
    model = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.Tanh()).eval()
    compiled = torch.compile(model, backend="tt", dynamic=True, options={"target": "cpu"})
    with torch.no_grad():
        for n in (3, 6, 3):
            x = torch.randn(n, 8)
            torch.testing.assert_close(compiled(x), model(x), rtol=1e-5, atol=1e-5)
    assert len(builds) == 2  # one symbolic graph from dynamo, one static archive per batch size
