"""Per-op results through the whole PyTorch path: an nn.Module is exported
(torch.export, eval mode), converted to StableHLO by torch_xla, compiled by
ttpack.build into a .ttpack archive, run by the C runtime and compared with
what the module itself computes under torch.no_grad() on the same seeded
random inputs.

Every test names the StableHLO op(s) torch_xla must emit for it to be
meaningful (checked while the build reads the module, see `torch_build`);
COVERED collects them for test_ops_jax.test_every_lowering_is_covered. Where
a fusion pass should turn the module into one TTNN op (conv2d with batch norm
and activation folded in, linear + gelu, softmax, layer_norm, avg_pool2d),
the archive's op list is checked too.

Tolerances: float32 rtol 1e-4, atol 1e-5 throughout. Convolutions, matmuls
and reductions sum in a different order from PyTorch's kernels (oneDNN /
MKL blocking, the runtime accumulating in double), so results differ in the
last bits, more with more terms; elementwise ops are well inside this.
Integers and bools are compared exactly; int64 results come back as int32
(ttpack computes integers as int32, like tt-mlir).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

HAVE_TORCH = importlib.util.find_spec("torch") is not None and importlib.util.find_spec("torch_xla") is not None
if HAVE_TORCH:
    import torch
    import torch.nn.functional as F
    from torch import nn

pytestmark = pytest.mark.skipif(not HAVE_TORCH, reason="needs torch and torch_xla (pip install 'ttpack[torch]')")

RTOL, ATOL = 1e-4, 1e-5
ACT_NONE, ACT_RELU, ACT_RELU6, ACT_GELU, ACT_GELU_TANH = 0, 1, 2, 3, 4  # ttpack.compiler.ops.ACTIVATIONS

# StableHLO op names the tests below assert torch_xla emits (static, so that
# test_ops_jax can read it without running these tests).
COVERED: set[str] = set()


def covers(*ops: str) -> tuple[str, ...]:
    COVERED.update(ops)
    return ops


# --- building and checking ----------------------------------------------------------------


def _stablehlo_names(module) -> set[str]:
    """Every op name in a StableHLO module (regions and private functions
    included), plus '@target' for each custom_call."""
    from jaxlib.mlir import ir as mlir

    names: set[str] = set()

    def walk(op):
        name = op.operation.name
        names.add(name)
        if name == "stablehlo.custom_call":
            names.add("@" + mlir.StringAttr(op.attributes["call_target_name"]).value)
        for region in op.operation.regions:
            for block in region.blocks:
                for inner in block.operations:
                    walk(inner)

    for op in module.body.operations:
        walk(op)
    return names


class Built:
    def __init__(self, model, path, emitted):
        self.model, self.path, self.emitted = model, path, emitted

    @property
    def ops(self) -> list[dict]:
        from ttpack.archive.reader import read_archive

        (program,) = read_archive(self.path).programs
        return program["ops"]

    @property
    def op_names(self) -> list[str]:
        return [op["op"] for op in self.ops]

    def compute_ops(self) -> list[dict]:
        """The ops other than data movement (reshape, permute)."""
        return [op for op in self.ops if op["op"] not in ("reshape", "permute")]


@pytest.fixture
def torch_build(tmp_path, monkeypatch):
    """torch_build(module, example_inputs) -> Built: the archive built by
    ttpack.build, loaded by the runtime, and the StableHLO op names torch_xla
    emitted for it (recorded as the frontend reads the module)."""
    import ttpack
    import ttpack.runtime as rt
    from ttpack.frontends import stablehlo

    real_import = stablehlo.import_module
    seen: list[set[str]] = []

    def recording_import(module, *args, **kw):
        seen.append(_stablehlo_names(module))
        return real_import(module, *args, **kw)

    monkeypatch.setattr(stablehlo, "import_module", recording_import)
    counter = iter(range(10**6))

    def build(module, example_inputs):
        path = tmp_path / f"m{next(counter)}.ttpack"
        seen.clear()
        ttpack.build(module, example_inputs, output=path)
        assert len(seen) == 1
        return Built(rt.load(path), path, seen[0])

    return build


def eager(module, inputs):
    module.eval()
    with torch.no_grad():
        return module(**inputs) if isinstance(inputs, dict) else module(*inputs)


def to_numpy(x) -> np.ndarray:
    return x.detach().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def assert_close(got: np.ndarray, want, what=""):
    want = to_numpy(want)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    if want.dtype == np.int64:
        assert got.dtype == np.int32, (what, got.dtype)  # narrowed, values must be equal
        np.testing.assert_array_equal(got.astype(np.int64), want, err_msg=what)
    elif want.dtype.kind in "biu":
        assert got.dtype == want.dtype, (what, got.dtype, want.dtype)
        np.testing.assert_array_equal(got, want, err_msg=what)
    else:
        assert got.dtype == np.float32 and want.dtype == np.float32, (what, got.dtype, want.dtype)
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=what)


def check(torch_build, module, inputs, ops=()) -> Built:
    """Builds module, asserts torch_xla emitted `ops`, runs the archive on the
    same inputs and compares every output with the module's own."""
    want = eager(module, inputs)
    built = torch_build(module, inputs)
    missing = [op for op in ops if op not in built.emitted]
    assert not missing, f"torch_xla did not emit {missing} for {module}: {sorted(built.emitted)}"
    if isinstance(inputs, dict):
        got = list(built.model.run({k: to_numpy(v) for k, v in inputs.items()}).values())
    else:
        got = built.model(*[to_numpy(x) for x in inputs])
        got = list(got) if isinstance(got, tuple) else [got]
    wants = list(want.values()) if isinstance(want, dict) else list(want) if isinstance(want, tuple) else [want]
    assert len(got) == len(wants)
    for i, (g, w) in enumerate(zip(got, wants)):
        assert_close(g, w, f"output {i}")
    return built


