"""JAX on the tt PJRT plugin: results against JAX's CPU backend, compile
options and their errors (the same as `ttpack build`'s), executables that
serialize to ttpack archives, the persistent cache across processes, and a
clean exit."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

from pjrt_helpers import run_script  # noqa: E402

from ttpack.compiler.options import resolve  # noqa: E402
from ttpack.errors import BuildError  # noqa: E402
from ttpack.targets import TargetError, get_target  # noqa: E402


@pytest.fixture(scope="module")
def tt():
    return jax.devices("tt")[0]


def test_tutorial_template_runs_verbatim_and_exits_cleanly():
    out = run_script("""
        import jax, jax.numpy as jnp
        def model(x): return jnp.sin(x) * jnp.cos(x)
        input_data = jnp.ones((10,))
        compiled_model = jax.jit(model, backend="tt")
        output = compiled_model(input_data)

        import json, numpy as np
        print(json.dumps({"output": np.asarray(output).tolist(), "platform": list(output.devices())[0].platform,
                          "default": jax.default_backend()}))
    """)
    assert out["platform"] == "tt" and out["default"] == "cpu"
    assert "experimental" not in out["_stderr"]  # JAX's notice about plugin platforms is dropped for tt
    np.testing.assert_allclose(out["output"], np.full(10, np.sin(1.0) * np.cos(1.0)), rtol=1e-6)


def test_the_device_says_it_is_emulated_and_tt_is_not_the_default_backend(tt):
    assert jax.default_backend() == "cpu"
    assert jax.devices("tt") == [tt] and tt.platform == "tt"
    assert tt.device_kind == "n150 (emulated by ttpack on CPU)"


def test_device_kind_follows_TTPACK_TARGET():
    out = run_script("""
        import json, jax
        print(json.dumps({"kind": jax.devices("tt")[0].device_kind}))
    """, env={"TTPACK_TARGET": "p150"})
    assert out["kind"] == "p150 (emulated by ttpack on CPU)"


@pytest.mark.parametrize("array", [
    np.arange(12, dtype=np.float32).reshape(3, 4),
    np.arange(12, dtype=np.float32).reshape(3, 4).T,  # strided on the host
    np.arange(12, dtype=np.float32).reshape(3, 4)[::-1, ::-2],  # negative strides
    np.broadcast_to(np.arange(4, dtype=np.float32), (3, 4)),  # a zero stride
    np.arange(-3, 3, dtype=np.int32),
    np.array([True, False, True]),
    np.float32(2.5),
], ids=["f32", "transposed", "reversed", "broadcast", "int32", "bool", "scalar"])
def test_device_put_round_trips_exactly(tt, array):
    on_tt = jax.device_put(array, tt)
    assert on_tt.devices() == {tt}
    np.testing.assert_array_equal(np.asarray(on_tt), array)


def test_bfloat16_round_trips_exactly(tt):
    array = np.linspace(-4, 4, 9).astype(jnp.bfloat16)
    np.testing.assert_array_equal(np.asarray(jax.device_put(array, tt)), array)


def _mlp(x, w1, b1, w2, b2):
    return jax.nn.softmax(jnp.tanh(x @ w1 + b1) @ w2 + b2, axis=-1)


def test_mlp_matches_jax_cpu(tt, rng):
    args = [rng.standard_normal(s).astype(np.float32) for s in [(8, 16), (16, 32), (32,), (32, 4), (4,)]]
    expected = jax.jit(_mlp)(*args)
    got = jax.jit(_mlp)(*[jax.device_put(a, tt) for a in args])
    assert got.devices() == {tt}
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=1e-6)


def test_integer_bool_and_multiple_outputs(tt):
    f = jax.jit(lambda a: (a * 3 - 1, a > 1, jnp.argmax(a)), backend="tt")
    times3, greater, argmax = f(jnp.array([0, 5, 2, -1], dtype=jnp.int32))
    np.testing.assert_array_equal(np.asarray(times3), [-1, 14, 5, -4])
    np.testing.assert_array_equal(np.asarray(greater), [False, True, True, False])
    assert int(argmax) == 1


def test_calls_from_several_threads_get_their_own_results(tt):
    import threading

    f = jax.jit(lambda a, s: jnp.tanh(a * s))
    wrong = []

    def worker(k):
        x = jax.device_put(np.full((32, 32), k / 10, np.float32), tt)
        for _ in range(50):
            if not np.allclose(np.asarray(f(x, np.float32(2))), np.tanh(k / 5), rtol=1e-6):
                wrong.append(k)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


def _bf16_matmul(tt, rng):
    a = jax.device_put(rng.standard_normal((16, 64)).astype(jnp.bfloat16), tt)
    b = jax.device_put(rng.standard_normal((64, 16)).astype(jnp.bfloat16), tt)
    exact = np.asarray(a).astype(np.float64) @ np.asarray(b).astype(np.float64)
    return jax.jit(lambda x, y: x @ y), (a, b), exact


def test_compile_options_reach_ttpacks_compiler(tt, rng):
    """math_fidelity=lofi keeps only the operands' top bits in matmuls (a
    visible error, ~2.5% of the largest result here); the default (hifi4)
    is exact up to the bfloat16 rounding of the result (~0.2%), as on JAX's
    CPU backend."""
    f, args, exact = _bf16_matmul(tt, rng)
    default = np.asarray(f.lower(*args).compile()(*args)).astype(np.float64)
    lofi = np.asarray(f.lower(*args).compile(compiler_options={"math_fidelity": "lofi"})(*args)).astype(np.float64)
    scale = np.abs(exact).max()
    assert np.abs(default - exact).max() < 0.004 * scale
    assert np.abs(lofi - exact).max() > 0.015 * scale
    # jax.jit(..., compiler_options=) carries them too
    jit_lofi = jax.jit(lambda x, y: x @ y, compiler_options={"math_fidelity": "lofi"})
    np.testing.assert_array_equal(np.asarray(jit_lofi(*args)), lofi.astype(jnp.bfloat16))


def test_compiled_text_is_the_program_ttpack_compiled(tt):
    """Executable_OptimizedProgram hands JAX the StableHLO ttpack compiled
    (two calls: the size, then the bytes); JAX prints it as HLO."""
    compiled = jax.jit(lambda a: jnp.sin(a) + 1).lower(jax.device_put(np.ones(3, np.float32), tt)).compile()
    text = compiled.as_text()
    assert "sine" in text and "f32[3]" in text


def _archive_metadata(compiled) -> dict:
    from ttpack.archive.reader import read_archive

    executable = compiled.runtime_executable()
    return read_archive(_archive_in(executable.client.serialize_executable(executable))).metadata


def test_optimization_level_and_target_reach_the_archive(tt):
    """JAX moves optimization_level out of the overrides into the build
    options; the plugin reads it there (as TT-XLA does)."""
    x = jax.device_put(np.ones((64, 64), np.float32), tt)
    lowered = jax.jit(lambda a: jnp.tanh(a @ a)).lower(x)
    default = _archive_metadata(lowered.compile())
    assert default["target"] == "n150" and default["compile_options"]["optimization_level"] == 0
    level2 = _archive_metadata(lowered.compile(compiler_options={"optimization_level": 2, "target": "p150"}))
    assert level2["target"] == "p150"
    assert level2["compile_options"]["optimization_level"] == 2
    assert level2["compile_options"]["l1_activations"] == "sharded"
    assert "optimization_level=7 is not valid" in _error_of(lambda a: a + 1, x, compiler_options={"optimization_level": 7})


def _error_of(fn, *args, **compile_kw) -> str:
    with pytest.raises(Exception) as info:
        jax.jit(fn).lower(*args).compile(**compile_kw)
    return str(info.value)


def test_option_errors_are_ttpack_builds(tt):
    x = jax.device_put(np.ones((4, 4), np.float32), tt)
    with pytest.raises(BuildError) as build_error:
        resolve({"no_such_option": 1}, get_target("n150"))
    assert str(build_error.value) in _error_of(jnp.sin, x, compiler_options={"no_such_option": 1})
    with pytest.raises(BuildError) as build_error:
        resolve({"math_fidelity": "lofi"}, get_target("cpu"))  # chip-only options on the cpu target
    assert str(build_error.value) in _error_of(jnp.sin, x, compiler_options={"target": "cpu", "math_fidelity": "lofi"})
    with pytest.raises(TargetError) as target_error:
        get_target("n999")
    assert str(target_error.value) in _error_of(jnp.sin, x, compiler_options={"target": "n999"})


def test_unsupported_ops_are_listed_as_ttpack_build_lists_them(tt, tmp_path):
    import ttpack

    def f(x):
        return jnp.fft.fft(x).real

    x = np.ones(8, np.float32)
    with pytest.raises(BuildError) as build_error:
        ttpack.build(f, [x], output=tmp_path / "f.ttpack")
    first_line = str(build_error.value).splitlines()[0]
    assert "unsupported operation(s)" in first_line
    assert first_line in _error_of(f, jax.device_put(x, tt))


def _archive_in(serialized: bytes) -> bytes:
    """The ttpack archive in JAX's serialized executable: jaxlib wraps the
    plugin's bytes in its own message and puts them last."""
    from ttpack.archive.format import MAGIC

    return serialized[serialized.index(MAGIC):]


