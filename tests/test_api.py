"""The public transformations: grad, jvp, vjp, Jacobians, Hessians, custom rules,
checkpoint, pytrees and complex numbers (JAX's conventions)."""
from __future__ import annotations

import collections
import dataclasses
import gc
import math
import tracemalloc

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.tree_util import register_dataclass, register_pytree_node, tree_flatten

from helpers import check_jvp_vjp, fd_grad

RNG = np.random.default_rng(7)


def f_xy(x, y):
    return cnp.sin(x) * y ** 2


# --------------------------------------------------------------- grad ---

def test_grad_argnums_int_and_tuple():
    x, y = 0.7, 1.9
    assert cr.grad(f_xy)(x, y) == pytest.approx(math.cos(x) * y ** 2, rel=1e-14)
    assert cr.grad(f_xy, argnums=1)(x, y) == pytest.approx(2 * y * math.sin(x), rel=1e-14)
    gx, gy = cr.grad(f_xy, argnums=(0, 1))(x, y)
    assert gx == pytest.approx(math.cos(x) * y ** 2, rel=1e-14)
    assert gy == pytest.approx(2 * y * math.sin(x), rel=1e-14)
    (gy2,) = cr.grad(f_xy, argnums=(1,))(x, y)           # a tuple of one stays a tuple
    assert gy2 == pytest.approx(gy, rel=1e-14)
    g_neg = cr.grad(f_xy, argnums=-1)(x, y)
    assert g_neg == pytest.approx(gy, rel=1e-14)


def test_grad_arrays_matches_fd():
    A = RNG.standard_normal((3, 3))
    f = lambda x: cnp.sum(cnp.tanh(A @ x) ** 2) + cnp.prod(x)
    x = RNG.standard_normal(3)
    np.testing.assert_allclose(cr.grad(f)(x), fd_grad(lambda v: float(f(v)), x), rtol=1e-7, atol=1e-9)


def test_value_and_grad():
    v, g = cr.value_and_grad(f_xy)(0.3, 2.0)
    assert v == pytest.approx(math.sin(0.3) * 4.0, rel=1e-15)
    assert g == pytest.approx(math.cos(0.3) * 4.0, rel=1e-15)
    v, (g0, g1) = cr.value_and_grad(f_xy, argnums=(0, 1))(0.3, 2.0)
    assert v == pytest.approx(math.sin(0.3) * 4.0)
    assert (g0, g1) == (pytest.approx(math.cos(0.3) * 4.0), pytest.approx(4.0 * math.sin(0.3)))


def test_has_aux():
    def f(x):
        return x ** 2, {"cube": x ** 3, "tag": "hello"}
    g, aux = cr.grad(f, has_aux=True)(3.0)
    assert g == pytest.approx(6.0)
    assert float(aux["cube"]) == pytest.approx(27.0) and aux["tag"] == "hello"
    assert not isinstance(aux["cube"], cr.core.Tracer)       # aux comes back as plain values
    (v, aux2), g2 = cr.value_and_grad(f, has_aux=True)(3.0)
    assert v == pytest.approx(9.0) and g2 == pytest.approx(6.0)
    assert float(aux2["cube"]) == pytest.approx(27.0)
    with pytest.raises(TypeError):
        cr.grad(lambda x: x ** 2, has_aux=True)(3.0)   # not a pair


def test_kwargs_pass_through_and_are_not_differentiated():
    def f(x, scale=1.0, *, power=2):
        return scale * x ** power
    assert cr.grad(f)(3.0, scale=2.0) == pytest.approx(12.0)
    assert cr.grad(f)(3.0, scale=2.0, power=3) == pytest.approx(54.0)
    v, g = cr.value_and_grad(f)(2.0, power=3)
    assert (v, g) == (pytest.approx(8.0), pytest.approx(12.0))
    J = cr.jacfwd(lambda x, s=1.0: s * x)(np.ones(2), s=3.0)
    np.testing.assert_allclose(J, 3.0 * np.eye(2))
    J = cr.jacrev(lambda x, s=1.0: s * x)(np.ones(2), s=3.0)
    np.testing.assert_allclose(J, 3.0 * np.eye(2))


