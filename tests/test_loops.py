"""Loops stay loops: scan / fori_loop / while_loop are one equation under every transformation.

Each loop is checked against the same loop written as a plain Python loop (which every
transformation unrolls) and against finite differences; the staged program's size must
not depend on the trip count; the scalar loop kernel must agree with the NumPy path.
"""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule import loops
from chainrule.compile import loop_kernel

from helpers import fd_grad, lorenz_rhs, rk4_step

H = 1e-2


rhs = lorenz_rhs
rk4 = rk4_step(lorenz_rhs, H)


def lorenz_fori(p, n=40):
    y = cr.fori_loop(0, n, lambda i, y: rk4(y, p), np.ones(3))
    return cnp.sum(y ** 2)


def lorenz_python(p, n=40):
    y = np.ones(3)
    for _ in range(n):
        y = rk4(y, p)
    return np.sum(y ** 2)


P = np.array([10.0, 28.0, 8 / 3])


def _n_eqns(prog):
    return len(prog.eqns)


def _loop_eqns(prog):
    return [e for e in prog.eqns if e.prim in (loops.scan_p, loops.while_p)]


# ------------------------------------------------------------- scan ---

def _scan_f(x, reverse=False):
    def step(c, xi):
        return c * cnp.cos(xi) + 0.3 * cnp.sin(c) * xi, c * c * xi
    c, ys = cr.scan(step, x, np.linspace(0.1, 1.0, 6), reverse=reverse)
    return c + cnp.sum(ys * ys)


def _scan_py(x, reverse=False):
    xs = np.linspace(0.1, 1.0, 6)
    c, total = x, 0.0
    for xi in (xs[::-1] if reverse else xs):
        c, y = c * np.cos(xi) + 0.3 * np.sin(c) * xi, c * c * xi
        total = total + y * y
    return c + total


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_every_mode_matches_python_loop(reverse):
    x = 0.7
    f, g = (lambda v: _scan_f(v, reverse)), (lambda v: _scan_py(v, reverse))
    assert f(x) == pytest.approx(g(x), rel=1e-14)
    want = cr.grad(g)(x)
    assert want == pytest.approx(fd_grad(g, x), rel=1e-6)
    assert cr.grad(f)(x) == pytest.approx(want, rel=1e-13)
    assert cr.jvp(f, (x,), (1.0,))[1] == pytest.approx(want, rel=1e-13)
    assert cr.jit(cr.grad(f))(x) == pytest.approx(want, rel=1e-13)
    assert cr.hessian(f)(x) == pytest.approx(cr.hessian(g)(x), rel=1e-12)
    assert cr.grad(cr.grad(cr.grad(f)))(x) == pytest.approx(cr.grad(cr.grad(cr.grad(g)))(x), rel=1e-11)
    assert cr.derivative(f, order=4)(x) == pytest.approx(cr.derivative(g, order=4)(x), rel=1e-11)
    xs = np.array([0.2, 0.7, -0.4])
    np.testing.assert_allclose(cr.vmap(cr.grad(f))(xs), [cr.grad(g)(v) for v in xs], rtol=1e-13)
    np.testing.assert_allclose(cr.jit(cr.vmap(cr.grad(f)))(xs), [cr.grad(g)(v) for v in xs], rtol=1e-13)


def test_scan_over_arrays_with_closure_parameters_and_pytrees():
    w = np.array([[0.5, -0.2], [0.1, 0.4]])
    xs = np.linspace(-1, 1, 10).reshape(5, 2)

    def f(w, h0):
        def cell(carry, x):
            h, s = carry["h"], carry["s"]
            h = cnp.tanh(w @ h + x)
            return {"h": h, "s": s + cnp.sum(h)}, h[0]
        carry, ys = cr.scan(cell, {"h": h0, "s": 0.0}, xs)
        return carry["s"] + cnp.sum(ys ** 2)

    def g(w, h0):
        h, s, total = h0, 0.0, 0.0
        for x in xs:
            h = np.tanh(w @ h + x)
            s = s + np.sum(h)
            total = total + h[0] ** 2
        return s + total
    h0 = np.array([0.3, -0.1])
    assert f(w, h0) == pytest.approx(g(w, h0), rel=1e-14)
    for argnums in (0, 1):
        np.testing.assert_allclose(cr.grad(f, argnums)(w, h0), cr.grad(g, argnums)(w, h0), rtol=1e-12)
        np.testing.assert_allclose(cr.jit(cr.grad(f, argnums))(w, h0), cr.grad(g, argnums)(w, h0), rtol=1e-12)
    np.testing.assert_allclose(cr.jacfwd(f, 1)(w, h0), cr.grad(g, 1)(w, h0), rtol=1e-12)
    np.testing.assert_allclose(cr.hessian(f, 1)(w, h0), cr.hessian(g, 1)(w, h0), rtol=1e-10, atol=1e-12)