def test_serialized_executable_is_a_ttpack_archive(tt, rng):
    from jax.experimental import serialize_executable

    import ttpack.runtime as rt

    x = rng.standard_normal((3, 5)).astype(np.float32)
    compiled = jax.jit(lambda a: jnp.exp(a) - a).lower(jax.device_put(x, tt)).compile()
    blob, _, _ = serialize_executable.serialize(compiled)
    archive = _archive_in(compiled.runtime_executable().client.serialize_executable(compiled.runtime_executable()))
    assert archive in blob  # the pickle carries the archive as is
    out = rt.load(archive)(x)  # the runtime's Python bindings run the same bytes
    np.testing.assert_allclose(out, np.exp(x) - x, rtol=1e-5)


SERIALIZE = """
    import json, pickle, sys
    import jax, jax.numpy as jnp, numpy as np
    from jax.experimental import serialize_executable
    import ttpack.pjrt
    tt = jax.devices("tt")[0]
    x = jax.device_put(np.linspace(-2, 2, 7, dtype=np.float32), tt)
    path = {path!r}
    if {save}:
        compiled = jax.jit(lambda a: jnp.sin(a) * 2 + a).lower(x).compile()
        with open(path, "wb") as f:
            pickle.dump(serialize_executable.serialize(compiled), f)
        out = compiled(x)
    else:
        with open(path, "rb") as f:
            blob, in_tree, out_tree = pickle.load(f)
        out = serialize_executable.deserialize_and_load(blob, in_tree, out_tree, backend="tt")(x)
    print(json.dumps({{"out": np.asarray(out).tolist(), "compiles": ttpack.pjrt.compile_count()}}))
"""


