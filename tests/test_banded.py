"""The banded pass: Jacobians and Hessians of stencils kept as diagonals under jit.

Every case checks the compiled result against eager evaluation (the dense
program) and, where one exists, a closed form; the structural checks assert
that no dense intermediate survives where the pass applies.
"""
import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.ir import banded

from helpers import rosen, rosen_hessian


def two_d_eqns(prog):
    return [e for e in prog.eqns if any(len(o.shape) >= 2 for o in e.outvars)]


@pytest.mark.parametrize("n", [9, 40, 300])
def test_rosenbrock_hessian_under_jit_is_exact_and_never_dense(n):
    x = np.random.default_rng(n).uniform(-1, 1, n)
    h = cr.jit(cr.hessian(rosen))
    np.testing.assert_allclose(h(x), rosen_hessian(x), rtol=1e-13, atol=1e-11)
    np.testing.assert_allclose(h(x), cr.hessian(rosen)(x), rtol=1e-14, atol=1e-12)
    out = h(x)
    assert out.flags.c_contiguous and out.flags.writeable
    if n * (n - 1) >= banded.MIN_SIZE:
        prog = h.lower(x)
        # the only matrix left is the output, written out from its three diagonals
        assert [e.prim.name for e in two_d_eqns(prog)] == ["reshape"]
        assert sum(e.prim.name == "index_add" and e.outvars[0].shape == (n * n,)
                   for e in prog.eqns) == 3


def second_difference(x):
    return cnp.exp(x[2:] - 2 * x[1:-1] + x[:-2]) * x[1:-1] / 3.0


def second_difference_jacobian(x):
    n = len(x)
    e = np.exp(x[2:] - 2 * x[1:-1] + x[:-2])
    J = np.zeros((n - 2, n))
    i = np.arange(n - 2)
    J[i, i] = e * x[1:-1] / 3
    J[i, i + 2] = e * x[1:-1] / 3
    J[i, i + 1] = (-2 * e * x[1:-1] + e) / 3
    return J