def test_scan_of_length_zero_and_reverse_ys_order():
    carry, ys = cr.jit(lambda c: cr.scan(lambda c, x: (c + x, 2 * c), c, np.zeros((0,))))(1.5)
    assert carry == 1.5 and ys.shape == (0,)
    _, ys = cr.jit(lambda c: cr.scan(lambda c, x: (c + x, c), c, np.arange(4.0), reverse=True))(0.0)
    np.testing.assert_array_equal(ys, [6.0, 5.0, 3.0, 0.0])   # ys[t] is the carry before xs[t]
    assert cr.grad(lambda c: cr.scan(lambda c, x: (c * x, c), c, np.zeros((0,)))[0])(2.0) == 1.0


# ------------------------------------------------------------- fori_loop ---

def test_fori_loop_rk4_matches_python_loop_in_every_mode():
    want = cr.grad(lorenz_python)(P)
    np.testing.assert_allclose(want, fd_grad(lorenz_python, P), rtol=1e-6)
    np.testing.assert_allclose(cr.grad(lorenz_fori)(P), want, rtol=1e-12)
    np.testing.assert_allclose(cr.jit(cr.grad(lorenz_fori))(P), want, rtol=1e-12)
    np.testing.assert_allclose(cr.jacfwd(lorenz_fori)(P), want, rtol=1e-12)
    np.testing.assert_allclose(cr.hessian(lorenz_fori)(P), cr.hessian(lorenz_python)(P), rtol=1e-9)
    ps = np.stack([P, P * 1.1])
    np.testing.assert_allclose(cr.vmap(cr.grad(lorenz_fori))(ps), [cr.grad(lorenz_python)(q) for q in ps],
                               rtol=1e-12)


def test_index_dependent_constants_in_the_body():
    f = lambda x: cr.fori_loop(0, 7, lambda i, v: v * 1.5 + 0.1 * i * cnp.sin(v), x)

    def g(x):
        for i in range(7):
            x = x * 1.5 + 0.1 * i * np.sin(x)
        return x
    assert cr.grad(f)(0.4) == pytest.approx(cr.grad(g)(0.4), rel=1e-13)
    assert cr.jit(cr.grad(f))(0.4) == pytest.approx(cr.grad(g)(0.4), rel=1e-13)
    assert cr.derivative(f, order=3)(0.4) == pytest.approx(cr.derivative(g, order=3)(0.4), rel=1e-11)


def test_program_size_does_not_grow_with_trip_count():
    sizes = [_n_eqns(cr.make_ir(cr.grad(lambda p, n=n: lorenz_fori(p, n)))(P)) for n in (10, 1000)]
    assert sizes[0] == sizes[1]
    prog = cr.jit(cr.grad(lambda p: lorenz_fori(p, 1000))).lower(P)
    assert len(_loop_eqns(prog)) == 2                # the forward loop and the backward loop
    assert _n_eqns(prog) < 40


def test_loop_body_printed_nested():
    text = str(cr.make_ir(lambda x: cr.fori_loop(0, 3, lambda i, v: cnp.sin(v) * 2.0, x))(0.5))
    assert "scan[" in text and "sin" in text and text.count("{ lambda") == 2


# ------------------------------------------------------------- while_loop ---

def _w(x):
    return cr.while_loop(lambda v: v[0] < 10.0, lambda v: v * 1.5 + cnp.sin(v) * 0.1, x)


def _w_py(x):
    while x[0] < 10.0:
        x = x * 1.5 + np.sin(x) * 0.1
    return x


