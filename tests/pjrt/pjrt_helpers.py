"""Running a framework script in a fresh interpreter: what one process
compiled, loaded or crashed on must not leak into the next (and torch_xla's
device type is fixed per process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap


def run_script(code: str, env: dict | None = None, timeout: float = 600) -> dict:
    """Runs `code`, which prints one JSON object as its last line; returns it
    (with the process's stderr under "_stderr").
    Asserts a clean exit: rc 0 and no crash or abort message at shutdown."""
    full_env = dict(os.environ)
    full_env.pop("TTPACK_TARGET", None)
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=full_env, timeout=timeout)
    assert proc.returncode == 0, f"rc {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    for crash in ("Segmentation fault", "terminate called", "Fatal Python error", "Aborted", "ERROR: AddressSanitizer",
                  "runtime error:"):
        assert crash not in proc.stderr, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["_stderr"] = proc.stderr
    return result
