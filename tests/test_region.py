"""Reverse mode under jit differentiates the rolled forward program (staging.stage_region).

`jit(grad(f))` stages `f` alone first, rolls its Python loops, and runs reverse mode over
that program: the reverse pass of a loop is one scan and is never staged copy by copy.
Each case checks values against eager `grad` (or finite differences) and the shape of
what was staged.
"""
import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.compile.jit import _roll_loops
from chainrule.interpreters.staging import stage
from chainrule.loops import scan_p


def decay(steps):
    def loss(x, w):
        for i in range(steps):
            x = cnp.tanh(x * w + 0.001 * i) + 0.1 * x
        return cnp.sum(x ** 2)
    return loss


X, W = np.array([0.3, -0.2, 0.5]), np.array([0.9, 1.1, 0.7])


def staged_size(fun, *args):
    """Equations jit stages for fun(*args) before its own passes run."""
    prog, _ = stage(fun, args, region_pass=_roll_loops)
    return len(prog.eqns), sum(e.prim is scan_p for e in prog.eqns)


def test_the_reverse_pass_of_a_python_loop_is_staged_as_a_scan():
    sizes = {}
    for steps in (700, 1400):
        g = cr.grad(decay(steps), argnums=(0, 1))
        sizes[steps] = staged_size(lambda x, w: g(x, w), X, W)
        jg = cr.jit(g)
        want = g(X, W)
        for _ in range(2):                                 # the staging run, then compiled code
            got = jg(X, W)
            for a, b in zip(got, want):
                np.testing.assert_allclose(a, b, rtol=1e-12)
    assert sizes[700] == sizes[1400], sizes                # nothing grows with the trip count
    n, scans = sizes[700]
    assert scans >= 2 and n < 200, sizes                   # forward and reverse scans, not copies


def test_without_region_pass_the_reverse_pass_would_be_unrolled():
    g = cr.grad(decay(700))
    prog, _ = stage(lambda x: g(x, W), (X,))               # plain staging: one copy per step
    assert len(prog.eqns) > 700 * 4


def test_custom_vjp_inside_the_loop_keeps_its_rule():
    @cr.custom_vjp
    def clipped(x):
        return cnp.sin(x)

    clipped.defvjp(lambda x: (cnp.sin(x), x), lambda x, ct: (cnp.clip(ct * cnp.cos(x), -1e-4, 1e-4),))

    def f(x):
        for _ in range(800):
            x = x + 0.001 * clipped(x)
        return cnp.sum(x)
    want = cr.grad(f)(X)
    jg = cr.jit(cr.grad(f))
    np.testing.assert_allclose(jg(X), want, rtol=1e-12)
    np.testing.assert_allclose(jg(X), want, rtol=1e-12)
    plain = cr.grad(lambda x: cnp.sum(_unrolled_sin(x)))(X)
    assert not np.allclose(want, plain, rtol=1e-3)         # the rule, not the body, was used


def _unrolled_sin(x):
    for _ in range(800):
        x = x + 0.001 * cnp.sin(x)
    return x


def test_float_of_a_value_with_a_derivative_is_refused_under_jit_grad():
    def f(x):
        s = 0.0
        for _ in range(600):
            x = cnp.sin(x)
        s += float(x[0])
        return s * cnp.sum(x)
    with pytest.raises(cr.TracerConversionError, match="float"):
        cr.jit(cr.grad(f))(X)

    def g(x):
        for _ in range(600):
            x = cnp.sin(x) * 0.99
        return float(cr.stop_gradient(x[0])) * cnp.sum(x)   # a constant, as intended
    np.testing.assert_allclose(cr.jit(cr.grad(g))(X), cr.grad(g)(X), rtol=1e-12)


def test_grad_of_grad_and_aux_of_a_python_loop_under_jit():
    def f(x):
        for i in range(600):
            x = cnp.sin(x) * 0.99 + 0.001 * i
        return cnp.sum(x ** 3), ("steps", 600)

    def g(x):
        return cnp.sum(cr.grad(lambda y: f(y)[0])(x) ** 2)
    np.testing.assert_allclose(cr.jit(cr.grad(g))(X), cr.grad(g)(X), rtol=1e-11)
    np.testing.assert_allclose(cr.jit(cr.grad(g))(X), cr.fd.gradient(g, X), rtol=1e-6)
    (v, aux), d = cr.jit(cr.value_and_grad(f, has_aux=True))(X)
    assert aux == ("steps", 600)
    np.testing.assert_allclose(d, cr.grad(lambda x: f(x)[0])(X), rtol=1e-12)


def test_a_region_closing_over_a_batched_value_is_differentiated_directly():
    loss = decay(500)

    def per_example(w):
        return cr.grad(loss)(X, w)                      # closes over vmap's tracer w
    ws = np.stack([W, W * 0.5, W * 1.5])
    got = cr.jit(cr.vmap(per_example))(ws)
    for w, row in zip(ws, got):
        np.testing.assert_allclose(row, cr.grad(loss)(X, w), rtol=1e-12)


def test_non_differentiated_jit_arguments_are_captured():
    loss = decay(600)
    jg = cr.jit(lambda x, w: cr.grad(loss, argnums=1)(x, w))
    for w in (W, W * 0.3):
        np.testing.assert_allclose(jg(X, w), cr.grad(loss, argnums=1)(X, w), rtol=1e-12)
