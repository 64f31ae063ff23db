"""Checking a timed result against its exact answer: any tool's result as a NumPy array
(`to_numpy`) and the tolerance checker every case is given (`close_check`)."""

from __future__ import annotations

import numpy as np


def to_numpy(r):
    """Any tool's result (jax/torch array, list, tuple, scalar) as ndarray."""
    if isinstance(r, (list, tuple)):
        return np.array([to_numpy(e) for e in r], dtype=float)
    if hasattr(r, "detach"):                                   # torch
        return r.detach().cpu().numpy().astype(float)
    return np.asarray(r, dtype=float)


def close_check(expected, rtol=1e-9, atol=0.0):
    """Checker: result vs exact value; atol is relative to max|expected|."""
    expected = np.asarray(expected, dtype=float)
    scale = float(np.max(np.abs(expected))) if expected.size else 1.0
    scale = scale or 1.0

    def check(result):
        r = to_numpy(result)
        if r.shape != expected.shape:
            if r.size == expected.size:
                r = r.reshape(expected.shape)
            else:
                return False, f"shape {r.shape} != {expected.shape}"
        if not np.all(np.isfinite(r)):
            return False, "non-finite values"
        err = float(np.max(np.abs(r - expected))) if r.size else 0.0
        ok = bool(np.allclose(r, expected, rtol=rtol, atol=atol * scale))
        return ok, f"max err {err:.2e} (rel {err / scale:.1e})"
    return check
