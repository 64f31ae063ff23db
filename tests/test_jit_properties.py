"""Hypothesis: jit (staged, optimised, generated code, native kernels) equals eager.

Random compositions from tests/test_properties.py, on small arrays (NumPy code
path) and on arrays large enough for the numba-fused kernels.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.numpy as cnp  # noqa: E402
from chainrule.compile import native  # noqa: E402

from test_properties import SETTINGS, evaluate, programs  # noqa: E402


def _close(a, b):
    a, b = np.asarray(a), np.asarray(b)
    scale = 1.0 + np.max(np.abs(b), initial=0.0)
    np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12 * scale)


def _check(expr, x, y, seed):
    f = lambda x, y: evaluate(expr, x, y)
    w = np.random.default_rng(seed).standard_normal(np.shape(f(x, y)))
    s = lambda x, y: cnp.sum(w * f(x, y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        jf, jg = cr.jit(f), cr.jit(cr.grad(s, argnums=(0, 1)))
        for _ in range(2):                       # the staged call, then the compiled code
            _close(jf(x, y), f(x, y))
            for got, want in zip(jg(x, y), cr.grad(s, argnums=(0, 1))(x, y)):
                _close(got, want)


@settings(max_examples=60, **SETTINGS)
@given(programs(max_depth=5), st.integers(0, 2 ** 31 - 1))
def test_jit_equals_eager_small_arrays(prog, seed):
    _check(*prog, seed)


@pytest.mark.skipif(not native.available(), reason="numba not installed")
@settings(max_examples=15, **SETTINGS)
@given(programs(max_depth=4), st.integers(0, 2 ** 31 - 1))
def test_jit_equals_eager_with_native_kernels(prog, seed):
    expr, x, y = prog
    x = np.broadcast_to(x, np.broadcast_shapes(np.shape(x), np.shape(y)))
    reps = -(-native.MIN_SIZE // max(x.size, 1))             # a leading axis big enough to fuse
    offsets = np.linspace(-0.5, 0.5, reps).reshape((reps,) + (1,) * x.ndim)
    _check(expr, x[None] + offsets, y, seed)
