"""Reverse mode of a scan whose step holds products saves residuals (loops._residual_split).

The forward scan saves what the backward step reads, so the backward scan does not
recompute the step's matrix products.  Every case is checked against the recomputing
path (the same gradients by another route), eager unrolled loops and finite differences.
"""
import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule import loops

RNG = np.random.default_rng(3)
A = RNG.normal(size=(40, 40)) / 40
B = RNG.normal(size=(40, 4)) / 4
XS = RNG.normal(size=(30, 4))


def step(carry, x, a, b):
    """A recurrent step with products of a constant, a traced matrix and the carry."""
    h, total = carry
    h = cnp.tanh(a @ h + b @ x)
    return (h, total + cnp.sum(h ** 2)), h[:2] * 3.0


def loss_scan(a, b, h0, xs, reverse=False):
    (h, total), ys = cr.scan(lambda c, x: step(c, x, a, b), (h0, 0.0), xs, reverse=reverse)
    return total + cnp.sum(h) + cnp.sum(ys[::3] ** 2)


def loss_unrolled(a, b, h0, xs, reverse=False):
    carry, ys = (h0, 0.0), []
    for x in (xs[::-1] if reverse else xs):
        carry, y = step(carry, x, a, b)
        ys.append(y)
    ys = cnp.stack(ys[::-1] if reverse else ys)
    return carry[1] + cnp.sum(carry[0]) + cnp.sum(ys[::3] ** 2)


@pytest.fixture
def split_used(monkeypatch):
    """Records whether the residual split was taken."""
    used, real = [], loops._residual_split
    monkeypatch.setattr(loops, "_residual_split", lambda *a: used.append(real(*a)) or used[-1])
    return used


H0 = RNG.normal(size=40)


@pytest.mark.parametrize("reverse", [False, True])
def test_gradients_with_saved_residuals_match_the_unrolled_loop(split_used, reverse):
    args = (A, B, H0, XS)
    want = cr.grad(loss_unrolled, argnums=(0, 1, 2, 3))(*args, reverse)
    for g in (cr.grad(loss_scan, argnums=(0, 1, 2, 3)), cr.jit(cr.grad(loss_scan, argnums=(0, 1, 2, 3)),
                                                               static_argnums=4)):
        for _ in range(2):
            for got, w in zip(g(*args, reverse), want):
                np.testing.assert_allclose(got, w, rtol=1e-11, atol=1e-13)
    assert any(s is not None for s in split_used)            # the residual path ran


def test_residual_and_recomputing_paths_agree(monkeypatch):
    g = cr.grad(loss_scan, argnums=(0, 1, 2))
    with_res = g(A, B, H0, XS)
    monkeypatch.setattr(loops, "_residual_split", lambda *a: None)
    for a, b in zip(with_res, g(A, B, H0, XS)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_second_order_and_vmap_through_the_split(split_used):
    f = lambda h0: loss_scan(A, B, h0, XS[:12])
    np.testing.assert_allclose(cr.hessian(f)(H0), cr.hessian(lambda h: loss_unrolled(A, B, h, XS[:12]))(H0),
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cr.jit(cr.grad(f))(H0), cr.fd.gradient(f, H0), rtol=1e-6, atol=1e-7)
    hs = RNG.normal(size=(3, 40))
    got = cr.vmap(cr.grad(f))(hs)
    for h, row in zip(hs, got):
        np.testing.assert_allclose(row, cr.grad(f)(h), rtol=1e-12)
    assert any(s is not None for s in split_used)


def test_only_the_carry_has_a_cotangent(split_used):
    """ys that nothing reads get zero cotangents in the saved-residual backward scan."""
    def f(a):
        (h, _), _ = cr.scan(lambda c, x: step(c, x, a, B), (H0, 0.0), XS)
        return cnp.sum(h)

    def f_unrolled(a):
        c = (H0, 0.0)
        for x in XS:
            c, _ = step(c, x, a, B)
        return cnp.sum(c[0])
    np.testing.assert_allclose(cr.jit(cr.grad(f))(A), cr.grad(f_unrolled)(A), rtol=1e-11, atol=1e-13)


def test_while_loop_with_a_product_in_its_body():
    def f(h0):
        n, h = cr.while_loop(lambda c: c[0] < 9, lambda c: (c[0] + 1, cnp.tanh(A @ c[1]) + 0.1), (0, h0))
        return cnp.sum(h ** 2)

    def f_unrolled(h):
        for _ in range(9):
            h = cnp.tanh(A @ h) + 0.1
        return cnp.sum(h ** 2)
    np.testing.assert_allclose(cr.jit(cr.grad(f))(H0), cr.grad(f_unrolled)(H0), rtol=1e-12)
    np.testing.assert_allclose(cr.grad(f)(H0), cr.grad(f_unrolled)(H0), rtol=1e-12)


def test_elementwise_steps_recompute(split_used):
    cr.grad(lambda x: cnp.sum(cr.fori_loop(0, 20, lambda i, v: cnp.sin(v) * 1.1, x)))(H0)
    assert split_used and all(s is None for s in split_used)