def test_while_loop_data_dependent_trips_every_mode():
    f = lambda x: cnp.sum(_w(x) ** 2)
    g = lambda x: np.sum(_w_py(x) ** 2)
    for x0 in (np.array([0.3, 1.0]), np.array([4.0, -1.0])):
        want = cr.grad(g)(x0)
        np.testing.assert_allclose(cr.grad(f)(x0), want, rtol=1e-13)
        np.testing.assert_allclose(cr.jit(cr.grad(f))(x0), want, rtol=1e-13)   # the guard on the trip count
        np.testing.assert_allclose(cr.jacfwd(f)(x0), want, rtol=1e-13)
        np.testing.assert_allclose(cr.hessian(f)(x0), cr.hessian(g)(x0), rtol=1e-11)
    xs = np.array([[0.3, 1.0], [4.0, -1.0], [9.0, 2.0], [12.0, 0.0]])   # 5, 2, 1 and 0 trips
    np.testing.assert_allclose(cr.vmap(cr.grad(f))(xs), [cr.grad(g)(x) for x in xs], rtol=1e-13)
    np.testing.assert_allclose(cr.vmap(_w)(xs), [_w_py(x) for x in xs], rtol=1e-14)
    np.testing.assert_allclose(cr.jit(cr.vmap(_w))(xs), [_w_py(x) for x in xs], rtol=1e-14)
    np.testing.assert_allclose(cr.vmap(cr.jacfwd(_w))(xs), [cr.jacfwd(_w_py)(x) for x in xs], rtol=1e-13)


def test_while_taylor_mode():
    f = lambda t: cr.while_loop(lambda v: v[1] < 4, lambda v: (v[0] * cnp.sin(v[0]) + t, v[1] + 1), (t, 0))[0]

    def g(t):
        v = t
        for _ in range(4):
            v = v * np.sin(v) + t
        return v
    assert cr.derivative(f, order=3)(0.6) == pytest.approx(cr.derivative(g, order=3)(0.6), rel=1e-11)


# ------------------------------------------------------- bodies that read values ---

def test_body_with_python_control_flow_on_a_carry_stays_exact():
    def step(i, v):
        return v * 2.0 if v < 1.0 else v - 0.3         # reads the carry: runs as a Python loop
    f = lambda x: cr.fori_loop(0, 6, step, x)

    def g(x):
        for i in range(6):
            x = step(i, x)
        return x
    for x in (0.1, 0.6):
        assert cr.grad(f)(x) == cr.grad(g)(x)
        assert cr.jit(cr.grad(f))(x) == cr.grad(g)(x)
        assert cr.jit(f)(x) == g(x)


# ------------------------------------------------------------- checkpointing ---

W = np.array([[0.5, -0.2], [0.1, 0.4]])
XS = np.linspace(-1, 1, 20).reshape(10, 2)
N = len(XS)


def _rnn(checkpoint, reverse=False):
    """A pytree carry, xs, ys in the loss, a closure parameter: loss(w, h0, xs)."""
    def f(w, h0, xs):
        def cell(carry, x):
            h = cnp.tanh(w @ carry["h"] + x) * carry["s"]
            return {"h": h, "s": carry["s"] + 0.1 * cnp.sin(h[1])}, h[0] * x[1]
        carry, ys = cr.scan(cell, {"h": h0, "s": 1.0}, xs, reverse=reverse, checkpoint=checkpoint)
        return carry["s"] * cnp.sum(carry["h"]) + cnp.sum(ys ** 2)
    return f


def _rnn_py(reverse=False):
    def g(w, h0, xs):
        h, s, total = h0, 1.0, 0.0
        for x in (xs[::-1] if reverse else xs):
            h = np.tanh(w @ h + x) * s
            s = s + 0.1 * np.sin(h[1])
            total = total + (h[0] * x[1]) ** 2
        return s * np.sum(h) + total
    return g


