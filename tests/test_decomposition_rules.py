"""The decomposition rules of ops/decompositions.py and ops/triangular.py: the ones rewritten
to use triangular solves against the factor (cholesky, qr, the solve JVP, slogdet's JVP),
the batching rule that puts a batch of right-hand sides into columns, stacked-matrix
substitution, and eig/eigvals.  Derivatives against finite differences (orders 1 and 2),
jacfwd against jacrev, stacks, jit, and JAX."""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
import chainrule.scipy.linalg as csl
from chainrule.core import primitives
from chainrule.ops import triangular as T
from chainrule.tree_util import tree_leaves

from helpers import check_jvp_vjp

la = cnp.linalg
RNG = np.random.default_rng(2026)


def spd(*shape):
    """A positive-definite matrix, (n,) meaning (n, n), or a stack of them."""
    shape = shape * 2 if len(shape) == 1 else shape
    a = RNG.standard_normal(shape)
    n = shape[-1]
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


def general(*shape):
    shape = shape * 2 if len(shape) == 1 else shape
    return RNG.standard_normal(shape) + 2 * np.sqrt(shape[-1]) * np.eye(shape[-1])


def close(x, y, rtol=1e-10):
    x, y = np.asarray(x), np.asarray(y)
    assert x.shape == y.shape, (x.shape, y.shape)
    np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol * (1 + np.max(np.abs(y), initial=0)))


def prim_names(f, *args):
    """Names of the primitives the staged program of f binds."""
    return [e.prim.name for e in cr.make_ir(f)(*args).eqns]


def fd_jacobian(f, x, eps=1e-6):
    cols = []
    for k in range(x.size):
        e = np.zeros(x.size)
        e[k] = eps
        e = e.reshape(x.shape)
        cols.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * eps))
    return np.stack(cols, axis=-1).reshape(np.shape(f(x)) + x.shape)


# ------------------------------------------------- the functions checked ---

def chol(a):
    return la.cholesky((a + cnp.swapaxes(a, -1, -2)) * 0.5)


def gp_like(a, y):
    """Cholesky, two triangular solves and log det: the Gaussian-process pattern."""
    L = la.cholesky((a + cnp.swapaxes(a, -1, -2)) * 0.5)
    z = csl.solve_triangular(L, y, lower=True)
    return cnp.sum(z * z) + 2 * cnp.sum(cnp.log(cnp.diagonal(L, axis1=-2, axis2=-1)))


def qr_r(a):
    q, r = la.qr(a)
    return q, r


def slog(a):
    return la.slogdet(a)[1]


def solve_ab(a, b):
    return la.solve(a, b)


def cho_solve_ab(a, b):
    return csl.cho_solve(csl.cho_factor((a + cnp.swapaxes(a, -1, -2)) * 0.5, lower=True), b)


def eig_invariants(a):
    """Phase-free functions of eig: eigenvalues and |v|^2 entries."""
    w, v = la.eig(a)
    return cnp.real(w), cnp.imag(w), cnp.real(v * cnp.conj(v))


def eig_reconstruct(a):
    """V diag(w) V^-1 = A: gauge invariant, its derivative is the identity."""
    w, v = la.eig(a)
    return cnp.real(v @ (w[..., :, None] * la.inv(v)))


def eigvals_parts(a):
    w = la.eigvals(a)
    return cnp.real(w), cnp.imag(w)


