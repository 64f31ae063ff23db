"""Differential test against JAX (skipped when JAX is not installed): values, gradients,
JVPs, Hessians, vmap and jit of a table of NumPy programs agree with jax.numpy's; and
every case of the per-primitive table SAMPLES (tests/test_primitives.py) agrees with
JAX in value, jacfwd, jacrev and Hessian (test_primitive_samples_agree_with_jax)."""
from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
jax.config.update("jax_enable_x64", True)

import chainrule as cr  # noqa: E402
import chainrule.numpy as cnp  # noqa: E402

# name -> f(np_module, x) for x a float64 vector of length 5 in (0.1, 1.9)
PROGRAMS = {
    "trig": lambda m, x: m.sum(m.sin(x) * m.cos(2 * x) - m.tan(x / 3)),
    "exp_log": lambda m, x: m.sum(m.log1p(m.exp(-x)) + m.expm1(x / 4) + m.log(x) * m.sqrt(x)),
    "hyperbolic": lambda m, x: m.sum(m.tanh(x) * m.sinh(x / 2) + m.arcsinh(x) - m.arctanh(x / 3)),
    "power": lambda m, x: m.sum(x ** 2.5 + m.power(x, x) + m.cbrt(x) + 1 / x),
    "where_max": lambda m, x: m.sum(m.where(x > 1.0, x ** 2, m.sin(x)) + m.maximum(x, 1.0 - x)),
    "reductions": lambda m, x: m.max(x) * m.prod(x) + m.mean(x ** 2) - m.std(x) + m.var(x),
    "logsumexp": lambda m, x: m.log(m.sum(m.exp(x - m.max(x)))) + m.max(x),
    "indexing": lambda m, x: m.sum(x[1:] * x[:-1]) + x[0] * x[-1] + m.sum(x[::2] ** 3),
    "shape": lambda m, x: m.sum(m.outer(x, x).T @ x) + m.sum(m.concatenate([x, x[::-1]]) * m.arange(10.0)),
    "cumsum_sort": lambda m, x: m.sum(m.cumsum(x) * m.sort(x)) + m.sum(m.cumprod(x / 2)),
    "linalg": lambda m, x: m.linalg.det(m.outer(x, x)[:3, :3] + 3 * m.eye(3)) + m.sum(
        m.linalg.solve(m.diag(x) + 1.0, x)) + m.linalg.norm(x),
    "arctan2_hypot": lambda m, x: m.sum(m.arctan2(x, 2.0 - x) + m.hypot(x, x[::-1]) + m.logaddexp(x, -x)),
    "roll_pad_clip": lambda m, x: m.sum(m.roll(x, 2) * x) + m.sum(m.pad(x, 2, mode="reflect") ** 2) + m.sum(
        m.clip(x, 0.5, 1.5) ** 2),
    "einsum": lambda m, x: m.einsum("i,j,ij->", x, x, m.outer(x, m.sin(x))),
}

X = np.linspace(0.15, 1.85, 5) + np.array([0.0, 0.013, -0.021, 0.007, 0.0])


