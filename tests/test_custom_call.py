"""custom_jvp / custom_vjp functions inside loop bodies keep their rules (custom_call.py).

A loop body is staged once and differentiated later; the custom function is one
`custom_call` equation whose rules run the function under the transformation.  Each case
checks the derivative against the same computation unrolled in Python (eager, where the
rule is used as the function is called), closed forms or finite differences.
"""
import numpy as np

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.implicit import implicit_solve
from chainrule.loops import scan_p


def newton_sqrt(f, x0):
    x = np.asarray(x0, float)
    for _ in range(60):
        x = x - f(x) / (2 * x)
    return (x,)


def root(b):
    """sqrt(b) by Newton's method on values, differentiated implicitly."""
    return implicit_solve(lambda x, b: x * x - b, newton_sqrt, 1.0, init=(1.0,), args=(b,))[0]


def in_scan(a):
    return cr.scan(lambda c, _: (root(c + a), None), a, length=2)[0]


def closed(a):                       # sqrt(a + sqrt(2a))
    return np.sqrt(a + np.sqrt(2 * a))


def d_closed(a):
    s = np.sqrt(2 * a)
    return (1 + 1 / s) / (2 * np.sqrt(a + s))


def test_implicit_solve_inside_a_scan_body_is_differentiated():
    np.testing.assert_allclose(in_scan(4.0), closed(4.0), rtol=1e-13)
    for d in (cr.grad(in_scan), cr.jacfwd(in_scan), cr.jit(cr.grad(in_scan))):
        np.testing.assert_allclose(d(4.0), d_closed(4.0), rtol=1e-11)
    a = np.array([4.0, 9.0])
    np.testing.assert_allclose(cr.vmap(cr.grad(in_scan))(a), d_closed(a), rtol=1e-11)
    np.testing.assert_allclose(cr.hessian(in_scan)(4.0), cr.fd.derivative(lambda t: d_closed(t), 4.0).value,
                               rtol=1e-7)


@cr.custom_vjp
def clipped_sin(x):
    return cnp.sin(x)


clipped_sin.defvjp(lambda x: (cnp.sin(x), x), lambda x, ct: (cnp.clip(ct * cnp.cos(x), -1e-4, 1e-4),))


@cr.custom_jvp
def halved_exp(x):
    return cnp.exp(x)


halved_exp.defjvp(lambda p, t: (cnp.exp(p[0]), 0.5 * cnp.exp(p[0]) * t[0]))   # a rule on purpose


X = np.array([0.3, -0.2, 0.5])


def test_custom_vjp_in_a_fori_loop_uses_its_rule():
    def looped(x):
        return cnp.sum(cr.fori_loop(0, 50, lambda i, v: v + 0.001 * clipped_sin(v), x))

    def unrolled(x):
        for _ in range(50):
            x = x + 0.001 * clipped_sin(x)
        return cnp.sum(x)
    want = cr.grad(unrolled)(X)
    plain = cr.grad(lambda x: cnp.sum(_plain(x)))(X)
    assert not np.allclose(want, plain, rtol=1e-6)             # the rule changes the answer
    np.testing.assert_allclose(cr.grad(looped)(X), want, rtol=1e-12)
    np.testing.assert_allclose(cr.jit(cr.grad(looped))(X), want, rtol=1e-12)


def _plain(x):
    for _ in range(50):
        x = x + 0.001 * cnp.sin(x)
    return x


def test_custom_jvp_in_a_while_loop_uses_its_rule_in_both_modes():
    def looped(x):
        return cr.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, halved_exp(c[1]) * 0.1), (0, x))[1]

    def unrolled(x):
        for _ in range(3):
            x = halved_exp(x) * 0.1
        return x
    for mode in (cr.jacfwd, cr.jacrev):
        np.testing.assert_allclose(mode(looped)(X), mode(unrolled)(X), rtol=1e-12)
    true = cr.jacfwd(lambda x: unrolled_true(x))(X)
    assert not np.allclose(cr.jacfwd(looped)(X), true)


def unrolled_true(x):
    for _ in range(3):
        x = cnp.exp(x) * 0.1
    return x


def test_a_custom_function_closing_over_a_body_value_is_inlined():
    def body(i, v):
        scale = v[0]

        @cr.custom_jvp
        def f(y):
            return y * scale

        f.defjvp(lambda p, t: (p[0] * scale, t[0] * scale))
        return f(v) * 0.5 + 0.1
    g = cr.grad(lambda x: cnp.sum(cr.fori_loop(0, 4, body, x)))
    np.testing.assert_allclose(g(X), cr.fd.gradient(lambda x: cnp.sum(cr.fori_loop(0, 4, body, x)), X),
                               rtol=1e-6)


def test_a_python_loop_with_a_custom_vjp_is_rolled_under_jit_grad():
    def f(x):
        for _ in range(800):
            x = x + 0.001 * clipped_sin(x)
        return cnp.sum(x)
    jg = cr.jit(cr.grad(f))
    np.testing.assert_allclose(jg(X), cr.grad(f)(X), rtol=1e-12)
    np.testing.assert_allclose(jg(X), cr.grad(f)(X), rtol=1e-12)
    prog = jg.lower(X)
    assert sum(e.prim is scan_p for e in prog.eqns) >= 2 and len(prog.eqns) < 50
