"""The glibc allocator tuning: off by default, opt in with CHAINRULE_MALLOC_TUNE=1."""
import ctypes
import os
import subprocess
import sys

import pytest

import chainrule  # noqa: F401


def _tuned_in_fresh_process(value):
    code = "import chainrule._malloc as m, chainrule; print(m.tuned)"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    env.pop("CHAINRULE_MALLOC_TUNE", None)
    if value is not None:
        env["CHAINRULE_MALLOC_TUNE"] = value
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          check=True).stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_allocator_left_alone_by_default_and_tuned_on_request():
    assert _tuned_in_fresh_process(None) == "False"
    assert _tuned_in_fresh_process("0") == "False"
    glibc = hasattr(ctypes.CDLL(None), "mallopt")
    assert _tuned_in_fresh_process("1") == str(glibc)