def test_serialize_executable_round_trips_across_processes(tmp_path):
    path = str(tmp_path / "exe.pickle")
    saved = run_script(SERIALIZE.format(path=path, save=True))
    loaded = run_script(SERIALIZE.format(path=path, save=False))
    x = np.linspace(-2, 2, 7, dtype=np.float32)
    assert saved["compiles"] == 1 and loaded["compiles"] == 0
    np.testing.assert_allclose(loaded["out"], np.sin(x) * 2 + x, rtol=1e-6, atol=1e-6)
    assert loaded["out"] == saved["out"]


CACHED = """
    import json
    import jax, jax.numpy as jnp, numpy as np
    jax.config.update("jax_compilation_cache_dir", {cache!r})
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    import ttpack.pjrt
    x = jax.device_put(np.arange(6, dtype=np.float32), jax.devices("tt")[0])
    out = jax.jit(lambda a: jnp.cos(a) * a + 1)(x)
    print(json.dumps({{"out": np.asarray(out).tolist(), "compiles": ttpack.pjrt.compile_count()}}))
"""


def test_persistent_compilation_cache_serves_a_second_process(tmp_path):
    cache = str(tmp_path / "cache")
    first = run_script(CACHED.format(cache=cache))
    second = run_script(CACHED.format(cache=cache))
    assert first["compiles"] == 1 and second["compiles"] == 0
    x = np.arange(6, dtype=np.float32)
    np.testing.assert_allclose(second["out"], np.cos(x) * x + 1, rtol=1e-6)