def test_grad_closure_constant_and_unused_argument():
    c = np.array([1.0, 2.0])
    assert cr.grad(lambda x, y: cnp.sum(c * x))(1.5, 2.0) == pytest.approx(3.0)
    assert cr.grad(lambda x, y: cnp.sum(c * x), argnums=1)(1.5, 2.0) == 0.0
    g = cr.grad(lambda x: 3.0)(np.ones(3))                   # constant function: zero gradient
    np.testing.assert_array_equal(g, np.zeros(3))
    assert g.shape == (3,)


# ------------------------------------------------------- jvp / vjp ---

def test_jvp_closed_form():
    x = np.array([0.1, 0.5, 2.0])
    t = np.array([1.0, -2.0, 0.5])
    out, tan = cr.jvp(lambda x: cnp.exp(x) * cnp.sin(x), (x,), (t,))
    np.testing.assert_allclose(out, np.exp(x) * np.sin(x), rtol=1e-15)
    np.testing.assert_allclose(tan, t * np.exp(x) * (np.sin(x) + np.cos(x)), rtol=1e-14)
    # several arguments, pytree output
    out, tan = cr.jvp(lambda a, b: (a * b, a + b), (2.0, 3.0), (1.0, 10.0))
    assert tan == (pytest.approx(3.0 + 20.0), pytest.approx(11.0))


def test_jvp_has_aux():
    out, tan, aux = cr.jvp(lambda x: (x ** 2, x * 10.0), (3.0,), (1.0,), has_aux=True)
    assert (out, tan, float(aux)) == (pytest.approx(9.0), pytest.approx(6.0), pytest.approx(30.0))


def test_vjp_fn_callable_twice_and_linear():
    W = RNG.standard_normal((4, 3))
    x = RNG.standard_normal(3)
    out, pullback = cr.vjp(lambda x: cnp.tanh(W @ x), x)
    J = (1 - np.tanh(W @ x) ** 2)[:, None] * W
    w1, w2 = RNG.standard_normal(4), RNG.standard_normal(4)
    (c1,) = pullback(w1)
    (c2,) = pullback(w2)
    (c1b,) = pullback(w1)                              # same answer again
    np.testing.assert_allclose(c1, J.T @ w1, rtol=1e-13)
    np.testing.assert_allclose(c2, J.T @ w2, rtol=1e-13)
    np.testing.assert_array_equal(c1, c1b)
    (c12,) = pullback(w1 + 2 * w2)
    np.testing.assert_allclose(c12, c1 + 2 * c2, rtol=1e-12)


def test_vjp_multiple_inputs_and_outputs():
    out, pullback = cr.vjp(lambda a, b: {"s": a * b, "d": a - b}, 2.0, 5.0)
    assert out["s"] == pytest.approx(10.0)
    ca, cb = pullback({"s": 1.0, "d": 3.0})
    assert (ca, cb) == (pytest.approx(5.0 + 3.0), pytest.approx(2.0 - 3.0))


def test_vjp_has_aux():
    out, pullback, aux = cr.vjp(lambda x: (x * 3.0, x + 1.0), 2.0, has_aux=True)
    assert out == pytest.approx(6.0) and float(aux) == pytest.approx(3.0)
    assert pullback(1.0)[0] == pytest.approx(3.0)


def test_linearize():
    x = np.array([0.3, 1.1])
    out, f_jvp = cr.linearize(lambda x: cnp.sin(x) * x, x)
    np.testing.assert_allclose(out, np.sin(x) * x)
    t = np.array([1.0, 2.0])
    np.testing.assert_allclose(f_jvp(t), t * (np.cos(x) * x + np.sin(x)), rtol=1e-14)
    np.testing.assert_allclose(f_jvp(2 * t), 2 * t * (np.cos(x) * x + np.sin(x)), rtol=1e-14)