def randn(*shape):
    return torch.randn(*shape, dtype=torch.float32)


def with_running_stats(bn):
    """A BatchNorm with non-trivial running statistics and affine parameters."""
    n = bn.num_features
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(n) * 0.5)
        bn.running_var.copy_(torch.rand(n) * 2 + 0.25)
        bn.weight.copy_(torch.randn(n))
        bn.bias.copy_(torch.randn(n))
    return bn


class Fn(nn.Module if HAVE_TORCH else object):
    """A module around a function of tensors (no parameters)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *xs):
        return self.fn(*xs)


# --- convolution ------------------------------------------------------------------------------

covers("stablehlo.convolution")
CONVS = [
    # name, in, out, kernel, stride, padding, dilation, groups, bias, input H x W
    ("k3-s1-p0", 3, 4, 3, 1, 0, 1, 1, True, (7, 7)),
    ("k3-s2-p1-nobias-odd", 3, 5, 3, 2, 1, 1, 1, False, (9, 7)),
    ("k3-same-dilation2", 2, 4, 3, 1, "same", 2, 1, True, (8, 9)),
    ("k5-s2-p2", 3, 4, 5, 2, 2, 1, 1, True, (11, 9)),
    ("k1", 6, 3, 1, 1, 0, 1, 1, True, (5, 6)),
    ("groups2", 4, 6, 3, 1, 1, 1, 2, True, (6, 6)),
    ("depthwise-s2", 3, 3, 3, 2, 1, 1, 3, True, (7, 8)),
    ("depthwise-x2-same-nobias", 4, 8, 3, 1, "same", 1, 4, False, (5, 5)),
]


@pytest.mark.parametrize("name,cin,cout,k,stride,padding,dilation,groups,bias,hw", CONVS, ids=[c[0] for c in CONVS])
def test_conv2d(torch_build, name, cin, cout, k, stride, padding, dilation, groups, bias, hw):
    torch.manual_seed(0)
    conv = nn.Conv2d(cin, cout, k, stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias)
    built = check(torch_build, conv, [randn(2, cin, *hw)], ["stablehlo.convolution"])
    # the bias is folded into the one conv2d; only layout permutes around it
    assert [op["op"] for op in built.compute_ops()] == ["conv2d"], built.op_names
    (op,) = built.compute_ops()
    assert op["attrs"]["groups"] == [groups] and op["attrs"]["activation"] == [ACT_NONE], op


covers("stablehlo.batch_norm_inference")
CONV_BN_ACTS = [("relu", lambda: nn.ReLU(), ACT_RELU), ("relu6", lambda: nn.ReLU6(), ACT_RELU6)]


def conv_bn_act(act, conv_bias):
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=conv_bias), with_running_stats(nn.BatchNorm2d(8)), act())


def assert_one_conv2d(built, activation):
    compute = built.compute_ops()
    assert [op["op"] for op in compute] == ["conv2d"], built.op_names
    assert compute[0]["attrs"]["activation"] == [activation], compute


@pytest.mark.parametrize("conv_bias", [False, True], ids=["conv-nobias", "conv-bias"])
@pytest.mark.parametrize("name,act,code", CONV_BN_ACTS, ids=[a[0] for a in CONV_BN_ACTS])
def test_conv_batchnorm_activation(torch_build, name, act, code, conv_bias):
    built = check(torch_build, conv_bn_act(act, conv_bias), [randn(2, 3, 6, 5)],
                  ["stablehlo.convolution", "stablehlo.batch_norm_inference"])
    if not conv_bias:  # folded into ONE conv2d with the activation (see below for conv-bias)
        assert_one_conv2d(built, code)


def test_conv_with_bias_batchnorm_relu_fuses(torch_build):
    built = torch_build(conv_bn_act(nn.ReLU, True), [randn(2, 3, 6, 5)])
    assert_one_conv2d(built, ACT_RELU)


def test_small_cnn(torch_build):
    # Conv-BN-ReLU, pool, Conv-BN-ReLU6, global pool, flatten, linear: the
    # activations stay NHWC between the convolutions.
    torch.manual_seed(2)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), with_running_stats(nn.BatchNorm2d(8)), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), with_running_stats(nn.BatchNorm2d(8)), nn.ReLU6(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5))
    built = check(torch_build, net, [randn(2, 3, 8, 8)], ["stablehlo.convolution", "stablehlo.reduce_window"])
    names = built.op_names
    assert names.count("conv2d") == 2 and names.count("max_pool2d") == 1 and names.count("linear") == 1, names
    assert not {"batch_norm", "maximum", "minimum", "relu"} & set(names), names
    assert [op["attrs"]["activation"] for op in built.ops if op["op"] == "conv2d"] == [[ACT_RELU], [ACT_RELU6]]
    assert names.count("permute") <= 2, names  # into NHWC once; out once (before the flatten)


# --- pooling -------------------------------------------------------------------------------------

covers("stablehlo.reduce_window", "stablehlo.pad")
MAX_POOLS = [
    ("k2", dict(kernel_size=2), (6, 6)),
    ("k2-odd", dict(kernel_size=2), (7, 5)),
    ("k3-s2-p1", dict(kernel_size=3, stride=2, padding=1), (7, 8)),
    ("k3-s1-p1", dict(kernel_size=3, stride=1, padding=1), (5, 5)),
    ("k2x3-s1x2", dict(kernel_size=(2, 3), stride=(1, 2)), (5, 7)),
]


@pytest.mark.parametrize("name,kw,hw", MAX_POOLS, ids=[p[0] for p in MAX_POOLS])
def test_max_pool2d(torch_build, name, kw, hw):
    torch.manual_seed(3)
    built = check(torch_build, nn.MaxPool2d(**kw, ceil_mode=False), [randn(2, 3, *hw)], ["stablehlo.reduce_window"])
    if not kw.get("padding"):  # (padded: see below)
        assert [op["op"] for op in built.compute_ops()] == ["max_pool2d"], built.op_names
    else:
        assert built.op_names.count("max_pool2d") == 1, built.op_names


def test_max_pool2d_padding_fuses(torch_build):
    built = torch_build(nn.MaxPool2d(3, stride=2, padding=1), [randn(2, 3, 7, 8)])
    assert [op["op"] for op in built.compute_ops()] == ["max_pool2d"], built.op_names


AVG_POOLS = [
    ("k2", dict(kernel_size=2), (6, 6)),
    ("k3-s2-p1-include", dict(kernel_size=3, stride=2, padding=1, count_include_pad=True), (7, 6)),
    ("k3-s2-p1-exclude", dict(kernel_size=3, stride=2, padding=1, count_include_pad=False), (7, 6)),
    ("k3-s1-p1-exclude", dict(kernel_size=3, stride=1, padding=1, count_include_pad=False), (5, 5)),
    ("k2x3-p1x1-exclude", dict(kernel_size=(2, 3), stride=(2, 1), padding=1, count_include_pad=False), (5, 4)),
]


@pytest.mark.parametrize("name,kw,hw", AVG_POOLS, ids=[p[0] for p in AVG_POOLS])
def test_avg_pool2d(torch_build, name, kw, hw):
    torch.manual_seed(4)
    built = check(torch_build, nn.AvgPool2d(**kw), [randn(2, 3, *hw)], ["stablehlo.reduce_window"])
    compute = built.compute_ops()
    assert [op["op"] for op in compute] == ["avg_pool2d"], built.op_names
    assert compute[0]["attrs"]["count_include_pad"] == [int(kw.get("count_include_pad", True))], compute


def test_adaptive_avg_pool_to_1(torch_build):
    torch.manual_seed(5)
    check(torch_build, nn.AdaptiveAvgPool2d(1), [randn(2, 4, 5, 3)])


# --- normalization -------------------------------------------------------------------------------


def test_batch_norm2d_eval(torch_build):
    torch.manual_seed(6)
    built = check(torch_build, with_running_stats(nn.BatchNorm2d(5, eps=1e-3)), [randn(2, 5, 4, 3)],
                  ["stablehlo.batch_norm_inference"])
    compute = built.compute_ops()
    assert [op["op"] for op in compute] == ["batch_norm"], built.op_names
    assert compute[0]["attrs"]["epsilon"] == [pytest.approx(1e-3)], compute


covers("stablehlo.batch_norm_training")
LAYER_NORMS = [
    ("affine-2d", dict(normalized_shape=8), (4, 8)),
    ("affine-3d", dict(normalized_shape=8, eps=1e-6), (2, 3, 8)),
    ("no-affine-3d", dict(normalized_shape=6, elementwise_affine=False), (2, 3, 6)),
    ("no-bias", dict(normalized_shape=5, bias=False), (3, 5)),
]


@pytest.mark.parametrize("name,kw,shape", LAYER_NORMS, ids=[n[0] for n in LAYER_NORMS])
def test_layer_norm(torch_build, name, kw, shape):
    torch.manual_seed(7)
    ln = nn.LayerNorm(**kw)
    if ln.weight is not None:
        with torch.no_grad():
            ln.weight.copy_(torch.randn_like(ln.weight))
            if ln.bias is not None:
                ln.bias.copy_(torch.randn_like(ln.bias))
    built = check(torch_build, ln, [randn(*shape) * 3 + 1], ["stablehlo.batch_norm_training"])
    (op,) = [op for op in built.ops if op["op"] == "layer_norm"]
    assert op["attrs"]["epsilon"] == [pytest.approx(kw.get("eps", 1e-5))], op
    assert "sum" not in built.op_names, built.op_names  # the statistics are not computed by hand


@pytest.mark.parametrize("affine", [True, False], ids=["affine", "no-affine"])
def test_layer_norm_is_one_op(torch_build, affine):
    built = torch_build(nn.LayerNorm(8, elementwise_affine=affine), [randn(4, 8)])
    assert [op["op"] for op in built.compute_ops()] == ["layer_norm"], built.op_names


def test_layer_norm_over_two_dims(torch_build):
    torch.manual_seed(8)
    ln = nn.LayerNorm((3, 4))
    with torch.no_grad():
        ln.weight.copy_(torch.randn(3, 4))
        ln.bias.copy_(torch.randn(3, 4))
    check(torch_build, ln, [randn(2, 3, 4)], ["stablehlo.batch_norm_training"])


# --- activations, softmax, linear -------------------------------------------------------------------

covers("stablehlo.custom_call")
GELUS = [("exact", "none", ["stablehlo.custom_call", "@mhlo.erf"], 0),
         ("tanh", "tanh", ["stablehlo.tanh"], 1)]


@pytest.mark.parametrize("name,approximate,ops,flag", GELUS, ids=[g[0] for g in GELUS])
def test_gelu(torch_build, name, approximate, ops, flag):
    torch.manual_seed(9)
    built = check(torch_build, nn.GELU(approximate=approximate), [randn(3, 7) * 3], ops)
    compute = built.compute_ops()
    assert [op["op"] for op in compute] == ["gelu"], built.op_names
    assert compute[0]["attrs"]["approximate"] == [flag], compute


def linear_act(act):
    torch.manual_seed(10)
    layer = {"gelu": lambda: nn.GELU(), "gelu-tanh": lambda: nn.GELU("tanh"), "relu": lambda: nn.ReLU()}[act]()
    return nn.Sequential(nn.Linear(6, 5), layer)


def assert_one_linear(built, activation):
    compute = built.compute_ops()
    assert [op["op"] for op in compute] == ["linear"], built.op_names
    assert compute[0]["attrs"]["activation"] == [activation], compute


LINEAR_ACTS = [("gelu", ACT_GELU, (2, 3, 6)), ("gelu-tanh", ACT_GELU_TANH, (2, 3, 6)), ("relu", ACT_RELU, (4, 6)),
               ("relu", ACT_RELU, (2, 3, 6))]


@pytest.mark.parametrize("act,code,shape", LINEAR_ACTS, ids=[f"{a}-{len(s)}d" for a, _, s in LINEAR_ACTS])
def test_linear_activation(torch_build, act, code, shape):
    built = check(torch_build, linear_act(act), [randn(*shape)], ["stablehlo.dot_general"])
    if (act, len(shape)) != ("relu", 3):  # one linear with the activation (relu-3d: see below)
        assert_one_linear(built, code)


def test_linear_relu_3d_fuses(torch_build):
    assert_one_linear(torch_build(linear_act("relu"), [randn(2, 3, 6)]), ACT_RELU)


covers("stablehlo.dot_general")
LINEARS = [("2d-bias", (4, 6), True), ("2d-nobias", (4, 6), False), ("3d-bias", (2, 3, 6), True),
           ("3d-nobias", (2, 3, 6), False)]


@pytest.mark.parametrize("name,shape,bias", LINEARS, ids=[x[0] for x in LINEARS])
def test_linear(torch_build, name, shape, bias):
    torch.manual_seed(11)
    built = check(torch_build, nn.Linear(6, 5, bias=bias), [randn(*shape)], ["stablehlo.dot_general"])
    compute = built.compute_ops()
    assert [op["op"] for op in compute] == ["linear"], built.op_names
    assert compute[0]["attrs"]["activation"] == [ACT_NONE], compute


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax(torch_build, dim):
    torch.manual_seed(12)
    x = randn(2, 3, 4) * 4
    built = check(torch_build, nn.Softmax(dim=dim), [x], ["stablehlo.exponential"])
    compute = built.compute_ops()
    assert [op["op"] for op in compute] == ["softmax"], built.op_names
    assert compute[0]["attrs"]["dim"] == [dim % 3], compute


covers("stablehlo.clamp")


@pytest.mark.parametrize("name,make", [("relu6", lambda: nn.ReLU6()), ("hardtanh", lambda: nn.Hardtanh(-0.5, 1.5)),
                                       ("relu", lambda: nn.ReLU())])
def test_clamping_activations(torch_build, name, make):
    torch.manual_seed(13)
    x = randn(3, 8) * 4
    x[0, :4] = torch.tensor([6.0, -0.5, 1.5, 0.0])  # the bounds themselves
    check(torch_build, make(), [x], ["stablehlo.clamp"] if name != "relu" else [])


# --- embedding, argmax, cumsum, pad --------------------------------------------------------------

covers("stablehlo.gather")


def test_embedding_int64_ids(torch_build):
    torch.manual_seed(14)
    emb = nn.Embedding(10, 4)
    ids = torch.tensor([[1, 2, 9], [0, 9, 1]], dtype=torch.int64)
    built = check(torch_build, emb, [ids], ["stablehlo.gather"])
    assert [(s.name, s.dtype) for s in built.model.inputs] == [("input", np.int32)]  # int64 narrowed
    assert "embedding" in built.op_names, built.op_names
    # other ids than the example ones (the runtime takes int64 arrays too)
    other = np.array([[3, 3, 0], [8, 7, 6]], np.int64)
    np.testing.assert_allclose(built.model(other), emb.weight.detach().numpy()[other], rtol=0, atol=0)


def test_embedding_in_a_model(torch_build):
    # token + position embeddings, then a layer norm: as a transformer starts.
    torch.manual_seed(15)

    class Embed(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok, self.pos, self.norm = nn.Embedding(12, 8), nn.Embedding(5, 8), nn.LayerNorm(8)

        def forward(self, ids):
            return self.norm(self.tok(ids) + self.pos(torch.arange(ids.shape[1])))

    check(torch_build, Embed(), [torch.tensor([[4, 11, 0, 4, 7]])], ["stablehlo.gather"])


covers("stablehlo.reduce", "stablehlo.iota")


@pytest.mark.parametrize("dim,keepdim", [(1, False), (0, True), (-1, False)], ids=str)
def test_argmax_argmin(torch_build, dim, keepdim):
    torch.manual_seed(16)
    x = torch.randint(-2, 3, (3, 4, 5)).float()  # many ties: the first index wins
    fn = Fn(lambda x: (torch.argmax(x, dim=dim, keepdim=keepdim), torch.argmin(x, dim=dim, keepdim=keepdim)))
    built = check(torch_build, fn, [x], ["stablehlo.reduce", "stablehlo.iota"])
    assert "argmax" in built.op_names and "argmin" in built.op_names, built.op_names


def test_argmax_int64(torch_build):
    x = torch.tensor([[5, -3, 5, 2], [-7, -7, 0, -9]], dtype=torch.int64)
    check(torch_build, Fn(lambda x: (torch.argmax(x, dim=1), torch.argmin(x, dim=0))), [x], ["stablehlo.reduce"])


@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_cumsum(torch_build, dtype):
    torch.manual_seed(17)
    x = randn(3, 4, 5) if dtype == "float32" else torch.randint(-50, 50, (3, 4, 5))
    built = check(torch_build, Fn(lambda x: (torch.cumsum(x, dim=1), torch.cumsum(x, dim=-1))), [x],
                  ["stablehlo.reduce_window"])
    assert built.op_names.count("cumsum") == 2, built.op_names


PADS = [("last-dim", (1, 2), 0.0), ("two-dims-value", (1, 1, 2, 0), -1.5), ("crop", (-1, 2, 0, -1), 0.0)]


@pytest.mark.parametrize("name,pad,value", PADS, ids=[p[0] for p in PADS])
def test_pad_constant(torch_build, name, pad, value):
    torch.manual_seed(18)
    built = check(torch_build, Fn(lambda x: F.pad(x, pad, value=value)), [randn(2, 3, 4)], ["stablehlo.pad"])
    if name != "crop":
        assert built.op_names == ["pad"], built.op_names


# --- integers, bools, where, casts --------------------------------------------------------------

covers("stablehlo.select", "stablehlo.compare", "stablehlo.convert")


def test_int64_and_bool_ops(torch_build):
    torch.manual_seed(19)
    a = torch.randint(-10, 10, (3, 4))
    b = torch.randint(-10, 10, (3, 4))
    mask = torch.rand(3, 4) < 0.5

    def fn(a, b, mask):
        return (torch.where(mask, a, b), a > b, a == b, (a + b * 3).to(torch.float32), a.to(torch.bool),
                mask.to(torch.int64) * 7 - a, (a * b) % 5, torch.where(a > 0, a, -1), ~mask & (b != 0),
                mask.float() * 0.5)
    built = check(torch_build, Fn(fn), [a, b, mask], ["stablehlo.select", "stablehlo.compare", "stablehlo.convert"])
    assert [s.dtype for s in built.model.inputs] == [np.int32, np.int32, np.bool_]


def test_float_casts_and_comparisons(torch_build):
    torch.manual_seed(20)
    x = randn(3, 5) * 4
    x[0] = torch.tensor([-2.5, -0.5, 0.0, 0.5, 2.5])
    fn = Fn(lambda x: (x.to(torch.int64), x.to(torch.int32), x >= 0.5, torch.where(x < 0, 0.0, x), x.bool()))
    check(torch_build, fn, [x], ["stablehlo.convert", "stablehlo.compare"])


# --- keyword inputs, named outputs --------------------------------------------------------------


class KeywordInputs(nn.Module if HAVE_TORCH else object):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 3)

    def forward(self, x, *, mask=None, scale=None):
        return self.proj(x) * scale + mask.unsqueeze(-1).to(x.dtype)


def test_keyword_inputs(torch_build):
    torch.manual_seed(21)
    inputs = {"x": randn(2, 5, 4), "mask": torch.rand(2, 5) < 0.5, "scale": randn(3)}
    built = check(torch_build, KeywordInputs(), inputs)
    assert [s.name for s in built.model.inputs] == ["x", "mask", "scale"]


class NamedOutputs(nn.Module if HAVE_TORCH else object):
    def __init__(self, as_dict):
        super().__init__()
        self.as_dict = as_dict
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        logits = self.head(x)
        probs = torch.softmax(logits, dim=-1)
        if self.as_dict:
            return {"logits": logits, "probs": probs, "best": torch.argmax(logits, dim=-1)}
        return logits, probs


@pytest.mark.parametrize("as_dict", [True, False], ids=["dict", "tuple"])
def test_named_outputs(torch_build, as_dict):
    torch.manual_seed(22)
    built = check(torch_build, NamedOutputs(as_dict), [randn(2, 4)])
    names = [s.name for s in built.model.outputs]
    assert names == (["logits", "probs", "best"] if as_dict else ["output_0", "output_1"])
    assert set(built.model.run({"x": randn(2, 4).numpy()})) == set(names)


# --- broadcasting, slicing, indexing ----------------------------------------------------------------

covers("stablehlo.broadcast_in_dim", "stablehlo.slice", "stablehlo.transpose", "stablehlo.reshape",
       "stablehlo.concatenate")


def test_broadcasting(torch_build):
    torch.manual_seed(23)
    x, y, z = randn(2, 3, 4), randn(3, 1), randn(4)
    check(torch_build, Fn(lambda x, y, z: (x + y * z, torch.maximum(x, z), y - x, (x * 2.0) / (z.abs() + 1.0))),
          [x, y, z], ["stablehlo.broadcast_in_dim"])


def test_slicing_and_indexing(torch_build):
    torch.manual_seed(24)
    x = randn(4, 5, 6)

    def fn(x):
        return (x[:, 1:3], x[..., ::2], x[1], x[:, None, -1], x.transpose(0, 2), x.flatten(1), x[1:, :, 2:5:2],
                torch.cat([x[:1], x[-1:]], dim=0), x.permute(2, 0, 1).reshape(6, 20), x[:, 2].unsqueeze(0))
    check(torch_build, Fn(fn), [x], ["stablehlo.slice", "stablehlo.transpose", "stablehlo.reshape",
                                     "stablehlo.concatenate"])


def test_index_with_constant_tensor(torch_build):
    # x[idx] with a constant int64 index tensor is a gather of whole rows.
    torch.manual_seed(25)
    idx = torch.tensor([3, 0, 3, 1])
    built = check(torch_build, Fn(lambda x: (x[idx], x[idx, 1:] * 2)), [randn(4, 5)], ["stablehlo.gather"])
    assert "embedding" in built.op_names, built.op_names


def test_index_with_input_ids(torch_build):
    torch.manual_seed(26)
    table, ids = randn(6, 2, 3), torch.tensor([[5, 0], [2, 2]])
    check(torch_build, Fn(lambda t, i: t[i]), [table, ids], ["stablehlo.gather"])


def test_index_columns(torch_build):
    idx = torch.tensor([3, 0, 3, 1])
    check(torch_build, Fn(lambda x: x[:, idx]), [randn(4, 5)], ["stablehlo.gather"])


# --- general gathers and scatters ------------------------------------------------------------------
# torch.gather and index_select reach StableHLO as gathers with unsigned
# 32-bit indices (batching dims or iota columns), advanced indexing as
# gathers of partial slices; scatter_add / scatter / scatter_reduce /
# index_add / index_put / index_copy as scatters (add, assignment, max, min,
# multiply regions). PyTorch requires in-range indices (negative ones are
# wrapped by torch before the op), so only in-range indices are compared.


def _index_cases():
    torch.manual_seed(40)
    x = randn(4, 5)
    i = torch.tensor([[0, 4, 1], [3, 3, 0], [1, 2, 4], [0, 0, 0]])
    j = torch.tensor([3, 0, 3, 1])
    return x, i, j


GATHER_FNS = [
    ("gather-dim1", lambda x, i: torch.gather(x, 1, i)),
    ("gather-dim0", lambda x, i: torch.gather(x, 0, i[:, :2].clamp(max=3))),
    ("index-select-dim1", lambda x, j: torch.index_select(x, 1, j)),
    ("index-select-dim0", lambda x, j: torch.index_select(x, 0, j)),
    ("advanced-two-arrays", lambda x, j: x[j, j.flip(0)]),
    ("advanced-columns", lambda x, j: x[:, j]),
    ("advanced-negative", lambda x, j: x[j - 4, 1:]),
    ("advanced-broadcast", lambda x, i, j: x[j[:, None], i[0][None, :]]),
]


def _args(fn, **values):
    """The inputs fn reads, by its parameter names (torch_xla drops unread ones)."""
    import inspect

    return [values[n] for n in inspect.signature(fn).parameters]


@pytest.mark.parametrize("name,fn", GATHER_FNS, ids=[n for n, _ in GATHER_FNS])
@pytest.mark.parametrize("dtype", ["float32", "int64", "bool"])
def test_torch_gathers(torch_build, name, fn, dtype):
    x, i, j = _index_cases()
    x = {"float32": x, "int64": (x * 10).to(torch.int64), "bool": x > 0}[dtype]
    check(torch_build, Fn(fn), _args(fn, x=x, i=i, j=j), ["stablehlo.gather"])


covers("stablehlo.scatter")


def _index_put(x, j, v, accumulate):
    return x.index_put((j,), v, accumulate=accumulate)


def _slice_assign(x, j):
    y = x.clone()
    y[j[:2]] = 7.0
    return y


SCATTER_FNS = [
    ("scatter-add", lambda x, i: torch.zeros(4, 5).scatter_add(1, i, x[:, :3])),
    ("scatter-add-dup-dim0", lambda x, i: x.scatter_add(0, i[:, :2].clamp(max=3), x[:, :2] * 3)),
    ("scatter-src", lambda x, i: torch.zeros(4, 5).scatter(1, i[:, :1], x[:, :1])),
    ("scatter-value", lambda x, i: x.scatter(1, i[:, 1:2], -1.5)),
    ("scatter-reduce-amax", lambda x, i: torch.zeros(4, 5).scatter_reduce(1, i, x[:, :3], "amax")),
    ("scatter-reduce-amin-self", lambda x, i: x.scatter_reduce(1, i, x[:, 2:], "amin", include_self=True)),
    ("scatter-reduce-prod", lambda x, i: x.scatter_reduce(1, i, x[:, :3], "prod")),
    ("index-add", lambda x, j: torch.zeros(5, 5).index_add(0, j, x)),
    ("index-add-dim1", lambda x, j: x.index_add(1, j, x[:, :4], alpha=2.0)),
    ("index-put", lambda x, j: _index_put(x, j[1:3], torch.ones(2, 5), False)),
    ("index-put-accumulate", lambda x, j: _index_put(x, j, x * 2, True)),
    ("index-copy", lambda x, j: x.index_copy(1, j[1:3], x[:, :2] + 1)),
    ("slice-assign", _slice_assign),
]


@pytest.mark.parametrize("name,fn", SCATTER_FNS, ids=[n for n, _ in SCATTER_FNS])
def test_torch_scatters(torch_build, name, fn):
    x, i, j = _index_cases()
    check(torch_build, Fn(fn), _args(fn, x=x, i=i, j=j), ["stablehlo.scatter"])


def test_torch_int_and_bool_scatters(torch_build):
    _, i, j = _index_cases()
    counts = lambda i, j: (torch.zeros(6, dtype=torch.int64).index_add(0, j, torch.ones(4, dtype=torch.int64)),
                           torch.zeros(4, 5, dtype=torch.bool).scatter(1, i, True),
                           torch.zeros(6, dtype=torch.int32).scatter_add(0, j, j.to(torch.int32)))
    check(torch_build, Fn(counts), [i, j], ["stablehlo.scatter"])


def test_torch_bfloat16_gather_and_scatter(torch_build):
    import ml_dtypes

    x, i, j = _index_cases()
    xb = x.to(torch.bfloat16)
    fn = lambda x, i, j: (torch.gather(x, 1, i), x[:, j], x.index_add(0, j, x * 2), x.scatter(1, i, x[:, :3]))
    want = eager(Fn(fn), [xb, i, j])
    built = torch_build(Fn(fn), [xb, i, j])
    assert {"stablehlo.gather", "stablehlo.scatter"} <= built.emitted
    got = built.model(xb.float().numpy().astype(ml_dtypes.bfloat16), i.numpy(), j.numpy())
    for g, w in zip(got, want):
        assert g.dtype == ml_dtypes.bfloat16
        np.testing.assert_allclose(g.astype(np.float32), w.float().numpy(), rtol=1e-2, atol=1e-2)


def test_torch_kv_cache_index_copy(torch_build):
    # a KV cache written at the positions given as an input
    torch.manual_seed(41)
    cache, new = randn(2, 8, 3), randn(2, 1, 3)
    for pos in [0, 5, 7]:
        check(torch_build, Fn(lambda c, n, p: c.index_copy(1, p, n)), [cache, new, torch.tensor([pos])],
              ["stablehlo.scatter"])


# --- Coverage II: flip, sort / argsort / topk, expm1 / log1p / round / isfinite, prod, cumprod,
# logsumexp, transposed convolutions ------------------------------------------------------------------
# torch_xla's comparators are LT / GT with TOTALORDER: NaN sorts after +inf
# (first when descending) as in eager; unlike eager, -0.0 sorts before +0.0,
# so the data below has no signed zeros. torch.topk is a sort and a slice.

covers("stablehlo.reverse")


def test_flip(torch_build):
    torch.manual_seed(30)
    x, i = randn(2, 3, 4), torch.randint(-9, 9, (3, 5))
    built = check(torch_build, Fn(lambda x, i: (torch.flip(x, [-1, 0]), torch.flip(i, [1]), torch.fliplr(x),
                                                torch.flip(x > 0, [1]))), [x, i], ["stablehlo.reverse"])
    assert built.op_names.count("reverse") == 4, built.op_names


covers("stablehlo.sort")


@pytest.mark.parametrize("dim,descending", [(-1, False), (0, True), (1, True)], ids=str)
def test_sort_and_argsort(torch_build, dim, descending):
    # many ties (stable=True keeps their order), float and int64
    torch.manual_seed(31)
    x = torch.randint(-3, 4, (3, 5, 4)).float()
    y = torch.randint(-3, 4, (3, 5, 4))

    def fn(x, y):
        v, i = torch.sort(x, dim=dim, descending=descending, stable=True)
        w, j = torch.sort(y, dim=dim, descending=descending, stable=True)
        return v, i, torch.argsort(x, dim=dim, descending=descending, stable=True), w, j
    built = check(torch_build, Fn(fn), [x, y], ["stablehlo.sort"])
    # (torch.argsort(x) is the sort of x again: torch.export shares it)
    assert built.op_names.count("sort") >= 2 and "embedding" not in built.op_names, built.op_names


def test_sort_topk_nan_inf_and_bool(torch_build):
    # default (unstable) sorts and topk on distinct values, one NaN per row
    torch.manual_seed(32)
    x = torch.randperm(24).reshape(4, 6).float() - 12
    x[0, 2], x[1, 0], x[2, 5], x[3, 1] = float("nan"), float("inf"), -float("inf"), float("nan")
    x[3, 4] = float("inf")
    b = torch.rand(3, 7) < 0.5

    def fn(x, b):
        v, i = torch.sort(x)
        w, j = torch.sort(x, dim=0, descending=True)
        t, k = torch.topk(x, 3)
        s, m = torch.topk(x, 2, dim=0, largest=False)
        bv, bi = torch.sort(b, dim=1, stable=True)
        return v, i, w, j, t, k, s, m, torch.argsort(x, dim=1, descending=True), bv, bi
    built = check(torch_build, Fn(fn), [x, b], ["stablehlo.sort", "stablehlo.slice"])
    assert "embedding" not in built.op_names, built.op_names


covers("stablehlo.exponential_minus_one", "stablehlo.log_plus_one", "stablehlo.round_nearest_even")


def test_expm1_log1p_round_isfinite(torch_build):
    torch.manual_seed(33)
    x = randn(3, 8) * 3
    x[0] = torch.tensor([1e-10, -1e-10, 1e-7, 0.5, -0.5, 1.5, 2.5, -2.5])
    x[1] = torch.tensor([3.5, -0.3, 0.49999997, 4194304.5, 1e30, -0.99, 80.0, -100.0])
    x[2, :3] = torch.tensor([float("inf"), -float("inf"), float("nan")])
    # (torch_xla clamps with an upper bound of FLT_MAX, not inf: clamp the rows without inf)
    fn = Fn(lambda x: (torch.expm1(x), torch.log1p(x[:2].clamp(min=-0.999)), torch.round(x), torch.isfinite(x),
                       torch.log1p(x), torch.isinf(x), torch.isnan(x)))
    built = check(torch_build, fn, [x], ["stablehlo.exponential_minus_one", "stablehlo.log_plus_one",
                                         "stablehlo.round_nearest_even"])
    assert {"expm1", "log1p", "round"} <= set(built.op_names), built.op_names


def near_one(*shape):
    """Products of these neither overflow nor vanish: magnitudes in [0.5, 1.5), either sign."""
    return (torch.rand(*shape) + 0.5) * (torch.randint(0, 2, shape) * 2 - 1)


def test_prod(torch_build):
    torch.manual_seed(34)
    x, i = near_one(3, 4, 5), torch.randint(-3, 4, (3, 4, 5))
    fn = Fn(lambda x, i: (torch.prod(x, dim=1), torch.prod(x, dim=0, keepdim=True), torch.prod(x),
                          torch.prod(i, dim=-1), torch.prod(i)))
    built = check(torch_build, fn, [x, i], ["stablehlo.reduce"])
    assert built.op_names.count("prod") == 5, built.op_names


def test_cumprod(torch_build):
    # a reduce_window multiply over the whole dim (torch_xla cannot capture an int64 cumprod)
    torch.manual_seed(35)
    built = check(torch_build, Fn(lambda x: (torch.cumprod(x, dim=1), torch.cumprod(x, dim=-1))), [near_one(3, 4, 5)],
                  ["stablehlo.reduce_window"])
    assert built.op_names.count("cumprod") == 2, built.op_names


def test_logsumexp(torch_build):
    # torch_xla's logsumexp: max (init -FLT_MAX), an infinite max counts as 0, exp, sum, log
    torch.manual_seed(36)
    x = randn(5, 6) * 3
    x[1] = -float("inf")
    x[2, :4] = -float("inf")
    x[3] = randn(6) - 1e30
    x[4] = -3e38
    check(torch_build, Fn(lambda x: (torch.logsumexp(x, dim=1), torch.logsumexp(x, dim=0, keepdim=True),
                                     torch.logsumexp(x[:4], dim=(0, 1)))), [x], ["stablehlo.reduce"])


CONV_TRANSPOSES = [
    # name, in, out, kernel, stride, padding, output_padding, dilation, groups, bias, input H x W
    ("k3-s2-p1-out1", 4, 6, 3, 2, 1, 1, 1, 1, True, (5, 5)),
    ("k4-s2-p1-dcgan", 3, 2, 4, 2, 1, 0, 1, 1, True, (4, 6)),
    ("k3-s2-p2-dilation2-groups2", 4, 6, 3, 2, 2, 0, 2, 2, True, (5, 5)),
    ("k2-s2-unet-nobias", 4, 3, 2, 2, 0, 0, 1, 1, False, (3, 4)),
    ("k2x3-s1x2-p0x1-out0x1", 2, 4, (2, 3), (1, 2), (0, 1), (0, 1), 1, 1, True, (4, 3)),
    ("depthwise-s3-out2", 3, 3, 3, 3, 1, 2, 1, 3, True, (3, 3)),
    ("k1-s2", 5, 2, 1, 2, 0, 1, 1, 1, True, (3, 3)),
]


@pytest.mark.parametrize("name,cin,cout,k,stride,padding,out_pad,dilation,groups,bias,hw", CONV_TRANSPOSES,
                         ids=[c[0] for c in CONV_TRANSPOSES])
def test_conv_transpose2d(torch_build, name, cin, cout, k, stride, padding, out_pad, dilation, groups, bias, hw):
    # torch_xla: the weight transposed and spatially reversed (folded at build
    # time), a convolution with lhs_dilation = stride; the bias folds in
    torch.manual_seed(37)
    conv = nn.ConvTranspose2d(cin, cout, k, stride=stride, padding=padding, output_padding=out_pad,
                              dilation=dilation, groups=groups, bias=bias)
    built = check(torch_build, conv, [randn(2, cin, *hw)], ["stablehlo.convolution"])
    assert [op["op"] for op in built.compute_ops()] == ["conv_transpose2d"], built.op_names


def test_conv_transpose1d_relu_conv1d(torch_build):
    # torch_xla writes 1-D convolutions as 2-D ones over a unit height (the
    # reshapes around them keep the relu apart from the first)
    torch.manual_seed(38)
    net = nn.Sequential(nn.ConvTranspose1d(4, 6, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
                        nn.Conv1d(6, 3, 3, padding=1))
    built = check(torch_build, net, [randn(2, 4, 7)], ["stablehlo.convolution"])
    names = built.op_names
    assert names.count("conv_transpose2d") == 1 and names.count("conv2d") == 1, names


def test_decoder_stays_nhwc(torch_build):
    # ConvTranspose2d, BatchNorm, ReLU, ConvTranspose2d, Sigmoid: the batch
    # norm and relu fold into the first, permutes only at the ends
    torch.manual_seed(39)
    net = nn.Sequential(nn.ConvTranspose2d(6, 4, 4, stride=2, padding=1), with_running_stats(nn.BatchNorm2d(4)),
                        nn.ReLU(), nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1), nn.Sigmoid())
    built = check(torch_build, net, [randn(2, 6, 3, 4)], ["stablehlo.convolution", "stablehlo.batch_norm_inference"])
    compute = built.compute_ops()
    assert [op["op"] for op in compute] == ["conv_transpose2d", "conv_transpose2d", "sigmoid"], built.op_names
    assert compute[0]["attrs"]["activation"] == [ACT_RELU] and built.op_names.count("permute") == 2, built.op_names
