"""NumPy's floating-point warnings for the LLVM scalar tier (compile/scalar_llvm.py).

Native code computes inf and nan as NumPy does but cannot call Python to warn. Like
NumPy's own loops, the caller clears the processor's floating-point status flags before
the call and reads them after (C's `feclearexcept` / `fetestexcept`); a raised flag becomes
the RuntimeWarning (or FloatingPointError) that `numpy.seterr` / `numpy.errstate` asks for.
On a platform whose flag values are not known here nothing is reported.  (numba kernels are
optimised code that may evaluate an operation speculatively, so their flags are not read.)
"""
from __future__ import annotations

import ctypes
import ctypes.util
import platform
import warnings

import numpy as np

# (divide, overflow, invalid) flag bits of <fenv.h>
_BITS = {"x86_64": (4, 8, 1), "AMD64": (4, 8, 1), "i686": (4, 8, 1),
         "aarch64": (2, 4, 1), "arm64": (2, 4, 1)}.get(platform.machine())


def _libm():
    if _BITS is None:
        return None
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
        lib.fetestexcept.argtypes = lib.feclearexcept.argtypes = [ctypes.c_int]
        lib.fetestexcept.restype = lib.feclearexcept.restype = ctypes.c_int
        return lib
    except (OSError, AttributeError):
        return None


_lib = _libm()
ALL = _ALL = sum(_BITS) if _BITS else 0
_WHAT = (("divide", "divide by zero encountered"), ("over", "overflow encountered"),
         ("invalid", "invalid value encountered"))


def clear():
    """Clear the divide, overflow and invalid flags (call right before native code runs)."""
    if _lib is not None:
        _lib.feclearexcept(_ALL)


def report(where):
    """Warn (or raise) for the flags native code raised since `clear`, as NumPy would."""
    if _lib is None:
        return
    raised = _lib.fetestexcept(_ALL)
    if raised:
        _lib.feclearexcept(_ALL)
        report_flags(raised, where)


def report_flags(raised, where):
    """Warn (or raise) for the flag bits `raised` (read by native code itself), as NumPy would."""
    if _BITS is None:
        return
    err = np.geterr()
    for bit, (kind, text) in zip(_BITS, _WHAT):
        if raised & bit:
            mode = err[kind]
            if mode == "raise":
                raise FloatingPointError(f"{text} in {where}")
            if mode in ("warn", "print", "log"):
                warnings.warn(f"{text} in {where}", RuntimeWarning, stacklevel=3)