def test_linear_transpose():
    A = RNG.standard_normal((2, 3))
    f = lambda x: A @ x
    ft = cr.linear_transpose(f, np.zeros(3))
    y = RNG.standard_normal(2)
    (xt,) = ft(y)
    np.testing.assert_allclose(xt, A.T @ y, rtol=1e-14)
    # a linear map built from several ops: cumsum then slice
    g = lambda x: cnp.cumsum(x)[1:] * 2.0
    gt = cr.linear_transpose(g, np.zeros(4))
    M = np.stack([np.asarray(g(e)) for e in np.eye(4)], axis=1)
    (r,) = gt(np.array([1.0, -1.0, 0.5]))
    np.testing.assert_allclose(r, M.T @ np.array([1.0, -1.0, 0.5]), rtol=1e-14)


# ------------------------------------------------------- Jacobians ---

def test_jacobians_closed_form_and_agreement():
    W = RNG.standard_normal((4, 3))
    b = RNG.standard_normal(4)
    f = lambda x: cnp.tanh(W @ x + b)
    x = RNG.standard_normal(3)
    exact = (1 - np.tanh(W @ x + b) ** 2)[:, None] * W
    for jac in (cr.jacfwd, cr.jacrev, cr.jacobian):
        J = jac(f)(x)
        assert J.shape == (4, 3)
        np.testing.assert_allclose(J, exact, rtol=1e-13, atol=1e-15)


def test_jacobian_shapes_out_shape_plus_in_shape():
    x = RNG.standard_normal((2, 3))
    f = lambda x: cnp.sin(x)[None] * np.ones((4, 1, 1))     # (4, 2, 3)
    Jf, Jr, Ja = cr.jacfwd(f)(x), cr.jacrev(f)(x), cr.jacobian(f)(x)
    assert Jf.shape == Jr.shape == Ja.shape == (4, 2, 3, 2, 3)
    exact = np.zeros((4, 2, 3, 2, 3))
    for k in range(4):
        for i in range(2):
            for j in range(3):
                exact[k, i, j, i, j] = np.cos(x[i, j])
    for J in (Jf, Jr, Ja):
        np.testing.assert_allclose(J, exact, rtol=1e-14, atol=1e-15)
    # scalar in, vector out and vector in, scalar out
    assert cr.jacfwd(lambda s: s * np.arange(3.0))(2.0).shape == (3,)
    assert cr.jacrev(lambda v: cnp.sum(v))(np.ones(3)).shape == (3,)
    assert np.shape(cr.jacfwd(lambda s: s ** 2)(3.0)) == ()
    assert float(cr.jacrev(lambda s: s ** 2)(3.0)) == pytest.approx(6.0)


def test_jacobian_pytree_in_and_out():
    def f(d):
        a, (b,) = d["a"], d["b"]
        return {"outer": cnp.outer(a, b), "s": cnp.sum(a ** 2) * b[0]}
    d = {"a": np.array([1.0, 2.0]), "b": [np.array([3.0, 4.0, 5.0])]}
    for jac in (cr.jacfwd, cr.jacrev, cr.jacobian):
        J = jac(f)(d)
        assert J["outer"]["a"].shape == (2, 3, 2) and J["outer"]["b"][0].shape == (2, 3, 3)
        assert J["s"]["a"].shape == (2,) and J["s"]["b"][0].shape == (3,)
        Ja = np.zeros((2, 3, 2))
        Jb = np.zeros((2, 3, 3))
        for i in range(2):
            for j in range(3):
                Ja[i, j, i] = d["b"][0][j]
                Jb[i, j, j] = d["a"][i]
        np.testing.assert_allclose(J["outer"]["a"], Ja)
        np.testing.assert_allclose(J["outer"]["b"][0], Jb)
        np.testing.assert_allclose(J["s"]["a"], 2 * d["a"] * 3.0)
        np.testing.assert_allclose(J["s"]["b"][0], [5.0, 0.0, 0.0])


