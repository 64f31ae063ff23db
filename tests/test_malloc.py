"""The glibc allocator tuning applied at import (and its opt-out)."""
import os
import subprocess
import sys

import pytest

import chainrule  # noqa: F401
from chainrule import _malloc


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_tuned_on_import_and_opt_out_by_environment():
    code = "import chainrule._malloc as m, chainrule; print(m.tuned)"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    on = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    env["CHAINRULE_MALLOC_TUNE"] = "0"
    off = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert off.stdout.strip() == "False"
    glibc = hasattr(__import__("ctypes").CDLL(None), "mallopt")
    assert on.stdout.strip() == str(glibc) == str(_malloc.tuned)
