"""cond/switch/while_loop/fori_loop/scan against the same loops written in Python."""
import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp


def test_cond_both_branches_forward_reverse_jit():
    f = lambda x: cr.cond(x < 0, lambda v: v ** 3, lambda v: cnp.sin(v), x)
    for x, want in [(-2.0, 12.0), (0.5, math.cos(0.5))]:
        assert cr.grad(f)(x) == pytest.approx(want)
        assert cr.jvp(f, (x,), (1.0,))[1] == pytest.approx(want)
        assert cr.jit(cr.grad(f))(x) == pytest.approx(want)


def test_switch_clamps_and_differentiates():
    branches = [lambda v: v * 2.0, lambda v: v ** 2, lambda v: cnp.exp(v)]
    f = lambda i, x: cr.switch(i, branches, x)
    assert cr.grad(f, argnums=1)(0, 3.0) == 2.0
    assert cr.grad(f, argnums=1)(1, 3.0) == 6.0
    assert cr.grad(f, argnums=1)(7, 1.0) == pytest.approx(math.e)   # clamped to the last branch


def test_reverse_mode_through_while_loop_with_data_dependent_trips():
    def f(x):
        return cr.while_loop(lambda v: v < 100.0, lambda v: v * 1.7, x)

    def trips(x):
        n = 0
        while x < 100.0:
            x *= 1.7
            n += 1
        return n
    for x in [1.0, 5.0, 42.0, 150.0]:
        want = 1.7 ** trips(x)
        assert cr.grad(f)(x) == pytest.approx(want)
        assert cr.jvp(f, (x,), (1.0,))[1] == pytest.approx(want)
        assert cr.jit(cr.grad(f))(x) == pytest.approx(want)


def test_fori_loop_matches_python_loop_and_second_order():
    def f(x):
        return cr.fori_loop(0, 5, lambda i, v: v * cnp.cos(v) + i, x)

    def g(x):
        v = x
        for i in range(5):
            v = v * cnp.cos(v) + i
        return v
    x = 0.3
    assert cr.grad(f)(x) == pytest.approx(cr.grad(g)(x), rel=1e-14)
    h = 1e-5
    fd2 = (cr.grad(g)(x + h) - cr.grad(g)(x - h)) / (2 * h)
    assert cr.grad(cr.grad(f))(x) == pytest.approx(fd2, rel=1e-6)


def test_scan_cumulative_product_gradient():
    def f(xs):
        carry, ys = cr.scan(lambda c, x: (c * x, c * x), 1.0, xs)
        return carry + cnp.sum(ys)
    xs = np.array([1.5, -2.0, 0.5, 3.0])
    # closed form: d/dx_k of prod(xs) + sum_j prod(xs[:j+1])
    want = np.array([sum(np.prod(np.delete(xs[:j + 1], k)) for j in range(k, 4)) + np.prod(np.delete(xs, k))
                     for k in range(4)])
    np.testing.assert_allclose(cr.grad(f)(xs), want, rtol=1e-13)
    carry, ys = cr.scan(lambda c, x: (c + x, c), 0.0, xs, reverse=True)
    # reverse order: the carry before step k is the sum of xs[k+1:]
    np.testing.assert_allclose(ys, [1.5, 3.5, 3.0, 0.0])
    assert carry == pytest.approx(xs.sum())


def test_scan_errors():
    with pytest.raises(ValueError, match="xs or length"):
        cr.scan(lambda c, x: (c, x), 0.0)
    with pytest.raises(TypeError, match="scalar"):
        cr.cond(np.array([True, False]), lambda: 1.0, lambda: 2.0)
