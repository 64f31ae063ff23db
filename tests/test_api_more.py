"""JAX's API beyond the transformations (issue 18): nondiff_argnums of custom_jvp/custom_vjp,
debug.print, jit's donate_argnums, checkpoint policies.  Values are checked against closed
forms, the same computation without the feature, finite differences or JAX."""
import contextlib
import io
from functools import partial

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as jnp
from chainrule import checkpoint_policies as P
from chainrule.debug import debug_print_p
from chainrule.loops import scan_p
from chainrule.ops.elementwise import sin_p
from chainrule.ops.linalg import matmul_p


def printed(fn, *args):
    """(fn(*args), what it printed)."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        out = fn(*args)
    return out, buf.getvalue()


# ------------------------------------------------------ nondiff_argnums ---

@partial(cr.custom_jvp, nondiff_argnums=(0,))
def apply(fn, x):
    return fn(x)


@apply.defjvp
def _apply_jvp(fn, primals, tangents):
    (x,), (t,) = primals, tangents
    return fn(x), 2.0 * x * t          # the rule of x**2 whatever fn is: the rule is used


def sq_via_sin(x):
    return apply(jnp.sin, x)


def test_custom_jvp_nondiff_function_argument_in_every_transformation():
    x = 1.3
    assert sq_via_sin(x) == np.sin(x)
    assert cr.grad(sq_via_sin)(x) == pytest.approx(2 * x, rel=1e-15)
    assert cr.jvp(sq_via_sin, (x,), (0.5,))[1] == pytest.approx(x, rel=1e-15)
    assert cr.jit(cr.grad(sq_via_sin))(x) == pytest.approx(2 * x, rel=1e-15)
    xs = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(cr.vmap(cr.grad(sq_via_sin))(xs), 2 * xs, rtol=1e-15)
    np.testing.assert_allclose(cr.jacfwd(lambda v: apply(jnp.cos, v))(xs), np.diag(2 * xs), rtol=1e-15)
    np.testing.assert_allclose(cr.hessian(sq_via_sin)(x), 2.0, rtol=1e-12)


def test_custom_jvp_nondiff_inside_a_scan_body_keeps_its_rule():
    def looped(x):
        return cr.scan(lambda c, _: (apply(jnp.sin, c) + c, None), x, length=3)[0]

    def unrolled(x):
        for _ in range(3):
            x = apply(jnp.sin, x) + x
        return x
    x = 0.7
    assert looped(x) == pytest.approx(unrolled(x), rel=1e-15)
    want = cr.grad(unrolled)(x)
    assert not np.isclose(want, cr.grad(lambda v: _plain_loop(v))(x))    # the rule matters
    for d in (cr.grad(looped), cr.jit(cr.grad(looped)), cr.jacfwd(looped)):
        assert d(x) == pytest.approx(want, rel=1e-13)


def _plain_loop(x):
    for _ in range(3):
        x = jnp.sin(x) + x
    return x


@partial(cr.custom_jvp, nondiff_argnums=(0,))
def scaled(k, x):
    return k * x


scaled.defjvp(lambda k, p, t: (k * p[0], 3.0 * k * t[0]))


def test_custom_jvp_nondiff_may_be_traced_and_reaches_the_rule_per_example():
    ks, xs = np.array([1.0, 2.0, -0.5]), np.array([5.0, 6.0, 7.0])
    np.testing.assert_allclose(cr.vmap(cr.grad(scaled, argnums=1))(ks, xs), 3 * ks, rtol=1e-15)
    assert cr.jit(cr.grad(scaled, argnums=1))(2.0, 5.0) == 6.0


@partial(cr.custom_vjp, nondiff_argnums=(1,))
def clip_sin(x, lim):
    return jnp.sin(x)


def _clip_fwd(x, lim):
    return jnp.sin(x), x


def _clip_bwd(lim, x, g):
    return (jnp.clip(g * jnp.cos(x), -lim, lim),)


clip_sin.defvjp(_clip_fwd, _clip_bwd)


def test_custom_vjp_nondiff_in_every_transformation():
    x = np.array([0.1, 1.0, 1.5])
    want = np.clip(np.cos(x), -0.5, 0.5)
    loss = lambda v: jnp.sum(clip_sin(v, 0.5))     # noqa: E731
    np.testing.assert_allclose(clip_sin(x, 0.5), np.sin(x), rtol=1e-15)
    np.testing.assert_allclose(cr.grad(loss)(x), want, rtol=1e-15)
    np.testing.assert_allclose(cr.jit(cr.grad(loss))(x), want, rtol=1e-15)
    np.testing.assert_allclose(cr.vmap(cr.grad(lambda v: clip_sin(v, 0.5)))(x), want, rtol=1e-15)
    # forward mode differentiates the function itself
    np.testing.assert_allclose(cr.jvp(loss, (x,), (np.ones(3),))[1], np.cos(x).sum(), rtol=1e-15)


def test_custom_vjp_nondiff_in_loops_and_rolled_python_loops():
    X = np.array([0.3, -0.2, 0.5])

    def unrolled(x, n):
        for _ in range(n):
            x = x + 0.001 * clip_sin(x, 1e-4)
        return jnp.sum(x)

    def looped(x):
        return jnp.sum(cr.fori_loop(0, 50, lambda i, v: v + 0.001 * clip_sin(v, 1e-4), x))
    want = cr.grad(lambda x: unrolled(x, 50))(X)
    np.testing.assert_allclose(want, 1 + 50 * 1e-4, rtol=1e-12)        # each step adds the clip, 1e-4
    np.testing.assert_allclose(cr.grad(looped)(X), want, rtol=1e-13)
    np.testing.assert_allclose(cr.jit(cr.grad(looped))(X), want, rtol=1e-13)
    jg = cr.jit(cr.grad(lambda x: unrolled(x, 800)))
    np.testing.assert_allclose(jg(X), cr.grad(lambda x: unrolled(x, 800))(X), rtol=1e-12)
    prog = jg.lower(X)      # one bound function per nondiff value: the loop still rolls
    assert sum(e.prim is scan_p for e in prog.eqns) >= 2 and len(prog.eqns) < 60


def test_nondiff_argnums_against_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)

    @partial(jax.custom_vjp, nondiff_argnums=(1,))
    def j_clip(x, lim):
        return jax.numpy.sin(x)
    j_clip.defvjp(lambda x, lim: (jax.numpy.sin(x), x),
                  lambda lim, x, g: (jax.numpy.clip(g * jax.numpy.cos(x), -lim, lim),))

    @partial(jax.custom_jvp, nondiff_argnums=(0,))
    def j_apply(fn, x):
        return fn(x)
    j_apply.defjvp(lambda fn, p, t: (fn(p[0]), 2.0 * p[0] * t[0]))
    x = np.array([0.1, 1.0, 1.5])
    np.testing.assert_allclose(cr.grad(lambda v: jnp.sum(clip_sin(v, 0.3) ** 2))(x),
                               jax.grad(lambda v: jax.numpy.sum(j_clip(v, 0.3) ** 2))(x), rtol=1e-14)
    np.testing.assert_allclose(cr.grad(lambda v: jnp.sum(apply(jnp.exp, v) * v))(x),
                               jax.grad(lambda v: jax.numpy.sum(j_apply(jax.numpy.exp, v) * v))(x),
                               rtol=1e-14)


def test_nondiff_argnums_misuse_is_explained():
    with pytest.raises(ValueError, match=r"nondiff_argnums=\(2,\).*takes 2 positional"):
        cr.custom_jvp(lambda f, x: f(x), nondiff_argnums=(2,))
    with pytest.raises(ValueError, match="more than once"):
        cr.custom_vjp(lambda f, x: f(x), nondiff_argnums=(0, 0))
    with pytest.raises(TypeError, match="must be ints"):
        cr.custom_vjp(lambda f, x: f(x), nondiff_argnums=("f",))
    star = cr.custom_jvp(lambda *xs: xs[0], nondiff_argnums=(3,))
    star.defjvp(lambda k, p, t: (p[0], t[0]))
    with pytest.raises(ValueError, match="called with 2 positional arguments; index 3 is out of range"):
        star(1.0, 2.0)
    with pytest.raises(TypeError, match="holds a traced array"):
        cr.grad(lambda x: jnp.sum(clip_sin(x, x)))(np.ones(2))
    bad = cr.custom_vjp(lambda x, k: x * k, nondiff_argnums=(1,))
    bad.defvjp(lambda x, k: (x * k, None), lambda k, r, g: (g * k, g))
    with pytest.raises(TypeError, match="returned 2 cotangents.*1 differentiable"):
        cr.grad(lambda x: bad(x, 2.0))(1.0)
    with pytest.raises(TypeError, match="defjvps"):
        cr.custom_jvp(lambda k, x: x, nondiff_argnums=(0,)).defjvps(None)


# ---------------------------------------------------------- debug.print ---

def traced(x):
    y = jnp.sin(x)
    cr.debug.print("x={} y={y:.6f}", x, y=y)
    return 2.0 * y


def test_debug_print_eager_and_on_every_jit_call_with_its_values():
    out, text = printed(traced, 1.0)
    assert out == 2 * np.sin(1.0) and text == f"x=1.0 y={np.sin(1.0):.6f}\n"
    jf = cr.jit(traced)
    for v in (1.0, 2.0, 3.0, 2.0):
        out, text = printed(jf, v)
        assert out == pytest.approx(2 * np.sin(v), rel=1e-15)
        assert text == f"x={v} y={np.sin(v):.6f}\n"
    assert printed(jf.lower, 1.0)[1] == ""            # staging prints nothing
    prog = jf.lower(1.0)                              # its result is unused: still kept
    assert [e.prim for e in prog.eqns].count(debug_print_p) == 1


def test_debug_print_under_grad_and_vmap_prints_primals_and_batches():
    g, text = printed(cr.grad(traced), 0.5)
    assert g == pytest.approx(2 * np.cos(0.5), rel=1e-15) and text == f"x=0.5 y={np.sin(0.5):.6f}\n"
    jg = cr.jit(cr.grad(traced))
    for v in (0.5, 1.5):
        g, text = printed(jg, v)
        assert g == pytest.approx(2 * np.cos(v), rel=1e-15) and text == f"x={v} y={np.sin(v):.6f}\n"
    _, text = printed(cr.jvp, traced, (0.5,), (1.0,))
    assert text == f"x=0.5 y={np.sin(0.5):.6f}\n"

    def show(x):
        cr.debug.print("b={}", x)
        return x * 2
    a = np.arange(6.0).reshape(2, 3)
    out, text = printed(cr.vmap(show, in_axes=1), a)
    np.testing.assert_array_equal(out, 2 * a.T)
    assert text == f"b={a.T}\n"                       # the whole batch, mapped axis first
    out, text = printed(cr.jit(cr.vmap(show)), a)
    assert text == f"b={a}\n"


def test_debug_print_in_loops_prints_each_iteration():
    def s(x):
        def body(c, _):
            cr.debug.print("c={}", c)
            return c * 2, None
        return cr.scan(body, x, length=3)[0]
    assert printed(s, 1.0) == (8.0, "c=1.0\nc=2.0\nc=4.0\n")
    js = cr.jit(s)
    for v in (1.0, 5.0):
        assert printed(js, v) == (8 * v, f"c={v}\nc={2 * v}\nc={4 * v}\n")
    g, text = printed(cr.grad(s), 1.0)
    assert g == 8.0 and text.startswith("c=1.0\nc=2.0\nc=4.0\n")   # (then the backward recomputation)


def test_debug_print_is_never_rolled_into_a_loop():
    def f(x):
        for i in range(2400):
            x = jnp.sin(x) * 1.0001
            if i == 1200:
                cr.debug.print("mid {:.12f}", x)
        return x

    def mid(x):
        for _ in range(1201):
            x = np.sin(x) * 1.0001
        return x
    jf = cr.jit(f)
    for v in (1.0, 0.5):
        out, text = printed(jf, v)
        assert out == pytest.approx(f(v), rel=1e-13) and text == f"mid {mid(v):.12f}\n"
    prog = jf.lower(1.0)
    assert any(e.prim is scan_p for e in prog.eqns) and len(prog.eqns) < 100   # rolled around it
    assert [e.prim for e in prog.eqns].count(debug_print_p) == 1


def test_debug_print_needs_a_format_string():
    with pytest.raises(TypeError, match="format must be a str"):
        cr.debug.print(1.0)


# ------------------------------------------------------- donate_argnums ---

def test_donate_argnums_is_accepted_and_changes_nothing():
    def f(x, y):
        return x * 2 + y
    x, y = np.arange(3.0), np.ones(3)
    jf = cr.jit(f, donate_argnums=0)
    for _ in range(2):
        np.testing.assert_array_equal(jf(x, y), 2 * x + y)
    np.testing.assert_array_equal(x, np.arange(3.0))                # the donated array is intact
    assert jf.donate_argnums == (0,)
    assert len(jf.lower(x, y).eqns) == 2
    assert "def compiled" in jf.source(x, y)
    dec = cr.jit(donate_argnums=(0, 1), static_argnums=())(f)
    np.testing.assert_array_equal(dec(x, y), 2 * x + y)
    np.testing.assert_allclose(cr.grad(cr.jit(lambda v: jnp.sum(v ** 2), donate_argnums=(0,)))(x), 2 * x)
    with pytest.raises(TypeError, match="donate_argnums"):
        cr.jit(f, donate_argnums="x")


# --------------------------------------------------- checkpoint policies ---

RNG = np.random.default_rng(0)
W, XV = RNG.normal(size=(4, 3)), RNG.normal(size=3)


def dense(w, x):
    return jnp.sum(jnp.sin(w @ x) * 2.0)


def _counts(f):
    prog = cr.make_ir(cr.grad(f, argnums=(0, 1)))(W, XV)
    return [e.prim for e in prog.eqns].count(matmul_p), [e.prim for e in prog.eqns].count(sin_p)


@pytest.mark.parametrize("policy,extra", [(None, (1, 1)), (P.nothing_saveable, (1, 1)),
                                          (P.everything_saveable, (0, 0)), (P.dots_saveable, (0, 1)),
                                          (P.checkpoint_dots, (0, 1))])
def test_checkpoint_policy_values_and_what_is_recomputed(policy, extra):
    want = cr.grad(dense, argnums=(0, 1))(W, XV)
    c = cr.checkpoint(dense, policy=policy)
    for g in (cr.grad(c, argnums=(0, 1)), cr.jit(cr.grad(c, argnums=(0, 1)))):
        for a, b in zip(g(W, XV), want):
            np.testing.assert_allclose(a, b, rtol=1e-14)
    np.testing.assert_allclose(cr.vmap(cr.grad(c, 1), in_axes=(None, 0))(W, np.stack([XV, -XV])),
                               np.stack([want[1], cr.grad(dense, 1)(W, -XV)]), rtol=1e-14)
    np.testing.assert_allclose(cr.hessian(c, 1)(W, XV), cr.hessian(dense, 1)(W, XV), rtol=1e-13)
    plain = np.array(_counts(dense))
    np.testing.assert_array_equal(np.array(_counts(c)) - plain, extra)   # recomputed matmuls, sins


def test_checkpoint_policy_in_a_scan_body_and_remat_alias():
    A = np.array([[0.5, -0.2], [0.1, 0.3]])

    def step(c, _):
        return jnp.tanh(A @ c), None
    x = np.array([0.3, -0.7])
    want = cr.grad(lambda v: jnp.sum(cr.scan(step, v, length=4)[0]))(x)
    for policy in (P.dots_saveable, P.everything_saveable, None):
        body = cr.remat(step, policy=policy)
        g = cr.grad(lambda v: jnp.sum(cr.scan(body, v, length=4)[0]))
        np.testing.assert_allclose(g(x), want, rtol=1e-14)
        np.testing.assert_allclose(cr.jit(g)(x), want, rtol=1e-14)


def test_checkpoint_static_argnums_and_custom_policy():
    def h(x, n, flag):
        for _ in range(n):
            x = jnp.sin(x)
        return x * 2 if flag else x
    want = cr.grad(lambda v: h(v, 3, True))(0.5)
    seen = []

    def policy(prim, *args, **params):
        seen.append(prim)
        return prim is sin_p                 # save the sines: nothing is recomputed but `* 2`
    for pol in (None, P.dots_saveable, policy):
        c = cr.checkpoint(h, static_argnums=(1, 2), policy=pol)
        assert cr.grad(c)(0.5, 3, True) == pytest.approx(want, rel=1e-15)
        assert cr.grad(c)(0.5, 2, False) == pytest.approx(cr.grad(lambda v: h(v, 2, False))(0.5), rel=1e-15)
    assert sin_p in seen
    prog = cr.make_ir(cr.grad(cr.checkpoint(h, static_argnums=(1, 2), policy=policy)), static_argnums=(1, 2))
    assert [e.prim for e in prog(0.5, 3, True).eqns].count(sin_p) == 3     # none recomputed
    np.testing.assert_allclose(want, cr.fd.derivative(lambda v: h(v, 3, True), 0.5).value, rtol=1e-8)


def test_checkpoint_misuse_is_explained():
    with pytest.raises(TypeError, match="unknown policy 'dots'.*dots_saveable"):
        cr.checkpoint(dense, policy="dots")
    with pytest.raises(ValueError, match="static_argnums=.*index 5 is out of range"):
        cr.checkpoint(dense, static_argnums=(5,))


def test_checkpoint_without_prevent_cse_lets_staging_merge_the_recomputation():
    c = cr.checkpoint(dense, prevent_cse=False)
    np.testing.assert_array_equal(_counts(c), _counts(dense))        # merged: nothing recomputed
    for a, b in zip(cr.jit(cr.grad(c, argnums=(0, 1)))(W, XV), cr.grad(dense, argnums=(0, 1))(W, XV)):
        np.testing.assert_allclose(a, b, rtol=1e-14)