@pytest.mark.parametrize("jac", [cr.jacfwd, cr.jacrev])
def test_rectangular_stencil_jacobians_in_both_modes(jac):
    x = np.random.default_rng(1).normal(size=50)
    want = second_difference_jacobian(x)
    j = cr.jit(jac(second_difference))
    np.testing.assert_allclose(j(x), want, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(j(x), jac(second_difference)(x), rtol=1e-14, atol=1e-15)
    assert two_d_eqns(j.lower(x))[-1].prim.name == "reshape"
    assert len(two_d_eqns(j.lower(x))) == 1


def piecewise(x):
    return cnp.where(x[1:] > 0, cnp.sin(x[1:] * x[:-1]), 2 * x[:-1] - x[1:] ** 2)


def test_where_of_banded_tangents():
    x = np.random.default_rng(2).normal(size=30)
    for jac in (cr.jacfwd, cr.jacrev):
        j = cr.jit(jac(piecewise))
        np.testing.assert_allclose(j(x), jac(piecewise)(x), rtol=1e-14, atol=1e-15)
    a, b = x[:-1], x[1:]
    want = np.zeros((29, 30))
    i = np.arange(29)
    pos = b > 0
    want[i, i] = np.where(pos, np.cos(a * b) * b, 2.0)
    want[i, i + 1] = np.where(pos, np.cos(a * b) * a, -2 * b)
    np.testing.assert_allclose(cr.jit(cr.jacfwd(piecewise))(x), want, rtol=1e-14, atol=1e-15)


def test_banded_meets_dense_and_is_written_out_first():
    rng = np.random.default_rng(3)
    W = rng.normal(size=(20, 20))
    f = lambda x: cnp.tanh(W @ x) + x ** 3 - cnp.concatenate([x[1:] * x[:-1], x[:1]])  # noqa: E731
    x = rng.normal(size=20)
    fwd, rev = cr.jit(cr.jacfwd(f))(x), cr.jit(cr.jacrev(f))(x)
    np.testing.assert_allclose(fwd, rev, rtol=1e-12, atol=1e-12)          # across modes
    J = (1 - np.tanh(W @ x) ** 2)[:, None] * W + np.diag(3 * x ** 2)      # closed form
    i = np.arange(19)
    J[i, i + 1] -= x[:-1]
    J[i, i] -= x[1:]
    J[19, 0] -= 1.0
    np.testing.assert_allclose(fwd, J, rtol=1e-12, atol=1e-12)
    s = lambda v: cnp.sum(f(v) ** 2)                                     # noqa: E731
    np.testing.assert_allclose(cr.jit(cr.hessian(s))(x), cr.jacfwd(cr.jacfwd(s))(x),
                               rtol=1e-11, atol=1e-11)


def test_banded_under_vmap_of_hessian_and_unit_axes():
    xs = np.random.default_rng(4).uniform(-1, 1, (3, 25))
    h = cr.jit(cr.vmap(cr.hessian(rosen)))
    got = h(xs)
    for x, H in zip(xs, got):
        np.testing.assert_allclose(H, rosen_hessian(x), rtol=1e-13, atol=1e-11)
    # a Jacobian with a size-1 output axis in the middle
    f = lambda x: cnp.reshape(x[1:] ** 2 - x[:-1], (24, 1))     # noqa: E731
    x = xs[0]
    want = np.zeros((24, 1, 25))                                         # closed form
    want[np.arange(24), 0, np.arange(24)] = -1.0
    want[np.arange(24), 0, np.arange(1, 25)] = 2 * x[1:]
    np.testing.assert_allclose(cr.jit(cr.jacfwd(f))(x), want, rtol=1e-15, atol=0)
    np.testing.assert_allclose(cr.jit(cr.jacrev(f))(x), want, rtol=1e-15, atol=0)


def test_products_of_banded_matrices_and_scalar_divisions():
    # Hessian of a product of shifted terms: band x band products appear in the rules
    f = lambda x: cnp.sum((x[1:] * x[:-1]) ** 2 / 4.0) + cnp.sum(cnp.sin(x[2:] * x[:-2]))  # noqa: E731
    x = np.random.default_rng(5).normal(size=40)
    h = cr.jit(cr.hessian(f))
    np.testing.assert_allclose(h(x), cr.hessian(f)(x), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(h(x), h(x).T, rtol=1e-14, atol=1e-14)
    # against finite differences of the gradient
    g = cr.grad(f)
    eps = 1e-6
    fd = np.stack([(g(x + eps * e) - g(x - eps * e)) / (2 * eps) for e in np.eye(40)])
    np.testing.assert_allclose(h(x), fd, rtol=1e-6, atol=1e-6)


def test_identity_times_a_full_matrix_keeps_its_diagonal():
    rng = np.random.default_rng(6)
    A = rng.normal(size=(30, 30))
    f = lambda x: cnp.sum(A * cnp.outer(x, x) * np.eye(30), axis=1)  # noqa: E731
    x = rng.normal(size=30)
    for jac in (cr.jacfwd, cr.jacrev):
        np.testing.assert_allclose(cr.jit(jac(f))(x), jac(f)(x), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(cr.jit(cr.jacfwd(f))(x), np.diag(2 * np.diag(A) * x),
                               rtol=1e-13, atol=1e-14)


def test_many_diagonals_stay_dense():
    # a wide stencil (more diagonals than MAX_DIAGONALS): the pass leaves it dense, still exact
    k = banded.MAX_DIAGONALS + 2
    f = lambda x: sum(x[i:len(x) - k + i] * (i + 1) for i in range(k)) ** 2   # noqa: E731
    x = np.random.default_rng(7).normal(size=40)
    j = cr.jit(cr.jacfwd(f))
    np.testing.assert_allclose(j(x), cr.jacrev(f)(x), rtol=1e-13, atol=1e-13)   # across modes
