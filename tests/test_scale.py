"""Scale: a reverse pass over a million operations needs no recursion, and the tape's
memory is released when the transformation returns."""
from __future__ import annotations

import gc
import inspect
import sys
import tracemalloc
import weakref

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp

N_ITER = 500_000          # two primitive operations per iteration: 1,000,000 operations
C, D = 1.0000001, 1e-9


def long_chain(x, n=N_ITER):
    for _ in range(n):
        x = x * C + D
    return x


def test_million_operation_reverse_pass():
    big = np.random.default_rng(0).random(1_000_000)
    ref = weakref.ref(big)

    def f(x):
        y = long_chain(x)
        return y + 1e-12 * cnp.sum(big * x)  # noqa: F821 (runs before `del big`); the tape holds `big` until grad returns

    g = cr.grad(f)(1.0)
    exact = C ** N_ITER + 1e-12 * big.sum()
    assert g == pytest.approx(exact, rel=1e-9)
    del big
    assert ref() is None, "the tape (holding `big`) is still alive after grad returned"


def _limited_recursion(fn, headroom=120):
    """Run fn with the recursion limit only `headroom` frames above the current depth."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack(0)) + headroom)
    try:
        return fn()
    finally:
        sys.setrecursionlimit(old)


def test_backward_pass_is_not_recursive():
    # 20,000 operations under a recursion limit of ~120 extra frames: a recursive pullback would fail
    n = 10_000
    g = _limited_recursion(lambda: cr.grad(lambda x: long_chain(x, n))(1.0))
    assert g == pytest.approx(C ** n, rel=1e-12)
    _, pullback = cr.vjp(lambda x: long_chain(x, n), 1.0)
    (g2,) = _limited_recursion(lambda: pullback(1.0))
    assert g2 == pytest.approx(C ** n, rel=1e-12)


def test_second_order_long_chain_not_recursive():
    n = 5_000

    def f(x):
        for _ in range(n):
            x = cnp.sin(x) * 0.5 + x * 0.5
        return x
    # d/dx recurrence: y' = (0.5 cos y + 0.5) y'; second derivative by FD of the gradient
    h = 1e-5
    g2 = _limited_recursion(lambda: cr.grad(cr.grad(f))(0.3))
    fd = (cr.grad(f)(0.3 + h) - cr.grad(f)(0.3 - h)) / (2 * h)
    assert g2 == pytest.approx(fd, rel=1e-5, abs=1e-12)
    g2f = _limited_recursion(lambda: cr.jvp(cr.grad(f), (0.3,), (1.0,))[1])
    assert g2f == pytest.approx(g2, rel=1e-10, abs=1e-15)


def test_memory_released_after_grad_returns():
    n = 10_000
    x = np.linspace(0.0, 1.0, n)

    def f(x):
        for _ in range(300):                       # 300 ops x 80 KB intermediates ~ 25+ MB on the tape
            x = cnp.sin(x) + 0.01
        return cnp.sum(x)

    cr.grad(f)(x)                                  # warm up caches and lazily built tables
    from chainrule.compile.loop_kernel import wait_native
    wait_native()                                  # a background numba build allocates too
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        g = cr.grad(f)(x)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - base > 20e6, "the test program did not build a sizeable tape"
    # what remains is the returned gradient (80 KB) plus small change
    assert current - base < 1e6, f"{(current - base) / 1e6:.1f} MB still held after grad returned"
    assert g.shape == (n,)
    # value: chain rule on the recurrence
    y, d = x.copy(), np.ones(n)
    for _ in range(300):
        d = d * np.cos(y)
        y = np.sin(y) + 0.01
    np.testing.assert_allclose(g, d, rtol=1e-12)


def test_vjp_memory_released_with_pullback():
    big = np.random.default_rng(1).random(200_000)
    ref = weakref.ref(big)
    out, pullback = cr.vjp(lambda x: cnp.sum(cnp.sin(big * x)), 0.5)  # noqa: F821 (runs before `del big`)
    del big
    assert ref() is not None                        # the pullback needs the tape
    (g1,) = pullback(1.0)
    (g2,) = pullback(2.0)                           # callable again: the tape was kept
    assert g2 == pytest.approx(2 * g1, rel=1e-14)
    del pullback
    assert ref() is None


def test_memory_released_after_exception():
    big = np.random.default_rng(2).random(200_000)
    ref = weakref.ref(big)

    def f(x):
        cnp.sum(big * x)  # noqa: F821 (runs before `del big`)
        raise ValueError("stop")
    with pytest.raises(ValueError):
        cr.grad(f)(1.0)
    del big
    gc.collect()                                    # the traceback's frames may form a cycle
    assert ref() is None