def _both(name):
    f = PROGRAMS[name]
    return (lambda x: f(cnp, x)), (lambda x: f(jnp, x))


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_values_and_derivatives_agree_with_jax(name):
    c, j = _both(name)
    v = np.cos(np.arange(5.0))
    np.testing.assert_allclose(c(X), j(X), rtol=1e-12)
    np.testing.assert_allclose(cr.grad(c)(X), jax.grad(j)(X), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cr.jvp(c, (X,), (v,))[1], jax.jvp(j, (X,), (v,))[1], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cr.hessian(c)(X), jax.hessian(j)(X), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(cr.jit(cr.grad(c))(X), jax.grad(j)(X), rtol=1e-10, atol=1e-12)
    batch = np.stack([X, X[::-1] * 0.9, X * 1.05])
    np.testing.assert_allclose(cr.vmap(cr.grad(c))(batch), jax.vmap(jax.grad(j))(batch), rtol=1e-10, atol=1e-12)


def test_loops_agree_with_jax_lax_loops():
    def c(p):
        return cnp.sum(cr.fori_loop(0, 50, lambda i, y: y + 0.01 * cnp.sin(p * y + i), cnp.ones(3) * p[0]))

    def j(p):
        return jnp.sum(jax.lax.fori_loop(0, 50, lambda i, y: y + 0.01 * jnp.sin(p * y + i), jnp.ones(3) * p[0]))
    p = np.array([0.3, 0.7, 1.1])
    np.testing.assert_allclose(cr.jit(cr.grad(c))(p), jax.grad(j)(p), rtol=1e-12)
    np.testing.assert_allclose(cr.hessian(c)(p), jax.hessian(j)(p), rtol=1e-10)


# ============================================================================
# Every primitive's sample table (tests/test_primitives.py SAMPLES) against JAX.
#
# Each case function is staged with chainrule's own `cr.make_ir`, and the staged
# program is interpreted equation by equation with JAX_TWINS, a table
# {primitive name: JAX implementation(*invars, **params)}; JAX then differentiates
# the interpreted program.  So the cases are never rewritten: chainrule evaluates
# and differentiates `case.fn`, JAX evaluates and differentiates the same program
# built from jax.numpy / jax.scipy.special / jax.lax operations.
# ============================================================================

import jax.scipy.special as jss  # noqa: E402

from chainrule.ir.program import Const, Program  # noqa: E402
from chainrule.tree_util import tree_leaves as cr_leaves  # noqa: E402

from test_primitives import SAMPLES  # noqa: E402


def _along_axis_index(idx, axis):
    grids = np.ogrid[tuple(slice(n) for n in np.shape(idx))]
    return tuple(idx if i == axis else grids[i] for i in range(np.ndim(idx)))


_GL_T, _GL_W = np.polynomial.legendre.leggauss(48)
_GL_T, _GL_W = (_GL_T + 1) / 2, _GL_W / 2          # Gauss-Legendre on [0, 1]


def _j_sinc(x, n):
    """sinc(x, n), the n-th derivative of sin(pi x)/(pi x): jnp.sinc for n = 0, else
    int_0^1 (pi t)^n cos(pi x t + n pi/2) dt by 48-point Gauss-Legendre (exact to ~1e-14
    for |x| < 10 and the few further orders JAX differentiates; nested jax.grad of
    jnp.sinc loses digits near 0 and builds a graph 30 times larger)."""
    if n == 0:
        return jnp.sinc(x)
    x = jnp.asarray(x, dtype=jnp.float64)[..., None]
    return jnp.sum(_GL_W * (np.pi * _GL_T) ** n * jnp.cos(np.pi * _GL_T * x + n * np.pi / 2), axis=-1)


def _j_strong(x, dtype):
    """x as a strongly typed JAX value (loop carries must keep their type)."""
    return jax.lax.convert_element_type(x, np.dtype(dtype))


def _j_scan(*args, body, n_consts, n_carry, length, reverse, checkpoint=None):
    consts, carry, xs = args[:n_consts], args[n_consts:n_consts + n_carry], args[n_consts + n_carry:]
    carry_vars = body.invars[n_consts:n_consts + n_carry]

    def step(c, x):
        out = jax_eval(body, [*consts, *c, *x])
        return (tuple(_j_strong(o, v.dtype) for o, v in zip(out[:n_carry], carry_vars)),
                tuple(out[n_carry:]))
    c0 = tuple(_j_strong(c, v.dtype) for c, v in zip(carry, carry_vars))
    c, ys = jax.lax.scan(step, c0, tuple(xs), length=length, reverse=reverse)
    return (*c, *ys)


def _j_while(*args, cond, body, n_cond_consts, n_body_consts, checkpoint=None):
    cc, bc = args[:n_cond_consts], args[n_cond_consts:n_cond_consts + n_body_consts]
    carry = args[n_cond_consts + n_body_consts:]
    carry_vars = body.invars[n_body_consts:]

    def strong(c):
        return tuple(_j_strong(x, v.dtype) for x, v in zip(c, carry_vars))
    out = jax.lax.while_loop(lambda c: jax_eval(cond, [*cc, *c])[0],
                             lambda c: strong(jax_eval(body, [*bc, *c])), strong(carry))
    return tuple(out)


def _j_scatter_add_along_axis(x, idx, y, axis):
    idx = np.asarray(idx)
    x = jnp.asarray(x, dtype=jnp.result_type(x, y))
    return x.at[_along_axis_index(idx, axis)].add(jnp.broadcast_to(y, idx.shape))


def _j_update(x, y, idx, how):
    x = jnp.asarray(x, dtype=jnp.result_type(x, y))
    return getattr(x.at[idx], how)(y)


_ELEMENTWISE_SAME_NAME = [
    "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh", "arccosh",
    "arctanh", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "cbrt",
    "add", "subtract", "multiply", "divide", "power", "arctan2", "hypot", "maximum", "minimum",
    "fmax", "fmin", "logaddexp", "remainder", "real", "imag", "conj", "abs", "matmul",
    # nondiff ones (loop conditions, masks)
    "sign", "floor", "ceil", "trunc", "floor_divide", "equal", "not_equal", "less", "less_equal",
    "greater", "greater_equal", "logical_and", "logical_or", "logical_xor", "logical_not",
    "isnan", "isinf", "isfinite",
]

JAX_TWINS = {name: getattr(jnp, name) for name in _ELEMENTWISE_SAME_NAME}
JAX_TWINS.update({
    "neg": jnp.negative,
    "safe_multiply": jnp.multiply,        # chainrule's 0 * inf = 0 matters only inside derivative rules
    "select": jnp.where,
    "stop_gradient": jax.lax.stop_gradient,
    "round": lambda x, decimals: jnp.round(x, decimals),
    # shape
    "reshape": lambda x, shape: jnp.reshape(x, shape),
    "transpose": lambda x, axes: jnp.transpose(x, axes),
    "broadcast_to": lambda x, shape: jnp.broadcast_to(x, shape),
    "convert_element_type": lambda x, dtype: jnp.asarray(x).astype(dtype),
    "concatenate": lambda *xs, axis: jnp.concatenate(xs, axis=axis),
    "getitem": lambda x, idx: jnp.asarray(x)[idx],
    "index_add": lambda x, y, idx: _j_update(x, y, idx, "add"),
    "index_set": lambda x, y, idx: _j_update(x, y, idx, "set"),
    "take_along_axis": lambda x, idx, axis: jnp.take_along_axis(x, idx, axis=axis),
    "scatter_add_along_axis": _j_scatter_add_along_axis,
    "pad": lambda x, widths: jnp.pad(x, widths),
    # reductions
    "reduce_sum": lambda x, axes, keepdims: jnp.sum(x, axis=axes, keepdims=keepdims),
    "reduce_max": lambda x, axes, keepdims: jnp.max(x, axis=axes, keepdims=keepdims),
    "reduce_min": lambda x, axes, keepdims: jnp.min(x, axis=axes, keepdims=keepdims),
    "reduce_prod": lambda x, axes, keepdims: jnp.prod(x, axis=axes, keepdims=keepdims),
    "any": lambda x, axes, keepdims: jnp.any(x, axis=axes, keepdims=keepdims),
    "all": lambda x, axes, keepdims: jnp.all(x, axis=axes, keepdims=keepdims),
    "argmax": lambda x, axis, keepdims: jnp.argmax(x, axis=axis, keepdims=keepdims),
    "argmin": lambda x, axis, keepdims: jnp.argmin(x, axis=axis, keepdims=keepdims),
    "argsort": lambda x, axis, stable: jnp.argsort(x, axis=axis, stable=stable),
    "cumsum": lambda x, axis: jnp.cumsum(x, axis=axis),
    "cumprod": lambda x, axis: jnp.cumprod(x, axis=axis),
    "einsum": lambda *xs, spec: jnp.einsum(spec, *xs),
    # linear algebra
    "solve_triangular": lambda a, b, lower, unit_diagonal: jax.scipy.linalg.solve_triangular(
        a, b, lower=lower, unit_diagonal=unit_diagonal),
    "lu": lambda a: tuple(jax.lax.linalg.lu(a)),
    # fft
    "fft": lambda x, axes, inverse, norm: (jnp.fft.ifftn if inverse else jnp.fft.fftn)(x, axes=axes, norm=norm),
    "rfft": lambda x, axes, norm: jnp.fft.rfftn(x, axes=axes, norm=norm),
    "irfft": lambda x, axes, lengths, norm: jnp.fft.irfftn(x, s=lengths, axes=axes, norm=norm),
    "solve": jnp.linalg.solve,
    "inv": jnp.linalg.inv,
    "det": jnp.linalg.det,
    "slogdet": lambda a: tuple(jnp.linalg.slogdet(a)),
    "cholesky": jnp.linalg.cholesky,
    "eigh": lambda a, UPLO: tuple(jnp.linalg.eigh(a, UPLO=UPLO)),
    "svd": lambda a, full_matrices, hermitian: tuple(jnp.linalg.svd(a, full_matrices=full_matrices,
                                                                    hermitian=hermitian)),
    "svdvals": lambda a: jnp.linalg.svd(a, compute_uv=False),
    "eig": lambda a: tuple(jax.lax.linalg.eig(a, compute_left_eigenvectors=False, enable_eigvec_derivs=True)),
    "eigvals": lambda a: jax.lax.linalg.eig(a, compute_left_eigenvectors=False, compute_right_eigenvectors=False,
                                            enable_eigvec_derivs=True)[0],
    "pinv": lambda a, rcond: jnp.linalg.pinv(a, rtol=rcond),
    "qr": lambda a: tuple(jnp.linalg.qr(a, mode="reduced")),
    # special functions
    "erf": jss.erf, "erfc": jss.erfc, "erfinv": jss.erfinv, "gammaln": jss.gammaln,
    "digamma": jss.digamma, "polygamma": jss.polygamma,
    "sinc": _j_sinc,
    "gammainc": jss.gammainc, "gammaincc": jss.gammaincc, "betainc": jss.betainc,
    "betaincc": lambda a, b, x: 1.0 - jss.betainc(a, b, x),
    "i0e": jss.i0e, "i1e": jss.i1e, "erfcx": jss.erfcx, "zeta": jss.zeta,
    # loops: their body programs are interpreted with this same table
    "scan": _j_scan,
    "while": _j_while,
})

# Primitives of SAMPLES compared with no JAX twin: {name: reason}.
UNCOMPARED = {
    "custom_call": "a chainrule custom_jvp function: its rule is chainrule code (the sample's rule is "
                   "exact, so finite differences check it in tests/test_primitives.py)",
    "gammainc_da": "JAX has d/da gammainc to first order only (igamma_grad_a has no derivative); "
                   "tests/test_special_incomplete.py compares it with jax.grad",
    "betainc_dab": "JAX does not differentiate betainc in a or b",
    "gammaincinv": "no gammaincinv in jax.scipy.special", "gammainccinv": "no gammainccinv in jax.scipy.special",
    "betaincinv": "no betaincinv in jax.scipy.special",
}

# Cases whose derivatives are not compared (values still are): {case id: reason}.
DERIVATIVES_NOT_COMPARED = {
    **{f"{n}-{c}": "JAX's Hessian needs d2/da2 (igamma_grad_a has no derivative); first derivatives are "
                   "compared in tests/test_special_incomplete.py"
       for n in ("gammainc", "gammaincc") for c in ("array", "floats", "broadcast")},
    **{f"betainc-{c}": "JAX does not differentiate betainc in a or b; d/dx is compared in "
                       "tests/test_special_incomplete.py" for c in ("array", "floats")},
    "betaincc-array": "JAX does not differentiate betainc in a or b",
}

# JAX cannot reverse-differentiate lax.while_loop: for programs holding these primitives
# chainrule's jacrev (and Hessian) is compared with JAX's forward mode (the same matrix).
JAX_FORWARD_ONLY = {"while": "jax.lax.while_loop has no reverse-mode rule"}

# Real disagreements with JAX (chainrule bugs, not fixed here): {case id: reason}; xfail(strict).
DISAGREEMENTS = {
}

HESSIAN_MAX_SIZE = 6000     # Hessians compared where out.size * in.size**2 is at most this


def jax_eval(prog, leaves):
    """Interpret a staged chainrule program with JAX operations (JAX_TWINS)."""
    env = {v.id: x for v, x in zip(prog.invars, leaves)}

    def read(a):
        return a.value if isinstance(a, Const) else env[a.id]
    for e in prog.eqns:
        out = JAX_TWINS[e.prim.name](*[read(a) for a in e.invars], **e.params)
        if e.prim.multiple_results:
            assert len(out) == len(e.outvars), e.prim.name
            for v, o in zip(e.outvars, out):
                env[v.id] = o
        else:
            env[e.outvars[0].id] = out
    return [read(v) for v in prog.outvars]


def _prims_of(prog):
    """Names of the primitives a program binds, loop bodies included."""
    names = set()
    for e in prog.eqns:
        names.add(e.prim.name)
        for v in e.params.values():
            if isinstance(v, Program):
                names |= _prims_of(v)
    return names


def _is_inexact(x):
    return np.asarray(x).dtype.kind in "fc"


def _case_id(name, k, case):
    return f"{name}-{case.id or k}"


def _sample_params():
    out = []
    for name in sorted(SAMPLES):
        for k, case in enumerate(SAMPLES[name]):
            cid = _case_id(name, k, case)
            marks = []
            if name in UNCOMPARED:
                marks.append(pytest.mark.skip(reason=f"{name} not compared with JAX: {UNCOMPARED[name]}"))
            elif cid in DISAGREEMENTS:
                marks.append(pytest.mark.xfail(strict=True, reason=DISAGREEMENTS[cid]))
            out.append(pytest.param(name, k, case, id=cid, marks=marks))
    return out


class _Plan:
    """What is compared for one case: its staged program, the inexact outputs (`keep`) and
    arguments (`argnums`) that derivatives are taken of, and whether a Hessian is cheap."""

    def __init__(self, name, cid, case):
        self.prog = prog = cr.make_ir(case.fn)(*case.args)
        self.used = _prims_of(prog)
        assert name in self.used, f"case {cid} does not bind {name}"
        missing = sorted(self.used - set(JAX_TWINS))
        assert not missing, f"case {cid}: no JAX twin for {missing}"
        assert len(cr_leaves(case.args)) == len(case.args), "case arguments are expected to be leaves"
        outs = prog.outvars
        avals = [(np.shape(o.value), np.asarray(o.value).dtype) if isinstance(o, Const)
                 else (o.shape, np.dtype(o.dtype)) for o in outs]
        assert not any(dt.kind == "c" for _, dt in avals) and not any(np.dtype(v.dtype).kind == "c"
                                                                      for v in prog.invars), \
            f"{cid}: complex inputs or outputs not handled"
        self.keep = [dt.kind == "f" for _, dt in avals]
        self.argnums = tuple(i for i, a in enumerate(case.args) if _is_inexact(a))
        self.derivatives = cid not in DERIVATIVES_NOT_COMPARED and any(self.keep) and bool(self.argnums)
        out_size = sum(int(np.prod(s, dtype=int)) for (s, _), k in zip(avals, self.keep) if k)
        in_size = sum(int(np.size(case.args[i])) for i in self.argnums)
        self.hessian = self.derivatives and out_size * in_size ** 2 <= HESSIAN_MAX_SIZE
        self.forward_only = bool(self.used & set(JAX_FORWARD_ONLY))

    def jax_results(self, args):
        """JAX's value, jacfwd, jacrev (and Hessian) of the program at args (traceable)."""
        prog, keep, argnums = self.prog, self.keep, self.argnums

        def j_fn(*a):
            return tuple(o for o, k in zip(jax_eval(prog, list(a)), keep) if k)
        res = {"value": jax_eval(prog, list(args))}
        if self.derivatives:
            j_rev = jax.jacfwd if self.forward_only else jax.jacrev
            res["jacfwd"] = jax.jacfwd(j_fn, argnums)(*args)
            res["jacrev"] = j_rev(j_fn, argnums)(*args)
            if self.hessian:
                res["hessian"] = jax.jacfwd(j_rev(j_fn, argnums), argnums)(*args)
        return res

    def chainrule_results(self, case):
        keep, argnums = self.keep, self.argnums

        def c_fn(*a):
            return tuple(o for o, k in zip(cr_leaves(case.fn(*a)), keep) if k)
        res = {"value": case.fn(*case.args)}
        if self.derivatives:
            res["jacfwd"] = cr.jacfwd(c_fn, argnums)(*case.args)
            res["jacrev"] = cr.jacrev(c_fn, argnums)(*case.args)
            if self.hessian:
                res["hessian"] = cr.hessian(c_fn, argnums)(*case.args)
        return res


_FAST_COMPILE = {"xla_cpu_use_fusion_emitters": False, "xla_backend_optimization_level": 0,
                 "xla_llvm_disable_expensive_passes": True}


@pytest.fixture(scope="module")
def jax_reference():
    """{case id: (plan, JAX results) or the exception met}.  All cases are traced into ONE
    jitted function: compiled once, far faster than JAX's op-by-op compiles per case."""
    plans, errors = {}, {}
    for name in sorted(SAMPLES):
        if name in UNCOMPARED:
            continue
        for k, case in enumerate(SAMPLES[name]):
            cid = _case_id(name, k, case)
            try:
                plans[cid] = (_Plan(name, cid, case), case.args)
            except Exception as exc:           # reported by that case's test
                errors[cid] = exc

    def everything(all_args):
        out = {}
        for cid, (plan, _) in plans.items():
            try:
                out[cid] = plan.jax_results(all_args[cid])
            except Exception as exc:
                errors[cid] = exc
        return out
    all_args = {cid: args for cid, (_, args) in plans.items()}
    lowered = jax.jit(everything).trace(all_args).lower()
    try:            # XLA's older CPU emitters, unoptimised: compiles this (big, run-once) program ~3x faster
        compiled = lowered.compile(_FAST_COMPILE)
    except Exception:       # an XLA without these options
        compiled = lowered.compile()
    results = compiled(all_args)
    results = jax.tree_util.tree_map(np.asarray, results)
    ref = {cid: (plan, results[cid]) for cid, (plan, _) in plans.items() if cid in results}
    ref.update(errors)
    return ref


def assert_close_to_jax(actual, expected, what, rtol=1e-10):
    """rtol, with an atol of rtol times the largest finite |JAX value| (plus 1e-14: results
    that cancel to 0 from O(1) terms, e.g. Re((x+iy)(y+ix)), keep a rounding error);
    NaNs and infinities at equal places; integer and boolean results exactly."""
    a, e = np.asarray(actual), np.asarray(expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != JAX's {e.shape}"
    if e.dtype.kind not in "fc" or a.dtype.kind not in "fc":
        assert a.dtype.kind == e.dtype.kind or {a.dtype.kind, e.dtype.kind} <= set("iu"), \
            f"{what}: dtype {a.dtype} vs JAX's {e.dtype}"
        np.testing.assert_array_equal(a, e, err_msg=what)
        return
    np.testing.assert_array_equal(np.isnan(a), np.isnan(e), err_msg=f"{what}: NaN positions differ")
    inf = np.isinf(e)
    np.testing.assert_array_equal(a[inf], e[inf], err_msg=f"{what}: infinities differ")
    finite = np.isfinite(e)
    scale = float(np.max(np.abs(e[finite]), initial=0.0))
    np.testing.assert_allclose(a[finite], e[finite], rtol=rtol, atol=rtol * scale + 1e-14, err_msg=what)


@pytest.mark.parametrize("name,k,case", _sample_params())
def test_primitive_samples_agree_with_jax(name, k, case, jax_reference):
    cid = _case_id(name, k, case)
    ref = jax_reference[cid]
    if isinstance(ref, Exception):
        raise ref
    plan, expected = ref
    actual = plan.chainrule_results(case)
    assert sorted(actual) == sorted(expected)
    for what in ("value", "jacfwd", "jacrev", "hessian"):
        if what not in actual:
            continue
        cl, jl = cr_leaves(actual[what]), jax.tree_util.tree_leaves(expected[what])
        assert len(cl) == len(jl), f"{cid} {what}: {len(cl)} leaves != JAX's {len(jl)}"
        for i, (a, b) in enumerate(zip(cl, jl)):
            assert_close_to_jax(a, b, f"{cid} {what}[{i}]")


def test_every_sampled_primitive_has_a_jax_twin_or_a_reason():
    unaccounted = sorted(n for n in SAMPLES if n not in JAX_TWINS and n not in UNCOMPARED)
    assert not unaccounted, ("primitives of SAMPLES with neither a JAX twin in JAX_TWINS nor a reason "
                             f"in UNCOMPARED: {unaccounted}")
    assert not set(UNCOMPARED) & set(JAX_TWINS), "a primitive is both twinned and UNCOMPARED"
    ids = {p.id for p in _sample_params()}
    stale = sorted(set(UNCOMPARED) - set(SAMPLES)) + sorted(
        (set(DERIVATIVES_NOT_COMPARED) | set(DISAGREEMENTS)) - ids)
    assert not stale, f"entries for primitives or cases no longer in SAMPLES: {stale}"