CHECKPOINTS = [1, 3, 4, N, N + 5, "sqrt"]          # 3 and 4 do not divide N; "sqrt" is 4


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("checkpoint", CHECKPOINTS)
def test_checkpointed_scan_gradients_equal_saving_every_carry(checkpoint, reverse):
    f, f0, g = _rnn(checkpoint, reverse), _rnn(None, reverse), _rnn_py(reverse)
    h0 = np.array([0.3, -0.1])
    args = (W, h0, XS)
    assert f(*args) == pytest.approx(g(*args), rel=1e-14)
    every = (0, 1, 2)
    want = cr.grad(g, every)(*args)
    for a in every:
        np.testing.assert_allclose(want[a], fd_grad(lambda v: g(*args[:a], v, *args[a + 1:]), args[a]),
                                   rtol=1e-6, atol=1e-8)
    for grad in (cr.grad(f, every), cr.jit(cr.grad(f, every))):
        got, ref = grad(*args), cr.grad(f0, every)(*args)
        for a in every:
            np.testing.assert_allclose(got[a], ref[a], rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(got[a], want[a], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("checkpoint", [1, 3, N + 5])
def test_checkpointed_scan_hessian_and_vmap_of_grad(checkpoint, reverse):
    f, f0, g = _rnn(checkpoint, reverse), _rnn(None, reverse), _rnn_py(reverse)
    h0 = np.array([0.3, -0.1])
    hess = cr.hessian(f, 1)(W, h0, XS)
    np.testing.assert_allclose(hess, cr.hessian(f0, 1)(W, h0, XS), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(hess, cr.hessian(g, 1)(W, h0, XS), rtol=1e-10, atol=1e-12)
    hh = cr.jit(cr.grad(lambda h: cr.grad(f, 1)(W, h, XS)[0]))(h0)       # grad of grad, jit
    np.testing.assert_allclose(hh, cr.grad(lambda h: cr.grad(f0, 1)(W, h, XS)[0])(h0), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(hh, cr.grad(lambda h: cr.grad(g, 1)(W, h, XS)[0])(h0), rtol=1e-10, atol=1e-12)
    hs = np.array([[0.3, -0.1], [0.2, 0.5], [-0.4, 0.1]])
    want = [cr.grad(g, 0)(W, h, XS) for h in hs]
    for vg in (cr.vmap(cr.grad(f, 0), (None, 0, None)), cr.jit(cr.vmap(cr.grad(f, 0), (None, 0, None)))):
        np.testing.assert_allclose(vg(W, hs, XS), want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("checkpoint", [1, 3, 6, 40, "sqrt"])
def test_scalar_scan_checkpointed_every_mode(checkpoint):
    def f(x, reverse=False):
        def step(c, xi):
            return c * cnp.cos(xi) + 0.3 * cnp.sin(c) * xi, c * c * xi
        c, ys = cr.scan(step, x, np.linspace(0.1, 1.0, 6), reverse=reverse, checkpoint=checkpoint)
        return c + cnp.sum(ys * ys)
    for reverse in (False, True):
        fc = lambda v: f(v, reverse)
        g = lambda v: _scan_py(v, reverse)
        x = 0.7
        want = cr.grad(g)(x)
        assert cr.grad(fc)(x) == pytest.approx(want, rel=1e-13)
        assert cr.jit(cr.grad(fc))(x) == pytest.approx(want, rel=1e-13)
        assert cr.grad(cr.grad(cr.grad(fc)))(x) == pytest.approx(cr.grad(cr.grad(cr.grad(g)))(x), rel=1e-11)
        assert cr.jacfwd(cr.grad(fc))(x) == pytest.approx(cr.hessian(g)(x), rel=1e-12)   # jvp of grad
        assert cr.grad(lambda v: cr.jvp(fc, (v,), (1.0,))[1])(x) == pytest.approx(cr.hessian(g)(x), rel=1e-12)
        assert cr.derivative(fc, order=3)(x) == pytest.approx(cr.derivative(g, order=3)(x), rel=1e-11)


@pytest.mark.parametrize("checkpoint", [None, 3])
def test_checkpointed_scan_without_carry(checkpoint):
    def f(w, xs):
        return cnp.sum(cr.scan(lambda c, x: (c, cnp.sin(x) * w), None, xs, checkpoint=checkpoint)[1] ** 2)
    g = lambda w, xs: np.sum((np.sin(xs) * w) ** 2)
    xs = np.linspace(0.1, 1.0, 7)
    for a in (0, 1):
        np.testing.assert_allclose(cr.jit(cr.grad(f, a))(0.7, xs), cr.grad(g, a)(0.7, xs), rtol=1e-13)


def test_fori_loop_checkpoint_matches_python_loop():
    want = cr.grad(lorenz_python)(P)
    for checkpoint in (1, 7, 40, 45, "sqrt"):
        def f(p, checkpoint=checkpoint):
            y = cr.fori_loop(0, 40, lambda i, y: rk4(y, p), np.ones(3), checkpoint=checkpoint)
            return cnp.sum(y ** 2)
        np.testing.assert_allclose(cr.grad(f)(P), cr.grad(lorenz_fori)(P), rtol=1e-12)
        np.testing.assert_allclose(cr.jit(cr.grad(f))(P), want, rtol=1e-12)
    np.testing.assert_allclose(cr.hessian(f)(P), cr.hessian(lorenz_python)(P), rtol=1e-9)
    g = lambda x: cr.fori_loop(0, 7, lambda i, v: v * 1.5 + 0.1 * i * cnp.sin(v), x, checkpoint=2)
    assert cr.jit(cr.grad(g))(0.4) == pytest.approx(cr.grad(lambda x: cr.fori_loop(0, 7, lambda i, v: v * 1.5
                                                    + 0.1 * i * cnp.sin(v), x))(0.4), rel=1e-13)
    assert cr.fori_loop(0, 5, lambda i, v: v + i, 0.0, checkpoint=2) == 10.0       # eager: no effect


def test_while_loop_checkpoint():
    f = lambda x, ck: cnp.sum(cr.while_loop(lambda v: v[0] < 10.0, lambda v: v * 1.5 + cnp.sin(v) * 0.1, x,
                                            checkpoint=ck) ** 2)
    for x0 in (np.array([0.3, 1.0]), np.array([12.0, 0.0])):      # 5 trips, 0 trips
        want = cr.grad(lambda x: f(x, None))(x0)
        for ck in (2, "sqrt"):
            np.testing.assert_allclose(cr.grad(lambda x: f(x, ck))(x0), want, rtol=1e-13)
            np.testing.assert_allclose(cr.jit(cr.grad(lambda x: f(x, ck)))(x0), want, rtol=1e-13)


def _saved_rows(n, checkpoint, reverse=False):
    """Rows of the carries the forward rule of an n-step scan saves: (segment starts, others)."""
    prog, _ = loops.stage_body(lambda c, x: [c * cnp.cos(x), c * x], [0.5, 0.1])
    params = dict(body=prog, n_consts=0, n_carry=1, length=n, reverse=reverse, checkpoint=checkpoint)
    out, saved = loops._scan_fwd([0.5, np.linspace(0, 1, n)], params, [0, 1])
    want = cr.scan(lambda c, x: (c * cnp.cos(x), c * x), 0.5, np.linspace(0, 1, n), reverse=reverse)
    np.testing.assert_allclose(out[0], want[0], rtol=1e-14)
    np.testing.assert_allclose(out[1], want[1], rtol=1e-14)
    if checkpoint is None:
        return len(saved[0])
    seg, rest = saved
    return tuple(len(s[0]) if s else 0 for s in (seg, rest))


def test_checkpointing_saves_every_kth_carry():
    assert _saved_rows(1000, None) == 1000
    assert _saved_rows(1000, 10) == (100, 0)
    assert _saved_rows(1000, 32) == (31, 8)
    assert _saved_rows(1000, 32, reverse=True) == (31, 8)
    assert _saved_rows(10, 15) == (0, 10)
    assert loops.segment_length("sqrt", 10 ** 6) == 1000 and loops.segment_length("sqrt", 10) == 4
    # (a step whose backward pass reads the carry: a linear one needs no saved carries at all)
    f = lambda x: cr.scan(lambda c, x: (cnp.sin(c) * cnp.cos(x), None), x, np.linspace(0, 1, 1000),
                          checkpoint=32)[0]
    lengths = lambda g, x: [e.params["length"] for e in _loop_eqns(cr.jit(g).lower(x))]
    assert lengths(cr.grad(f), 0.5) == [31, 8, 8, 31]                # forward, then backward
    # the JVP, batching and Taylor rules keep the policy for a reverse pass over them
    assert lengths(cr.grad(lambda x: cr.jvp(f, (x,), (1.0,))[1]), 0.5) == [31, 8, 8, 31]
    assert lengths(cr.grad(lambda x: cnp.sum(cr.vmap(f)(x))), np.array([0.5, 0.2])) == [31, 8, 8, 31]
    assert lengths(cr.grad(lambda x: cr.derivative(f, order=2)(x)), 0.5) == [31, 8, 8, 31]


@pytest.mark.parametrize("bad", [True, False, 2.0, 0, -3, "log", np.float64(4.0)])
def test_bad_checkpoint_is_named(bad):
    kind = ValueError if bad in (0, -3) and not isinstance(bad, bool) else TypeError
    with pytest.raises(kind, match=r"scan: checkpoint must be None, a positive int k .* or 'sqrt', got"):
        cr.scan(lambda c, x: (c, None), 0.0, length=3, checkpoint=bad)
    with pytest.raises(kind, match="fori_loop: checkpoint must be None"):
        cr.fori_loop(0, 3, lambda i, v: v, 1.0, checkpoint=bad)
    with pytest.raises(kind, match="while_loop: checkpoint must be None"):
        cr.while_loop(lambda v: v < 3.0, lambda v: v + 1.0, 0.0, checkpoint=bad)


def test_numpy_int_checkpoint_is_accepted():
    f = lambda x: cr.scan(lambda c, _: (cnp.sin(c), None), x, length=10, checkpoint=np.int64(3))[0]
    g = lambda x: cr.scan(lambda c, _: (cnp.sin(c), None), x, length=10)[0]
    assert cr.jit(cr.grad(f))(0.4) == pytest.approx(cr.grad(g)(0.4), rel=1e-14)


# ------------------------------------------------------------- kernels ---

def test_scalar_loop_kernel_equals_numpy_path(monkeypatch):
    prog = cr.jit(cr.grad(lambda p: lorenz_fori(p, 30))).lower(P)
    for e in _loop_eqns(prog):
        body, nc, nk = e.params["body"], e.params["n_consts"], e.params["n_carry"]
        kernel = loop_kernel.scan_kernel(loops.runner(body).prog, nc, nk, e.params["reverse"])
        assert kernel is not None
    want = cr.grad(lambda p: lorenz_python(p, 30))(P)
    monkeypatch.setattr(loops, "KERNEL_OP_COST", 1e9)            # no kernels: NumPy per operation
    monkeypatch.setattr(loop_kernel, "numba_available", lambda: False)
    loops._loop_kernels.clear()
    slow = cr.jit(cr.grad(lambda p: lorenz_fori(p, 30)))(P)
    monkeypatch.setattr(loops, "KERNEL_OP_COST", 0.0)            # kernels for every loop
    monkeypatch.undo()
    monkeypatch.setattr(loops, "KERNEL_OP_COST", 0.0)
    loops._loop_kernels.clear()
    fast = cr.jit(cr.grad(lambda p: lorenz_fori(p, 30)))(P)
    np.testing.assert_allclose(slow, want, rtol=1e-12)
    np.testing.assert_allclose(fast, want, rtol=1e-12)
    np.testing.assert_allclose(fast, slow, rtol=1e-13)


def test_while_kernel_with_int_and_bool_carries(monkeypatch):
    monkeypatch.setattr(loops, "KERNEL_OP_COST", 0.0)
    loops._loop_kernels.clear()
    f = cr.jit(lambda x: cr.while_loop(lambda c: (c[0] < 20) & (c[1] < 50.0),
                                       lambda c: (c[0] + 1, c[1] * 1.3 + 0.5), (0, x)))
    n, v = f(1.0)
    m, w = 0, 1.0
    while m < 20 and w < 50.0:
        m, w = m + 1, w * 1.3 + 0.5
    assert (n, v) == (m, w) and type(n) is int


# ------------------------------------------------------------- bad input ---

def test_carry_that_changes_shape_dtype_or_structure_is_named():
    with pytest.raises(TypeError, match="carry leaf 0 has shape"):
        cr.grad(lambda x: cr.scan(lambda c, _: (cnp.stack([c, c]), None), x, length=3)[0][0])(1.0)
    with pytest.raises(TypeError, match="dtype int64"):
        cr.jit(lambda x: cr.fori_loop(0, 3, lambda i, v: v + 0.5 * x, 0))(1.0)
    with pytest.raises(TypeError, match="structure"):
        cr.jit(lambda x: cr.while_loop(lambda c: c[0] < 3, lambda c: c[0] + 1, (x, x)))(1.0)


def test_bad_loop_arguments():
    with pytest.raises(ValueError, match="xs leaf 1 has leading size 3"):
        cr.scan(lambda c, x: (c, None), 0.0, (np.zeros(4), np.zeros(3)))
    with pytest.raises(TypeError, match="upper bound must be an integer"):
        cr.fori_loop(0, 2.5, lambda i, v: v, 1.0)
    with pytest.raises(TypeError, match="scalar boolean"):
        cr.jit(lambda x: cr.while_loop(lambda v: v, lambda v: v - 1.0, x))(np.ones(2))


def test_reverse_mode_of_a_while_loop_inside_a_scan_body_says_what_to_do():
    def f(x):
        def seg(c, _):
            return cr.while_loop(lambda s: s[0] < 3.0, lambda s: (s[0] + 1.0, s[1] * 1.1), (0.0, c))[1], None
        return cr.scan(seg, x, None, length=2)[0]
    assert f(1.0) == pytest.approx(1.1 ** 6)
    # forward mode works; reverse mode raises a clear error, never an internal exception
    assert cr.jvp(f, (1.0,), (1.0,))[1] == pytest.approx(1.1 ** 6)
    with pytest.raises(NotImplementedError, match="fori_loop with a fixed trip count"):
        cr.grad(f)(1.0)