CASES = {
    "cholesky": (chol, (spd(4),)),
    "cholesky-stacked": (chol, (spd(2, 3, 3),)),
    "gp-pattern": (gp_like, (spd(5), RNG.standard_normal((5, 2)))),
    "qr-square": (qr_r, (general(3, 3),)),
    "qr-tall": (qr_r, (RNG.standard_normal((5, 3)) + np.eye(5, 3) * 2,)),
    "qr-stacked": (qr_r, (RNG.standard_normal((2, 4, 3)) + np.eye(4, 3) * 2,)),
    "slogdet": (slog, (general(4),)),
    "slogdet-stacked": (slog, (general(3, 3, 3),)),
    "solve": (solve_ab, (general(4), RNG.standard_normal((4, 2)))),
    "solve-stacked-broadcast": (solve_ab, (general(2, 3, 3), RNG.standard_normal((3, 2)))),
    "cho_solve": (cho_solve_ab, (spd(4), RNG.standard_normal((4, 3)))),
    "eig": (eig_invariants, (general(4) + 0.8 * RNG.standard_normal((4, 4)),)),
    "eig-stacked": (eig_invariants, (RNG.standard_normal((2, 3, 3)) + np.diag([0.0, 2.0, 4.0]),)),
    "eig-reconstruct": (eig_reconstruct, (np.array([[0.3, -1.2, 0.1], [1.1, 0.4, -0.2], [0.2, 0.1, 2.0]]),)),
    "eigvals": (eigvals_parts, (np.array([[0.3, -1.2, 0.1], [1.1, 0.4, -0.2], [0.2, 0.1, 2.0]]),)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_rules_against_finite_differences_orders_1_and_2(name):
    f, args = CASES[name]
    check_jvp_vjp(f, args, order=2, rtol=1e-5, atol=1e-6, what=name, n_dirs=1)


def _first_output(f):
    def g(*args):
        out = f(*args)
        return out[0] if isinstance(out, tuple) else out
    return g


@pytest.mark.parametrize("name", sorted(CASES))
def test_jacfwd_equals_jacrev_and_jit(name):
    f, args = CASES[name]
    g = _first_output(f) if name not in ("eig", "eig-stacked") else (lambda a: eig_invariants(a)[2])
    jf, jr = cr.jacfwd(g)(*args), cr.jacrev(g)(*args)
    close(jf, jr, 1e-9)
    close(cr.jit(cr.jacrev(g))(*args), jr, 1e-12)
    close(cr.jit(cr.jacfwd(g))(*args), jf, 1e-12)
    jn = fd_jacobian(lambda x: g(x, *args[1:]), args[0])
    close(jf, jn, 1e-6)


@pytest.mark.parametrize("name", ["cholesky", "gp-pattern", "slogdet", "solve", "qr-square", "eigvals"])
def test_hessian_of_a_scalar_loss_against_finite_differences_of_the_gradient(name):
    f, args = CASES[name]

    def loss(a):
        out = f(a, *args[1:])
        out = out if isinstance(out, tuple) else (out,)
        return sum(cnp.sum(cnp.sin(o)) for o in out)
    a = args[0]
    h = cr.hessian(loss)(a)
    g = cr.grad(loss)
    hn = fd_jacobian(g, a, 1e-5)
    close(h, hn, 1e-6)
    close(cr.jit(cr.hessian(loss))(a), h, 1e-12)


def test_stacked_rules_match_a_loop_over_the_stack():
    a = spd(3, 4, 4)
    y = RNG.standard_normal((4, 2))
    g = cr.grad(gp_like)(a, y)
    for i in range(3):
        close(g[i], cr.grad(gp_like)(a[i], y), 1e-12)
    v = cr.vmap(cr.grad(gp_like), in_axes=(0, None))(a, y)
    close(v, g, 1e-12)


# ------------------------------------------- the rules cost what they should ---

def test_cholesky_rules_use_triangular_solves_only():
    a = spd(5)
    for f in (cr.grad(lambda a: cnp.sum(chol(a) ** 2)),
              lambda a: cr.jvp(chol, (a,), (np.ones((5, 5)),))[1]):
        names = prim_names(f, a)
        assert names.count("solve_triangular") == 2
        assert "solve" not in names and "inv" not in names and "lu" not in names


def test_qr_rules_use_one_triangular_solve():
    a = general(4, 4)
    def loss(a):
        q, r = la.qr(a)
        return cnp.sum(q ** 3) + cnp.sum(r ** 2)
    for f in (cr.grad(loss),
              lambda a: cr.jvp(lambda a: la.qr(a), (a,), (np.ones((4, 4)),))[1]):
        names = prim_names(f, a)
        assert names.count("solve_triangular") == 1 and "solve" not in names and "inv" not in names


def test_solve_jvp_with_both_tangents_is_one_solve():
    a, b = general(4), RNG.standard_normal((4, 2))
    names = prim_names(lambda a, b: cr.jvp(la.solve, (a, b), (a * 0.1, b * 0.2))[1], a, b)
    assert names.count("solve") == 2                  # the value and one tangent solve
    out, t = cr.jvp(la.solve, (a, b), (a * 0.1, b * 0.2))
    x = np.linalg.solve(a, b)
    close(t, np.linalg.solve(a, 0.2 * b - 0.1 * a @ x), 1e-12)


def test_slogdet_jacfwd_inverts_once_not_once_per_direction():
    a = general(4)
    names = prim_names(cr.jacfwd(slog), a)
    assert names.count("inv") == 1 and "solve" not in names
    close(cr.jacfwd(slog)(a), np.linalg.inv(a).T, 1e-12)


def test_a_batch_of_right_hand_sides_goes_into_columns():
    # vmap over b alone: one triangular solve (one LU for solve) with the batch as columns
    a, bs = np.tril(general(5)), RNG.standard_normal((7, 5, 2))
    for solve_fn, ref in ((lambda b: T.solve_triangular(a, b, True), lambda b: np.linalg.solve(np.tril(a), b)),
                          (lambda b: la.solve(a, b), lambda b: np.linalg.solve(a, b))):
        prog = cr.make_ir(cr.vmap(solve_fn))(bs)
        eq = [e for e in prog.eqns if e.prim.name in ("solve_triangular", "solve")]
        assert len(eq) == 1 and eq[0].invars[1].shape == (5, 14)
        close(cr.vmap(solve_fn)(bs), np.stack([ref(b) for b in bs]), 1e-12)
        close(cr.vmap(solve_fn, in_axes=2, out_axes=2)(np.moveaxis(bs, 0, 2)),
              np.moveaxis(np.stack([ref(b) for b in bs]), 0, 2), 1e-12)


@pytest.mark.parametrize("lower,unit", [(True, False), (False, False), (True, True), (False, True)])
def test_stacks_of_small_triangular_systems_by_substitution(lower, unit):
    n = 6
    assert n <= T.SUBSTITUTION_MAX_N
    a, b = general(3, 2, n, n), RNG.standard_normal((2, n, 3))
    x = T.solve_triangular(a, b, lower, unit)
    tri = (np.tril(a, -1 if unit else 0) if lower else np.triu(a, 1 if unit else 0)) + (np.eye(n) if unit else 0)
    close(x, np.linalg.solve(tri, np.broadcast_to(b, (3, 2, n, 3))), 1e-12)
    c = a + 1j * RNG.standard_normal(a.shape)                        # complex matrices too
    xc = T.solve_triangular(c, b, lower, unit)
    tri = (np.tril(c, -1 if unit else 0) if lower else np.triu(c, 1 if unit else 0)) + (np.eye(n) if unit else 0)
    close(xc, np.linalg.solve(tri, np.broadcast_to(b, (3, 2, n, 3)).astype(complex)), 1e-12)


# --------------------------------------------------------------- eig ---

def test_eig_values_and_normalisation_match_numpy():
    a = np.array([[0.3, -1.2, 0.1], [1.1, 0.4, -0.2], [0.2, 0.1, 2.0]])
    w, v = la.eig(a)
    wn, vn = np.linalg.eig(a)
    assert w.dtype == np.complex128 and v.dtype == np.complex128
    close(w, wn, 1e-14)
    close(v, vn, 1e-14)
    close(np.linalg.norm(v, axis=0), np.ones(3), 1e-14)
    sym_a = a + a.T                                       # real spectrum: still complex dtype
    w2 = la.eigvals(sym_a)
    assert w2.dtype == np.complex128
    close(np.sort(w2.real), np.sort(np.linalg.eigvals(sym_a).real), 1e-13)


def test_eig_tangent_keeps_unit_norm_and_has_no_phase_term():
    a = general(4) + 0.8 * RNG.standard_normal((4, 4))
    t = RNG.standard_normal((4, 4))
    (w, v), (dw, dv) = cr.jvp(la.eig, (a,), (t,))
    close(np.real(np.sum(np.conj(v) * dv, axis=0)), np.zeros(4), 1e-12)        # d|v|^2 = 0
    c = np.linalg.solve(v, t @ v)                                                # V^-1 dA V
    close(dw, np.diag(c), 1e-12)
    # A V = V diag(w) differentiated: dA V + A dV = dV diag(w) + V diag(dw)
    close(t @ v + a @ dv, dv * w + v * dw, 1e-10)


def test_eig_of_complex_input():
    a = general(3) + 1j * RNG.standard_normal((3, 3))

    def f(x, y):
        w, v = la.eig(x + 1j * y)
        return cnp.real(w), cnp.imag(w), cnp.real(v * cnp.conj(v))
    check_jvp_vjp(f, (a.real, a.imag), order=1, rtol=1e-5, atol=1e-6, what="eig complex")
    g = cr.grad(lambda z: cnp.sum(cnp.real(la.eigvals(z)) ** 2), holomorphic=False)
    expect = cr.grad(lambda x, y: cnp.sum(cnp.real(la.eigvals(x + 1j * y)) ** 2), argnums=(0, 1))(a.real, a.imag)
    close(g(a), expect[0] - 1j * expect[1], 1e-10)          # JAX's convention: dL/dRe - i dL/dIm


def test_eig_under_vmap_and_jit_matches_a_loop():
    a = RNG.standard_normal((4, 3, 3)) + np.diag([0.0, 2.0, 4.0])
    f = cr.grad(lambda x: cnp.sum(eig_invariants(x)[2] * np.arange(9.0).reshape(3, 3)) + cnp.sum(eig_invariants(x)[1]))
    loop = np.stack([f(x) for x in a])
    close(cr.vmap(f)(a), loop, 1e-10)
    close(cr.jit(cr.vmap(f))(a), loop, 1e-10)


def test_eig_registered_with_every_rule():
    from chainrule import rules
    for name in ("eig", "eigvals"):
        p = primitives[name]
        assert p in rules.jvp_rules and p in rules.vjp_rules and p in rules.batch_rules
        assert p in rules.taylor_by_jvp


def test_eig_taylor_coefficients_against_nested_jvp():
    a = np.array([[0.3, -1.2, 0.1], [1.1, 0.4, -0.2], [0.2, 0.1, 2.0]])
    t = RNG.standard_normal((3, 3))

    def first(s):
        return cnp.real(la.eigvals(a + s * t))[0]
    d3 = cr.derivative(first, 3)(0.0)                     # Taylor mode (nested forward for eig)
    close(d3, cr.grad(cr.grad(cr.grad(first)))(0.0), 1e-8)


# ------------------------------------------------------------ JAX ---

@pytest.fixture(scope="module")
def jax_mod():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


def _jax_fns(jax):
    jnp, jsl = jax.numpy, jax.scipy.linalg

    def j_chol(a):
        return jnp.linalg.cholesky((a + jnp.swapaxes(a, -1, -2)) * 0.5)

    def j_gp(a, y):
        L = jnp.linalg.cholesky((a + jnp.swapaxes(a, -1, -2)) * 0.5)
        z = jsl.solve_triangular(L, y, lower=True)
        return jnp.sum(z * z) + 2 * jnp.sum(jnp.log(jnp.diagonal(L, axis1=-2, axis2=-1)))

    def j_eig(a):
        w, v = jax.lax.linalg.eig(a, compute_left_eigenvectors=False, enable_eigvec_derivs=True)
        return jnp.real(w), jnp.imag(w), jnp.real(v * jnp.conj(v))
    return {"cholesky": j_chol, "cholesky-stacked": j_chol, "gp-pattern": j_gp,
            "qr-square": lambda a: tuple(jnp.linalg.qr(a)), "qr-tall": lambda a: tuple(jnp.linalg.qr(a)),
            "slogdet": lambda a: jnp.linalg.slogdet(a)[1], "slogdet-stacked": lambda a: jnp.linalg.slogdet(a)[1],
            "solve": jnp.linalg.solve, "solve-stacked-broadcast": lambda a, b: jnp.linalg.solve(a, b),
            "cho_solve": lambda a, b: jsl.cho_solve(jsl.cho_factor((a + jnp.swapaxes(a, -1, -2)) * 0.5,
                                                                    lower=True), b),
            "eig": j_eig, "eig-stacked": j_eig,
            "eigvals": lambda a: (jnp.real(jnp.linalg.eigvals(a)), jnp.imag(jnp.linalg.eigvals(a)))}


@pytest.mark.parametrize("name", ["cholesky", "cholesky-stacked", "gp-pattern", "qr-square", "qr-tall", "slogdet",
                                  "slogdet-stacked", "solve", "solve-stacked-broadcast", "cho_solve", "eig",
                                  "eig-stacked", "eigvals"])
def test_jacobians_agree_with_jax(name, jax_mod):
    jax = jax_mod
    f, args = CASES[name]
    jf = _jax_fns(jax)[name]
    argnums = tuple(range(len(args)))
    ours = cr.jacrev(f, argnums)(*args)
    theirs = jax.jacfwd(jf, argnums)(*args)          # JAX's eig has forward mode only
    ol, tl = tree_leaves(ours), jax.tree_util.tree_leaves(theirs)
    assert len(ol) == len(tl)
    for o, t in zip(ol, tl):
        close(o, np.asarray(t), 1e-8)
    for o, t in zip(tree_leaves(f(*args)), jax.tree_util.tree_leaves(jf(*args))):
        close(o, np.asarray(t), 1e-10)