def test_jacobian_argnums_tuple():
    f = lambda x, y: x * y
    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    for jac in (cr.jacfwd, cr.jacrev, cr.jacobian):
        Jx, Jy = jac(f, argnums=(0, 1))(x, y)
        np.testing.assert_allclose(Jx, np.diag(y))
        np.testing.assert_allclose(Jy, np.diag(x))


def test_jacobian_has_aux():
    for jac in (cr.jacfwd, cr.jacrev):
        J, aux = jac(lambda x: (x ** 2, cnp.sum(x)), has_aux=True)(np.array([1.0, 3.0]))
        np.testing.assert_allclose(J, np.diag([2.0, 6.0]))
        assert float(aux) == pytest.approx(4.0)


def test_jacobian_wide_and_tall_agree():
    # jacobian picks the mode by size; the answer must not depend on it
    W1 = RNG.standard_normal((2, 7))
    W2 = RNG.standard_normal((7, 2))
    for W, n in ((W1, 7), (W2, 2)):
        f = lambda x, W=W: cnp.sin(W @ x)
        x = RNG.standard_normal(n)
        exact = np.cos(W @ x)[:, None] * W
        np.testing.assert_allclose(cr.jacobian(f)(x), exact, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(cr.jacfwd(f)(x), cr.jacrev(f)(x), rtol=1e-13, atol=1e-15)


# -------------------------------------------------- Hessians, hvp ---

def test_hessian_closed_form():
    A = RNG.standard_normal((3, 3))
    A = A + A.T
    f = lambda x: 0.5 * x @ A @ x + cnp.sum(cnp.sin(x))
    x = RNG.standard_normal(3)
    H = cr.hessian(f)(x)
    np.testing.assert_allclose(H, A - np.diag(np.sin(x)), rtol=1e-13, atol=1e-14)
    # jacfwd(jacrev), jacrev(jacfwd), jacrev(jacrev) agree
    for h in (cr.jacrev(cr.jacfwd(f)), cr.jacrev(cr.jacrev(f)), cr.jacfwd(cr.jacfwd(f))):
        np.testing.assert_allclose(h(x), H, rtol=1e-13, atol=1e-14)


def test_hessian_argnums_and_matrix_input():
    f = lambda X: cnp.sum(X ** 3)
    X = np.array([[1.0, 2.0], [3.0, 4.0]])
    H = cr.hessian(f)(X)
    assert H.shape == (2, 2, 2, 2)
    exact = np.zeros((2, 2, 2, 2))
    for i in range(2):
        for j in range(2):
            exact[i, j, i, j] = 6 * X[i, j]
    np.testing.assert_allclose(H, exact)
    Hy = cr.hessian(lambda x, y: x * y ** 3, argnums=1)(2.0, 3.0)
    assert float(Hy) == pytest.approx(2.0 * 6 * 3.0)


def test_hvp():
    A = RNG.standard_normal((4, 4))
    A = A @ A.T
    f = lambda x: 0.5 * x @ A @ x + cnp.sum(x ** 4)
    x, v = RNG.standard_normal(4), RNG.standard_normal(4)
    H = A + np.diag(12 * x ** 2)
    np.testing.assert_allclose(cr.hvp(f, (x,), (v,)), H @ v, rtol=1e-12)
    # two arguments: returns a tuple (H_xx v_x + H_xy v_y, H_yx v_x + H_yy v_y)
    g = lambda a, b: a ** 2 * b ** 3
    r = cr.hvp(g, (2.0, 3.0), (1.0, -1.0))
    Hg = np.array([[2 * 27.0, 6 * 2.0 * 9.0], [6 * 2.0 * 9.0, 4.0 * 6 * 3.0]])
    np.testing.assert_allclose(np.array([float(r[0]), float(r[1])]), Hg @ np.array([1.0, -1.0]))


# ---------------------------------------------------- stop_gradient ---

def test_stop_gradient():
    f = lambda x: x * cr.stop_gradient(x) + cnp.stop_gradient(x ** 2)
    assert cr.grad(f)(3.0) == pytest.approx(3.0)
    assert cr.jvp(f, (3.0,), (1.0,))[1] == pytest.approx(3.0)
    assert float(f(3.0)) == pytest.approx(18.0)
    # second order: d2/dx2 [x * sg(x)] = 0
    assert cr.grad(cr.grad(lambda x: x * cr.stop_gradient(x) ** 2))(3.0) == pytest.approx(0.0)
    np.testing.assert_array_equal(cr.stop_gradient(np.arange(3.0)), np.arange(3.0))


# ----------------------------------------------------- custom rules ---

def test_custom_jvp_rule_used_in_forward_and_reverse():
    @cr.custom_jvp
    def f(x):
        return cnp.sin(x)

    @f.defjvp
    def f_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return f(x), 2.0 * cnp.cos(x) * t            # deliberately 2x the true derivative

    x = 0.4
    assert float(f(x)) == pytest.approx(math.sin(x))
    assert cr.jvp(f, (x,), (1.0,))[1] == pytest.approx(2 * math.cos(x))
    assert cr.grad(f)(x) == pytest.approx(2 * math.cos(x))
    np.testing.assert_allclose(cr.jacrev(f)(np.array([x, 1.0])), np.diag(2 * np.cos([x, 1.0])))
    # second order: the rule's derivative is differentiated (2 cos -> -2 sin)
    assert cr.grad(cr.grad(f))(x) == pytest.approx(-2 * math.sin(x))
    assert cr.jvp(cr.grad(f), (x,), (1.0,))[1] == pytest.approx(-2 * math.sin(x))
    # inside a bigger function
    assert cr.grad(lambda x: f(x * x) * 3.0)(x) == pytest.approx(3.0 * 2 * math.cos(x * x) * 2 * x)


def test_custom_jvp_numerically_stable_rule():
    @cr.custom_jvp
    def log1pexp(x):
        return cnp.log(1.0 + cnp.exp(x))

    @log1pexp.defjvp
    def _(primals, tangents):
        (x,), (t,) = primals, tangents
        return log1pexp(x), t * (1.0 - 1.0 / (1.0 + cnp.exp(x)))

    assert cr.grad(log1pexp)(100.0) == pytest.approx(1.0)            # naive rule: inf/inf = nan
    assert cr.jvp(log1pexp, (100.0,), (1.0,))[1] == pytest.approx(1.0)


def test_custom_jvp_two_args_defjvps():
    @cr.custom_jvp
    def f(x, y):
        return x * y

    f.defjvps(lambda t, ans, x, y: 10.0 * t * y, lambda t, ans, x, y: t * x)
    gx, gy = cr.grad(f, argnums=(0, 1))(2.0, 3.0)
    assert (gx, gy) == (pytest.approx(30.0), pytest.approx(2.0))
    assert cr.jvp(f, (2.0, 3.0), (1.0, 1.0))[1] == pytest.approx(32.0)


def test_custom_vjp_reverse_uses_rule_forward_differentiates_body():
    @cr.custom_vjp
    def f(x):
        return cnp.sin(x)

    def fwd(x):
        return f(x), cnp.cos(x)

    def bwd(res, g):
        return (3.0 * res * g,)                       # deliberately 3x the true derivative

    f.defvjp(fwd, bwd)
    x = 0.4
    assert float(f(x)) == pytest.approx(math.sin(x))
    assert cr.grad(f)(x) == pytest.approx(3 * math.cos(x))
    assert cr.jvp(f, (x,), (1.0,))[1] == pytest.approx(math.cos(x))           # body
    np.testing.assert_allclose(cr.jacfwd(f)(np.array([x])), [[math.cos(x)]])
    np.testing.assert_allclose(cr.jacrev(f)(np.array([x])), [[3 * math.cos(x)]])
    assert cr.grad(lambda x: f(2.0 * x) ** 2)(x) == pytest.approx(2 * math.sin(2 * x) * 3 * math.cos(2 * x) * 2)


def test_custom_vjp_pytree_args_and_residuals():
    @cr.custom_vjp
    def f(x, y):
        return x * y

    f.defvjp(lambda x, y: (x * y, (x, y)), lambda res, g: (g * res[1], g * res[0] * 5.0))
    gx, gy = cr.grad(f, argnums=(0, 1))(2.0, 3.0)
    assert (gx, gy) == (pytest.approx(3.0), pytest.approx(10.0))


def test_custom_vjp_higher_order_reverse():
    # the bwd rule is written with chainrule.numpy, so reverse-over-reverse goes through it
    @cr.custom_vjp
    def f(x):
        return x ** 3

    f.defvjp(lambda x: (x ** 3, x), lambda x, g: (3.0 * x ** 2 * g,))
    assert cr.grad(cr.grad(f))(2.0) == pytest.approx(12.0)


def test_checkpoint_same_gradient():
    def block(x):
        return cnp.sin(x) * 0.9 + x * 0.1

    def net(x, blk):
        for _ in range(5):
            x = blk(x)
        return cnp.sum(x ** 2)

    x = np.linspace(-1, 1, 7)
    g_plain = cr.grad(lambda x: net(x, block))(x)
    g_ckpt = cr.grad(lambda x: net(x, cr.checkpoint(block)))(x)
    np.testing.assert_allclose(g_ckpt, g_plain, rtol=1e-14)
    np.testing.assert_allclose(g_plain, fd_grad(lambda v: float(net(v, block)), x), rtol=1e-7)
    # forward mode and second order through checkpoint
    t = RNG.standard_normal(7)
    np.testing.assert_allclose(cr.jvp(lambda x: net(x, cr.checkpoint(block)), (x,), (t,))[1],
                               g_plain @ t, rtol=1e-12)
    H1 = cr.hessian(lambda x: net(x, block))(x)
    H2 = cr.hessian(lambda x: net(x, cr.checkpoint(block)))(x)
    np.testing.assert_allclose(H2, H1, rtol=1e-12, atol=1e-14)


def test_checkpoint_recomputes_in_backward():
    calls = []

    def block(x):
        calls.append(1)
        return cnp.sin(x)
    cb = cr.checkpoint(block)
    g = cr.grad(lambda x: cb(cb(x)))(0.3)
    assert g == pytest.approx(math.cos(math.sin(0.3)) * math.cos(0.3))
    assert len(calls) > 2                   # ran again in the backward pass


def test_checkpoint_saves_memory():
    n_steps, n = 200, 100_000

    def step(x):
        return cnp.sin(x) * 0.9 + x * 0.1

    def chain(s):
        def f(x):
            for _ in range(n_steps):
                x = s(x)
            return cnp.sum(x)
        return f

    x = np.linspace(-1, 1, n)
    # exact derivative by the chain rule with NumPy
    y, d = x.copy(), np.ones(n)
    for _ in range(n_steps):
        d = d * (0.9 * np.cos(y) + 0.1)
        y = 0.9 * np.sin(y) + 0.1 * y

    peaks = {}
    from chainrule.compile.loop_kernel import wait_native
    wait_native()                   # an earlier test's background numba build allocates too
    for name, s in (("plain", step), ("checkpoint", cr.checkpoint(step))):
        gc.collect()
        tracemalloc.start()
        try:
            g = cr.grad(chain(s))(x)
            peaks[name] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        np.testing.assert_allclose(g, d, rtol=1e-11)
        del g
    # plain keeps ~4 arrays per step (~640 MB); checkpointing keeps ~1 (the step inputs)
    assert peaks["checkpoint"] < 0.5 * peaks["plain"], peaks


# ------------------------------------------------------------ pytrees ---

Point = collections.namedtuple("Point", ["x", "y"])


@register_dataclass
@dataclasses.dataclass
class Params:
    w: np.ndarray
    b: float


class Pair:
    def __init__(self, a, b):
        self.a, self.b = a, b


register_pytree_node(Pair, lambda p: ((p.a, p.b), None), lambda aux, ch: Pair(*ch))


def test_pytree_arguments():
    # tuple, list, dict, None, namedtuple, dataclass, custom node
    def f(tree):
        t, l, d, none, pt, prm, pair = tree
        assert none is None
        return (t[0] * t[1] + l[0] ** 2 + d["u"] * d["v"][0] + pt.x * pt.y
                + cnp.sum(prm.w) * prm.b + pair.a * pair.b)
    tree = ((2.0, 3.0), [4.0], {"u": 5.0, "v": [6.0]}, None, Point(7.0, 8.0),
            Params(np.array([1.0, 2.0]), 0.5), Pair(9.0, 10.0))
    g = cr.grad(f)(tree)
    t, l, d, none, pt, prm, pair = g
    assert t == (pytest.approx(3.0), pytest.approx(2.0))
    assert isinstance(l, list) and l[0] == pytest.approx(8.0)
    assert d["u"] == pytest.approx(6.0) and d["v"][0] == pytest.approx(5.0)
    assert none is None
    assert isinstance(pt, Point) and (pt.x, pt.y) == (pytest.approx(8.0), pytest.approx(7.0))
    assert isinstance(prm, Params)
    np.testing.assert_allclose(prm.w, [0.5, 0.5])
    assert prm.b == pytest.approx(3.0)
    assert isinstance(pair, Pair) and (pair.a, pair.b) == (pytest.approx(10.0), pytest.approx(9.0))


def test_pytree_results_jvp_vjp():
    def f(x):
        return {"a": (x, [x * 2.0]), "n": None, "p": Point(x ** 2, x ** 3),
                "d": Params(x * np.ones(2), x + 1.0)}
    out, tan = cr.jvp(f, (2.0,), (1.0,))
    assert tan["n"] is None and isinstance(tan["p"], Point) and isinstance(tan["d"], Params)
    assert tan["a"][0] == pytest.approx(1.0) and tan["a"][1][0] == pytest.approx(2.0)
    assert (tan["p"].x, tan["p"].y) == (pytest.approx(4.0), pytest.approx(12.0))
    np.testing.assert_allclose(tan["d"].w, [1.0, 1.0])
    out, pullback = cr.vjp(f, 2.0)
    ct = {"a": (1.0, [1.0]), "n": None, "p": Point(1.0, 1.0), "d": Params(np.ones(2), 1.0)}
    (g,) = pullback(ct)
    assert g == pytest.approx(1.0 + 2.0 + 4.0 + 12.0 + 2.0 + 1.0)
    J = cr.jacfwd(f)(2.0)
    assert isinstance(J["p"], Point) and J["p"].y == pytest.approx(12.0)


def test_grad_wrt_dict_of_params_matches_fd():
    X = RNG.standard_normal((5, 3))
    y = RNG.standard_normal(5)
    p = {"w": RNG.standard_normal(3), "b": 0.3}

    def loss(p):
        return cnp.mean((X @ p["w"] + p["b"] - y) ** 2)
    g = cr.grad(loss)(p)
    r = X @ p["w"] + p["b"] - y
    np.testing.assert_allclose(g["w"], 2 * X.T @ r / 5, rtol=1e-13)
    assert g["b"] == pytest.approx(2 * r.mean(), rel=1e-13)


# ------------------------------------------------------------ complex ---

def test_complex_grad_jax_conventions():
    g = cr.grad(lambda z: cnp.abs(z) ** 2)(3 + 4j)
    assert g == pytest.approx(6 - 8j)
    assert cr.grad(lambda z: z ** 2, holomorphic=True)(3 + 4j) == pytest.approx(6 + 8j)
    assert cr.grad(lambda z: cnp.sin(z), holomorphic=True)(1 + 2j) == pytest.approx(np.cos(1 + 2j))
    assert cr.grad(lambda z: cnp.real(z * cnp.conj(z)))(1 - 2j) == pytest.approx(2 + 4j)   # 2 conj(z)
    # real part of a holomorphic h: df/dx - i df/dy = h'(z)
    assert cr.grad(lambda z: cnp.real(z ** 3))(1 + 1j) == pytest.approx(3 * (1 + 1j) ** 2)
    # imaginary part: df/dx - i df/dy = Im h' - i Re h' = -i h'(z)
    assert cr.grad(lambda z: cnp.imag(z ** 3))(1 + 1j) == pytest.approx(-1j * 3 * (1 + 1j) ** 2)


def test_complex_output_without_holomorphic_is_an_error():
    with pytest.raises(TypeError, match="holomorphic"):
        cr.grad(lambda z: z ** 2)(3 + 4j)
    with pytest.raises(TypeError, match="holomorphic"):
        cr.jacrev(lambda z: z ** 2)(np.array([3 + 4j]))
    with pytest.raises(TypeError, match="holomorphic"):
        cr.jacfwd(lambda z: z ** 2)(np.array([3 + 4j]))
    with pytest.raises(TypeError):
        cr.grad(lambda z: z ** 2, holomorphic=True)(3.0)      # holomorphic needs complex input


def test_complex_holomorphic_jacobians():
    z = np.array([1 + 1j, 2 - 0.5j])
    for jac in (cr.jacfwd, cr.jacrev):
        J = jac(lambda z: z ** 2, holomorphic=True)(z)
        np.testing.assert_allclose(J, np.diag(2 * z))


def test_complex_jvp_and_vjp():
    z = 1.0 + 2.0j
    out, t = cr.jvp(lambda z: z * z, (z,), (1.0 + 0j,))
    assert t == pytest.approx(2 * z)
    out, pullback = cr.vjp(lambda z: z * z, z)
    assert pullback(1.0 + 0j)[0] == pytest.approx(2 * z)


def test_complex_cotangent_projected_to_real():
    f = lambda x: cnp.real(cnp.abs(x + 0.4j) * (1 + 1j))      # == |x + 0.4j| for real x
    exact = 1.3 / math.hypot(1.3, 0.4)
    assert cr.jvp(f, (1.3,), (1.0,))[1] == pytest.approx(exact)
    assert cr.grad(f)(1.3) == pytest.approx(exact)


def test_complex_intermediate_real_in_real_out():
    # a real function computed through complex numbers: all modes agree with FD
    def f(x, y):
        z = x + 1j * y
        return cnp.real(cnp.exp(z) * cnp.conj(z)) + cnp.imag(z ** 3)
    check_jvp_vjp(f, (np.array([0.3, -0.7]), np.array([1.1, 0.2])), order=2)


# ------------------------------------------------------ check_grads ---

def test_check_grads_accepts_right_and_rejects_wrong_rules():
    check_grads = cr.check_grads
    check_grads(lambda x: cnp.sin(x) * x, (np.array([0.3, 1.2]),), order=2)
    check_grads(lambda x, y: {"p": cnp.exp(x) * y, "q": x / y}, (0.4, np.array([1.5, 2.5])), order=2)

    @cr.custom_vjp
    def bad_rev(x):
        return cnp.sin(x)
    bad_rev.defvjp(lambda x: (cnp.sin(x), x), lambda x, g: (3.0 * g * cnp.cos(x),))
    check_grads(bad_rev, (np.array([0.3, 1.2]),), order=1, modes="fwd")   # forward mode is right
    with pytest.raises(AssertionError, match="dot-product"):
        check_grads(bad_rev, (np.array([0.3, 1.2]),), order=1, modes=("fwd", "rev"))

    @cr.custom_jvp
    def bad(x):
        return cnp.sin(x)
    bad.defjvp(lambda p, t: (bad(p[0]), 2.0 * cnp.cos(p[0]) * t[0]))
    with pytest.raises(AssertionError):
        check_grads(bad, (np.array([0.3, 1.2]),), order=1)


def test_leaves_unchanged():
    # transformations do not mutate their inputs
    x = np.array([1.0, 2.0])
    x0 = x.copy()
    cr.grad(lambda x: cnp.sum(x.at[0].set(5.0) ** 2))(x)
    np.testing.assert_array_equal(x, x0)
    assert tree_flatten((x,))[0][0] is x
