"""vmap: every primitive's batching rule against a Python loop over the batch,
compositions with the derivative transformations, Python control flow that
splits the batch, batched and sparse Jacobians/Hessians, and error messages."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule import rules
from chainrule.core import Primitive, bind, primitives
from chainrule.jacobians import (
    vmap, batched_jacfwd, batched_jacrev, batched_hessian, sparse_jacobian, sparse_hessian,
    color_columns)

from helpers import rosen_bands, rosen_hessian, w2 as w2_f

from test_primitives import SAMPLES as _DIFF_SAMPLES

RNG = np.random.default_rng(20240604)


# --------------------------------------------------------- sample table ---

class Case:
    """fn(*args) binds the primitive; makers[i](rng) draws one example of argument i."""

    def __init__(self, fn, *makers, id="", rtol=1e-10, atol=1e-12):
        self.fn, self.makers, self.id, self.rtol, self.atol = fn, makers, id, rtol, atol


def _b(name, **params):
    return lambda *xs: bind(primitives[name], *xs, **params)


def _quiet_print(x):
    """debug_print bound directly (its output swallowed); the result checked is 2 x."""
    import contextlib
    import io
    from chainrule.tree_util import tree_flatten
    with contextlib.redirect_stdout(io.StringIO()):
        bind(primitives["debug_print"], x, fmt="{}", tree=tree_flatten(((x,), {}))[1])
    return x * 2.0


def U(shape, lo=-1.0, hi=1.0):
    return lambda rng: rng.uniform(lo, hi, shape)


def Bool(shape):
    return lambda rng: rng.uniform(size=shape) < 0.5


def Const(v):
    return lambda rng: v


def Distinct(shape):
    n = int(np.prod(shape))
    return lambda rng: rng.permutation(np.linspace(-2, 2, n)).reshape(shape)


def SPD(n, extra=()):
    def make(rng):
        a = rng.uniform(-1, 1, extra + (n, n))
        return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)
    return make


def SYM(n):
    def make(rng):
        a = rng.uniform(-1, 1, (n, n))
        return a + a.T + np.diag(np.arange(n) * 3.0)
    return make


def _shapes():
    """A few random example shapes for elementwise cases."""
    s = [(), (int(RNG.integers(1, 4)),), (int(RNG.integers(1, 3)), int(RNG.integers(2, 4)))]
    return s


UNARY = {
    "neg": (-2, 2), "sin": (-3, 3), "cos": (-3, 3), "tan": (-1.2, 1.2), "arcsin": (-0.9, 0.9),
    "arccos": (-0.9, 0.9), "arctan": (-3, 3), "sinh": (-2, 2), "cosh": (-2, 2), "tanh": (-2, 2),
    "arcsinh": (-3, 3), "arccosh": (1.2, 4), "arctanh": (-0.9, 0.9), "exp": (-2, 2),
    "exp2": (-2, 2), "expm1": (-2, 2), "log": (0.2, 4), "log2": (0.2, 4), "log10": (0.2, 4),
    "log1p": (-0.8, 3), "sqrt": (0.2, 4), "cbrt": (-4, 4), "abs": (-2, 2), "real": (-2, 2),
    "imag": (-2, 2), "conj": (-2, 2), "sign": (-2, 2), "floor": (-3, 3), "ceil": (-3, 3),
    "trunc": (-3, 3), "isnan": (-1, 1), "isinf": (-1, 1), "isfinite": (-1, 1),
    "stop_gradient": (-1, 1),
    "erf": (-2, 2), "erfc": (-2, 2), "gammaln": (0.3, 5), "digamma": (0.3, 5),
}
BINARY = {
    "add": (-2, 2), "subtract": (-2, 2), "multiply": (-2, 2), "safe_multiply": (-2, 2), "divide": (0.5, 2),
    "power": (0.5, 2),
    "arctan2": (-2, 2), "hypot": (-2, 2), "maximum": (-2, 2), "minimum": (-2, 2),
    "logaddexp": (-2, 2), "remainder": (0.5, 3), "floor_divide": (0.5, 3), "less": (-1, 1),
    "less_equal": (-1, 1), "greater": (-1, 1), "greater_equal": (-1, 1), "equal": (-1, 1),
    "not_equal": (-1, 1),
}
LOGICAL = ["logical_and", "logical_or", "logical_xor"]


def _build():
    T = {}
    for name, (lo, hi) in UNARY.items():
        T[name] = [Case(_b(name), U(s, lo, hi), id=f"shape{s}") for s in _shapes()]
    T["isnan"].append(Case(_b("isnan"), lambda rng: np.where(rng.uniform(size=4) < 0.5, np.nan, 1.0), id="nan"))
    T["abs"].append(Case(_b("abs"), lambda rng: rng.uniform(-1, 1, 3) + 1j * rng.uniform(-1, 1, 3), id="complex"))
    T["conj"].append(Case(_b("conj"), lambda rng: rng.uniform(-1, 1, 3) + 1j * rng.uniform(-1, 1, 3), id="complex"))
    T["real"].append(Case(_b("real"), lambda rng: rng.uniform(-1, 1, 3) + 1j * rng.uniform(-1, 1, 3), id="complex"))
    T["imag"].append(Case(_b("imag"), lambda rng: rng.uniform(-1, 1, 3) + 1j * rng.uniform(-1, 1, 3), id="complex"))
    T["round"] = [Case(_b("round", decimals=1), U((2, 3), -3, 3), id="decimals1"),
                  Case(_b("round", decimals=0), U((), -3, 3), id="scalar")]
    T["logical_not"] = [Case(_b("logical_not"), Bool((3,)), id="vec")]
    for name, (lo, hi) in BINARY.items():
        T[name] = [Case(_b(name), U((2, 3), lo, hi), U((2, 3), lo, hi), id="same"),
                   Case(_b(name), U((2, 3), lo, hi), U((3,), lo, hi), id="row"),
                   Case(_b(name), U((3,), lo, hi), U((2, 1, 3), lo, hi), id="rank-up"),
                   Case(_b(name), U((2, 1), lo, hi), U((1, 3), lo, hi), id="outer"),
                   Case(_b(name), U((), lo, hi), U((4,), lo, hi), id="scalar-vec"),
                   Case(_b(name), U((3,), lo, hi), Const(1.5), id="python-float")]
    for name in LOGICAL:
        T[name] = [Case(_b(name), Bool((2, 3)), Bool((3,)), id="row"),
                   Case(_b(name), Bool(()), Bool((2,)), id="scalar")]
    T["select"] = [Case(_b("select"), Bool((2, 3)), U((2, 3)), U((2, 3)), id="same"),
                   Case(_b("select"), Bool((3,)), U((2, 3)), U(()), id="broadcast"),
                   Case(_b("select"), Bool(()), U((2,)), Const(0.0), id="scalar-cond")]
    T["convert_element_type"] = [
        Case(_b("convert_element_type", dtype=np.dtype(np.float32)), U((2, 3)), id="f32", rtol=1e-6),
        Case(_b("convert_element_type", dtype=np.dtype(np.complex128)), U((3,)), id="c128"),
        Case(_b("convert_element_type", dtype=np.dtype(np.int64)), U((3,), -5, 5), id="i64")]

    # ---------------------------------------------------------- shape ---
    T["reshape"] = [Case(_b("reshape", shape=(3, 2)), U((2, 3)), id="2d"),
                    Case(_b("reshape", shape=(2, 1, 3)), U((6,)), id="add-axes"),
                    Case(_b("reshape", shape=()), U((1, 1)), id="to-scalar"),
                    Case(_b("reshape", shape=(1,)), U(()), id="from-scalar")]
    T["transpose"] = [Case(_b("transpose", axes=(1, 2, 0)), U((2, 3, 4)), id="3d"),
                      Case(_b("transpose", axes=(1, 0)), U((2, 3)), id="2d")]
    T["broadcast_to"] = [Case(_b("broadcast_to", shape=(2, 3, 4)), U((3, 1)), id="3d"),
                         Case(_b("broadcast_to", shape=(2, 3)), U(()), id="scalar")]
    T["concatenate"] = [Case(_b("concatenate", axis=1), U((2, 3)), U((2, 1)), U((2, 2)), id="axis1"),
                        Case(_b("concatenate", axis=0), U((2, 3)), U((1, 3)), id="axis0")]
    T["pad"] = [Case(_b("pad", widths=((1, 0), (2, 1))), U((2, 3)), id="2d"),
                Case(_b("pad", widths=((0, 2),)), U((3,)), id="1d")]
    ix = np.array
    T["getitem"] = [
        Case(_b("getitem", idx=(slice(1, 3), 0)), U((4, 3)), id="basic"),
        Case(_b("getitem", idx=(0,)), U((4, 3)), id="int"),
        Case(_b("getitem", idx=(ix([0, 2, 0, 1]),)), U((3, 2)), id="advanced-repeats"),
        Case(_b("getitem", idx=(ix([[True, False, True], [False, True, True]]),)), U((2, 3)), id="mask2d"),
        Case(_b("getitem", idx=(slice(None), ix([True, False, True]))), U((2, 3)), id="mask-axis1"),
        Case(_b("getitem", idx=(Ellipsis, None, slice(None, None, -1))), U((2, 3)), id="ellipsis-newaxis"),
        Case(_b("getitem", idx=(ix([1, 0]), ix([2, 2]))), U((2, 3)), id="two-arrays"),
        Case(_b("getitem", idx=(ix([1, 0]), slice(None), ix([2, 0]))), U((2, 3, 4)), id="nonadjacent"),
        Case(_b("getitem", idx=(ix([[1], [0]]), slice(1, 3), 0)), U((2, 3, 4)), id="nonadjacent-int"),
        Case(_b("getitem", idx=(slice(None), ix([0, 1]), ix([1, 1]))), U((2, 3, 4)), id="adjacent-late"),
        Case(_b("getitem", idx=(ix([0, 1]), None, ix([1, 0]))), U((2, 3)), id="newaxis-between"),
        Case(_b("getitem", idx=(ix([0, 1]), Ellipsis, ix([1, 0]))), U((2, 3)), id="empty-ellipsis"),
        Case(_b("getitem", idx=(Ellipsis, ix([2, 0]))), U((2, 3)), id="ellipsis-array"),
        Case(_b("getitem", idx=()), U(()), id="scalar-empty"),
    ]
    T["index_add"] = [
        Case(_b("index_add", idx=(ix([0, 2, 0]),)), U((4, 2)), U((3, 2)), id="repeats"),
        Case(_b("index_add", idx=(slice(1, 3),)), U((4, 2)), U((2,)), id="slice-broadcast"),
        Case(_b("index_add", idx=(ix([0, 1]), slice(None), ix([1, 1]))), U((2, 3, 2)), U((2, 3)),
             id="nonadjacent-repeat"),
        Case(_b("index_add", idx=(ix([0, 1]), slice(None), ix([1, 0]))), U((2, 3, 2)), U((3,)),
             id="nonadjacent-broadcast"),
        Case(_b("index_add", idx=(1,)), U((3, 2)), U(()), id="scalar-value")]
    T["index_set"] = [
        Case(_b("index_set", idx=(ix([0, 2]),)), U((4, 2)), U((2, 2)), id="advanced"),
        Case(_b("index_set", idx=(slice(1, 3), 1)), U((4, 2)), U((2,)), id="basic"),
        Case(_b("index_set", idx=(1,)), U((3, 2)), Const(0.5), id="float-broadcast"),
        Case(_b("index_set", idx=(ix([0, 1]), slice(None), ix([1, 0]))), U((2, 3, 2)), U((2, 3)),
             id="nonadjacent"),
        Case(_b("index_set", idx=(ix([True, False, True]),)), U((3, 2)), U((1, 2)), id="mask")]

    Idx = lambda shape, n: (lambda rng: rng.integers(0, n, shape))  # noqa: E731
    T["take_along_axis"] = [
        Case(_b("take_along_axis", axis=1), U((3, 4)), Idx((3, 5), 4), id="axis1"),
        Case(_b("take_along_axis", axis=0), U((4,)), Idx((6,), 4), id="1d")]
    T["scatter_add_along_axis"] = [
        Case(_b("scatter_add_along_axis", axis=1), U((3, 4)), Idx((3, 5), 4), U((3, 5)), id="axis1"),
        Case(_b("scatter_add_along_axis", axis=0), U((4, 2)), Idx((3, 2), 4), U((2,)), id="broadcast-y"),
        Case(_b("scatter_add_along_axis", axis=0), U((4,)), Idx((6,), 4), U(()), id="scalar-y")]

    # ----------------------------------------------------- reductions ---
    for name in ("reduce_sum", "reduce_max", "reduce_min", "reduce_prod"):
        T[name] = [Case(_b(name, axes=(0, 2), keepdims=False), Distinct((2, 3, 4)), id="axes02"),
                   Case(_b(name, axes=(1,), keepdims=True), Distinct((2, 3)), id="keepdims"),
                   Case(_b(name, axes=(0,), keepdims=False), Distinct((5,)), id="all"),
                   Case(_b(name, axes=(), keepdims=False), Distinct((2,)), id="none")]
    for name in ("any", "all"):
        T[name] = [Case(_b(name, axes=(1,), keepdims=False), Bool((2, 3)), id="axis1"),
                   Case(_b(name, axes=(0, 1), keepdims=True), Bool((2, 3)), id="keepdims")]
    for name in ("argmax", "argmin"):
        T[name] = [Case(_b(name, axis=None, keepdims=False), Distinct((2, 3)), id="flat"),
                   Case(_b(name, axis=None, keepdims=True), Distinct((2, 3)), id="flat-keepdims"),
                   Case(_b(name, axis=1, keepdims=False), Distinct((2, 3)), id="axis1"),
                   Case(_b(name, axis=-2, keepdims=True), Distinct((2, 3)), id="axis-neg-keepdims"),
                   Case(_b(name, axis=None, keepdims=False), U(()), id="scalar")]
    T["argsort"] = [Case(_b("argsort", axis=1, stable=True), Distinct((2, 4)), id="axis1"),
                    Case(_b("argsort", axis=0, stable=True), Distinct((5,)), id="1d")]
    T["cumsum"] = [Case(_b("cumsum", axis=1), U((2, 4)), id="axis1"), Case(_b("cumsum", axis=0), U((5,)), id="1d")]
    T["cumprod"] = [Case(_b("cumprod", axis=1), U((2, 4)), id="axis1"),
                    Case(_b("cumprod", axis=0), U((5,)), id="1d")]

    # ------------------------------------------------------- products ---
    T["matmul"] = [Case(_b("matmul"), U((2, 3)), U((3, 4)), id="mm"),
                   Case(_b("matmul"), U((3,)), U((3, 4)), id="vm"),
                   Case(_b("matmul"), U((2, 3)), U((3,)), id="mv"),
                   Case(_b("matmul"), U((3,)), U((3,)), id="vv"),
                   Case(_b("matmul"), U((3,)), U((2, 3, 4)), id="v-stack"),
                   Case(_b("matmul"), U((2, 2, 3)), U((3,)), id="stack-v"),
                   Case(_b("matmul"), U((2, 2, 3)), U((3, 4)), id="stack-m"),
                   Case(_b("matmul"), U((2, 3)), U((5, 3, 4)), id="m-stack"),
                   Case(_b("matmul"), U((2, 1, 2, 3)), U((3, 3, 2)), id="stacks")]
    T["einsum"] = [Case(_b("einsum", spec="ij,jk->ik"), U((2, 3)), U((3, 4)), id="matmul"),
                   Case(_b("einsum", spec="ij->"), U((2, 3)), id="sum"),
                   Case(_b("einsum", spec="ii->i"), U((3, 3)), id="diag"),
                   Case(_b("einsum", spec="bij,bjk->bik"), U((2, 2, 3)), U((2, 3, 2)), id="batched"),
                   Case(_b("einsum", spec="ij,jk,k->i"), U((2, 3)), U((3, 4)), U((4,)), id="three"),
                   Case(_b("einsum", spec="i,j->ij"), U((2,)), U((3,)), id="outer")]

    # ------------------------------------- stacked linear algebra (others) ---
    T["solve"] = [Case(_b("solve"), SPD(3), U((3, 2)), id="matrix"),
                  Case(_b("solve"), SPD(3, (2,)), U((3, 1)), id="stack-a")]
    T["inv"] = [Case(_b("inv"), SPD(3), id="3x3")]
    T["det"] = [Case(_b("det"), SPD(3), id="3x3"), Case(_b("det"), SPD(2, (2,)), id="stack")]
    T["slogdet"] = [Case(_b("slogdet"), SPD(3), id="3x3")]
    T["cholesky"] = [Case(_b("cholesky"), SPD(3), id="3x3")]
    T["eigh"] = [Case(lambda a: (lambda w, v: (w, v * v))(*bind(primitives["eigh"], a, UPLO="L")),
                      SYM(3), id="3x3")]
    T["svd"] = [Case(lambda a: (lambda u, s, vt: (s, u * u, vt * vt))(
        *bind(primitives["svd"], a, full_matrices=False, hermitian=False)),
        lambda rng: rng.uniform(-1, 1, (4, 3)) + 3 * np.eye(4, 3), id="4x3", rtol=1e-8, atol=1e-10)]
    T["svdvals"] = [Case(_b("svdvals"), U((4, 3)), id="4x3")]
    T["qr"] = [Case(_b("qr"), lambda rng: rng.uniform(-1, 1, (4, 3)) + 2 * np.eye(4, 3), id="4x3")]
    T["pinv"] = [Case(lambda a: bind(primitives["pinv"], a, 1e-15), U((3, 2)), id="3x2", rtol=1e-8, atol=1e-10)]
    T["debug_print"] = [Case(_quiet_print, U((3,)), id="print")]
    # chainrule.random: each key draws alone; an unbatched key is shared, as in the loop
    key = lambda rng: rng.integers(0, 2 ** 32, 2, dtype=np.uint64).astype(np.uint32)    # noqa: E731
    whole = lambda lo, hi: lambda rng: np.int64(rng.integers(lo, hi))                  # noqa: E731
    T["random_seed"] = [Case(_b("random_seed"), whole(0, 2 ** 40), id="seed")]
    T["random_split"] = [Case(_b("random_split", num=3), key, id="num3")]
    T["random_fold_in"] = [Case(_b("random_fold_in"), key, whole(0, 1000), id="data")]
    T["random_bits"] = [Case(_b("random_bits", shape=(2, 3), dtype=np.uint32), key, id="u32")]
    T["random_uniform"] = [Case(_b("random_uniform", shape=(3,), dtype=np.float64), key, id="vec")]
    T["random_normal"] = [Case(_b("random_normal", shape=(2, 2), dtype=np.float64), key, id="mat")]
    T["random_randint"] = [Case(_b("random_randint", shape=(4,), dtype=np.int64), key, whole(-5, 0),
                                whole(1, 9), id="range")]
    T["random_poisson"] = [Case(_b("random_poisson", shape=(3,), dtype=np.int64), key, U((), 1.0, 5.0),
                                id="lam")]
    T["random_gamma"] = [Case(_b("random_gamma", shape=(3,), dtype=np.float64), key, U((), 0.5, 3.0),
                              id="shape-param")]
    T["random_gamma_grad"] = [Case(_b("random_gamma_grad"), U((3,), 0.5, 3.0), U((3,), 0.2, 4.0), id="vec")]
    # the solve of chainrule.implicit_solve (a root of x^3 - p by Newton's method, per lane)
    T["implicit_solve"] = [Case(lambda p: cr.implicit_solve(lambda x, p: x ** 3 - p, _newton_cubic, 1.0,
                                                            (1.0,), (p,))[0], U((), 0.5, 4.0), id="cubic")]
    return T


def _newton_cubic(f, x):
    for _ in range(60):
        x = x - f(x) / (3 * x * x)
    return (x,)


TABLE = _build()


def _cases_for(name):
    if TABLE.get(name):
        return TABLE[name]
    out = []
    for c in _DIFF_SAMPLES.get(name, []):           # fall back on the derivative harness's samples
        if all(isinstance(a, (float, np.ndarray)) for a in c.args):
            out.append(Case(c.fn, *[(lambda a: (lambda rng: a + 0.01 * rng.uniform(-1, 1, np.shape(a))
                                                if isinstance(a, np.ndarray) else a))(a) for a in c.args],
                            id="harness-" + c.id, rtol=1e-8, atol=1e-10))
    return out


def _stack_along(xs, axis):
    return np.stack([np.asarray(x) for x in xs], axis=axis)


def _check_case(case, rng, B, axes_choice):
    """vmap(case.fn, in_axes) on stacked examples equals the loop over examples."""
    examples = [[m(rng) for m in case.makers] for _ in range(B)]
    # unbatched args take the first example's value
    axes, args = [], []
    for i, choice in enumerate(axes_choice):
        if choice is None:
            axes.append(None)
            args.append(examples[0][i])
        else:
            r = np.ndim(examples[0][i])
            ax = choice(r)
            axes.append(ax)
            args.append(_stack_along([e[i] for e in examples], ax % (r + 1)))
    got = vmap(case.fn, in_axes=tuple(axes))(*args)
    want = []
    for e in examples:
        ei = [e[i] if axes[i] is not None else examples[0][i] for i in range(len(axes))]
        want.append(case.fn(*ei))
    if isinstance(want[0], tuple):
        assert isinstance(got, tuple) and len(got) == len(want[0])
        pairs = [(got[k], np.stack([np.asarray(w[k]) for w in want])) for k in range(len(got))]
    else:
        pairs = [(got, np.stack([np.asarray(w) for w in want]))]
    for g, w in pairs:
        g = np.asarray(g)
        assert g.shape == w.shape, (case.id, axes, g.shape, w.shape)
        assert g.dtype == w.dtype or (g.dtype.kind == w.dtype.kind), (case.id, g.dtype, w.dtype)
        if w.dtype.kind in "fc":
            np.testing.assert_allclose(g, w, rtol=case.rtol, atol=case.atol, err_msg=f"{case.id} {axes}")
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"{case.id} {axes}")


def _axis_choices(n_args, rng):
    """Configurations of batch axes: all batched at random axes (positive and negative),
    and each argument batched alone."""
    def rand_axis(r):
        a = int(rng.integers(0, r + 1))
        return a - (r + 1) if rng.uniform() < 0.5 else a
    configs = [[rand_axis] * n_args, [(lambda r: 0)] * n_args, [(lambda r: -1)] * n_args]
    if n_args > 1:
        for i in range(n_args):
            configs.append([rand_axis if j == i else None for j in range(n_args)])
    return configs


def _all_cases():
    out = []
    for name in sorted(primitives):
        if name.startswith("_test"):
            continue
        for k, case in enumerate(_cases_for(name)):
            out.append(pytest.param(name, case, id=f"{name}-{case.id or k}"))
    return out


@pytest.mark.parametrize("name,case", _all_cases())
def test_batching_rule_matches_loop(name, case):
    p = primitives[name]
    rng = np.random.default_rng(abs(hash((name, case.id))) % 2**32)
    calls = [0]
    orig = p.impl

    def counted(*a, **k):
        calls[0] += 1
        return orig(*a, **k)
    p.impl = counted
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)      # no loop fallback
            warnings.filterwarnings("ignore", message=".*(invalid value|divide by zero|overflow).*")
            for B in (3, 1):
                for config in _axis_choices(len(case.makers), rng):
                    _check_case(case, rng, B, config)
    finally:
        p.impl = orig
    assert calls[0] > 0, f"case {case.id!r} never binds {name}"


def test_every_primitive_has_a_batching_rule():
    bad = [name for name, p in primitives.items()
           if not name.startswith("_test") and p not in rules.batch_rules
           and not rules.exempt["batch"].get(p)]
    assert not bad, f"primitives without a dedicated batching rule (and not exempt with a reason): {bad}"


def test_every_primitive_has_batching_samples():
    missing = [name for name in primitives if not name.startswith("_test") and not _cases_for(name)]
    assert not missing, f"add vmap sample inputs for: {missing}"


def test_loop_fallback_for_primitive_without_rule():
    p = Primitive("_test_vmap_norule", lambda x, y: np.sort(x) * y)
    try:
        x = RNG.uniform(size=(4, 3))
        with pytest.warns(RuntimeWarning, match="_test_vmap_norule"):
            got = vmap(lambda x: bind(p, x, 2.0))(x)
        np.testing.assert_allclose(got, np.sort(x, axis=1) * 2.0)
        with warnings.catch_warnings():
            warnings.simplefilter("error")          # warned once only
            got = vmap(lambda x: bind(p, x, 2.0), in_axes=1)(x)
        np.testing.assert_allclose(got, np.sort(x.T, axis=1) * 2.0)
    finally:
        primitives.pop(p.name, None)


# ------------------------------------------------------------ basic API ---

def test_in_axes_pytrees_none_negative_and_kwargs():
    x = RNG.uniform(size=(3, 4))
    y = RNG.uniform(size=(3,))
    d = {"a": RNG.uniform(size=(2, 4)), "b": RNG.uniform(size=5)}

    def f(x, y, d, scale=1.0):
        return {"s": cnp.sum(x * y) * scale + cnp.sum(d["a"]), "b": d["b"] * 2}
    out = vmap(f, in_axes=(-1, None, {"a": 1, "b": None}))(x, y, d, scale=3.0)
    for i in range(4):
        ref = f(x[:, i], y, {"a": d["a"][:, i], "b": d["b"]}, 3.0)
        np.testing.assert_allclose(out["s"][i], ref["s"])
        np.testing.assert_allclose(out["b"][i], ref["b"])      # unbatched output broadcast
    assert out["b"].shape == (4, 5)


def test_out_axes_and_nesting():
    x = RNG.uniform(size=(2, 3, 4))
    f = lambda v: cnp.sin(v) * 2.0
    got = vmap(vmap(f, in_axes=1, out_axes=1), in_axes=0, out_axes=-1)(x)
    assert got.shape == (3, 4, 2)
    np.testing.assert_allclose(got, np.moveaxis(np.sin(x) * 2.0, 0, -1))
    # matrix-vector product built from vmapped dot products
    A, v = RNG.uniform(size=(5, 3)), RNG.uniform(size=3)
    np.testing.assert_allclose(vmap(lambda r: cnp.dot(r, v))(A), A @ v)
    # outer product by nesting
    a, b = RNG.uniform(size=3), RNG.uniform(size=4)
    np.testing.assert_allclose(vmap(lambda s: vmap(lambda t: s * t)(b))(a), np.outer(a, b))
    # out_axes=None for an unbatched output, axis_size without batched inputs
    o1, o2 = vmap(lambda s: (s * 2.0, 7.0), out_axes=(0, None))(a)
    assert o2 == 7.0
    np.testing.assert_allclose(vmap(lambda: np.ones(2), in_axes=(), axis_size=3)(), np.ones((3, 2)))


def test_size_one_and_empty_like_edge_cases():
    x = RNG.uniform(size=(1, 3))
    np.testing.assert_allclose(vmap(lambda v: cnp.sum(v ** 2))(x), np.sum(x ** 2, axis=1))


def test_method_and_operator_surface():
    x = RNG.uniform(size=(4, 2, 3))

    def f(m):
        assert m.shape == (2, 3) and m.ndim == 2 and len(m) == 2
        r = m.T @ m + m.sum(axis=0)[:, None] - m.mean()
        r = r.reshape(-1)[::2]
        return np.tanh(r).max() + cnp.linalg.norm(m) if hasattr(cnp.linalg, "norm") else np.tanh(r).max()
    got = vmap(f)(x)
    want = np.array([f(xi) for xi in x])
    np.testing.assert_allclose(got, want)


# --------------------------------------------------------- compositions ---

def _w1(x):
    return cnp.sin(x) - 2 * cnp.cos(3 * x) * cnp.exp(-x ** 2)


def _w1_df(x):
    e = np.exp(-x ** 2)
    return np.cos(x) + 6 * np.sin(3 * x) * e + 4 * x * np.cos(3 * x) * e


def test_vmap_of_grad_and_grad_of_vmap():
    xs = np.linspace(-5, 5, 100)
    np.testing.assert_allclose(vmap(cr.grad(_w1))(xs), _w1_df(xs), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cr.grad(lambda v: cnp.sum(vmap(_w1)(v)))(xs), _w1_df(xs), rtol=1e-12, atol=1e-12)
    # jvp of vmap and vmap of jvp
    t = RNG.uniform(size=100)
    _, tout = cr.jvp(vmap(_w1), (xs,), (t,))
    np.testing.assert_allclose(tout, _w1_df(xs) * t, rtol=1e-12, atol=1e-12)
    tout2 = vmap(lambda x, t: cr.jvp(_w1, (x,), (t,))[1])(xs, t)
    np.testing.assert_allclose(tout2, _w1_df(xs) * t, rtol=1e-12, atol=1e-12)
    # second derivative through vmap in both orders
    d2 = vmap(cr.grad(cr.grad(_w1)))(xs[:5])
    d2b = cr.grad(lambda v: cnp.sum(vmap(cr.grad(_w1))(v)))(xs[:5])
    d2c = np.array([cr.grad(cr.grad(_w1))(float(x)) for x in xs[:5]])
    np.testing.assert_allclose(d2, d2c, rtol=1e-12)
    np.testing.assert_allclose(d2b, d2c, rtol=1e-12)


def test_per_example_gradients_and_vmap_of_vmap():
    W = RNG.uniform(size=(3, 2))
    X = RNG.uniform(size=(5, 3))
    Y = RNG.uniform(size=(5, 2))
    loss = lambda W, x, y: cnp.sum((cnp.tanh(x @ W) - y) ** 2)
    per = vmap(cr.grad(loss), in_axes=(None, 0, 0))(W, X, Y)
    loop = np.stack([cr.grad(loss)(W, x, y) for x, y in zip(X, Y)])
    np.testing.assert_allclose(per, loop, rtol=1e-12)
    M = RNG.uniform(size=(2, 3, 4))
    np.testing.assert_allclose(vmap(vmap(lambda v: cnp.sum(v * v), in_axes=1))(M), np.sum(M * M, axis=1))


def test_vmap_of_jacobians_and_vjp():
    A = RNG.uniform(size=(3, 3))
    f = lambda x: cnp.tanh(A @ x) * x[0]
    X = RNG.uniform(size=(4, 3))
    for jac in (cr.jacfwd, cr.jacrev, batched_jacfwd, batched_jacrev):
        got = vmap(jac(f))(X)
        want = np.stack([cr.jacfwd(f)(x) for x in X])
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    cts = RNG.uniform(size=(4, 3))
    got = vmap(lambda x, c: cr.vjp(f, x)[1](c)[0])(X, cts)
    want = np.stack([cr.vjp(f, x)[1](c)[0] for x, c in zip(X, cts)])
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_custom_rules_under_vmap():
    @cr.custom_jvp
    def softplus(x):
        return cnp.log1p(cnp.exp(x))

    @softplus.defjvp
    def _(primals, tangents):
        (x,), (t,) = primals, tangents
        return softplus(x), t * (1.0 / (1.0 + cnp.exp(-x)))
    xs = np.linspace(-3, 3, 7)
    sig = 1 / (1 + np.exp(-xs))
    np.testing.assert_allclose(vmap(cr.grad(softplus))(xs), sig, rtol=1e-12)
    np.testing.assert_allclose(cr.grad(lambda v: cnp.sum(vmap(softplus)(v)))(xs), sig, rtol=1e-12)
    _, t = cr.jvp(vmap(softplus), (xs,), (np.ones(7),))
    np.testing.assert_allclose(t, sig, rtol=1e-12)

    @cr.custom_vjp
    def clip_grad(x):
        return x * 1.0

    clip_grad.defvjp(lambda x: (x * 1.0, None), lambda res, g: (cnp.clip(g, -0.5, 0.5),))
    g = cr.grad(lambda v: cnp.sum(vmap(clip_grad)(v) * np.arange(7.0)))(xs)
    np.testing.assert_allclose(g, np.clip(np.arange(7.0), -0.5, 0.5))
    g2 = vmap(cr.grad(lambda s: clip_grad(s) * 3.0))(xs)
    np.testing.assert_allclose(g2, 0.5 * np.ones(7))
    # an unbatched argument of a custom_vjp function: its cotangent sums over the batch
    @cr.custom_vjp
    def mul(a, b):
        return a * b
    mul.defvjp(lambda a, b: (a * b, (a, b)), lambda r, g: (g * r[1], g * r[0]))
    gb = cr.grad(lambda b: cnp.sum(vmap(mul, in_axes=(0, None))(xs, b)))(2.0)
    np.testing.assert_allclose(gb, xs.sum())


def test_custom_vjp_bwd_returning_none_before_a_real_cotangent_under_vmap():
    """bwd -> (None, g): the None is a zero for the first argument, and g stays the second's
    (issue 12: the cotangents were shifted onto the wrong arguments)."""
    @cr.custom_vjp
    def scaled_sin(a, x):
        return a * cnp.sin(x)

    scaled_sin.defvjp(lambda a, x: (scaled_sin(a, x), (a, x)),
                      lambda r, g: (None, g * r[0] * cnp.cos(r[1])))
    a_s, xs = np.array([2.0, 3.0, -1.0, 0.5]), np.array([0.1, 0.5, 1.2, -2.0])
    loop = np.array([cr.grad(scaled_sin, 1)(a, x) for a, x in zip(a_s, xs)])
    np.testing.assert_allclose(loop, a_s * np.cos(xs), rtol=1e-14)
    np.testing.assert_allclose(vmap(cr.grad(scaled_sin, 1))(a_s, xs), loop, rtol=1e-14)
    # the batching rule of the custom_vjp call itself (grad outside vmap), batched or not in a
    np.testing.assert_allclose(cr.grad(lambda v: cnp.sum(vmap(scaled_sin)(a_s, v)))(xs), loop, rtol=1e-14)
    np.testing.assert_allclose(cr.grad(lambda v: cnp.sum(vmap(scaled_sin, in_axes=(None, 0))(2.0, v)))(xs),
                               [cr.grad(scaled_sin, 1)(2.0, x) for x in xs], rtol=1e-14)
    ga, gx = cr.grad(lambda a, v: cnp.sum(vmap(scaled_sin)(a, v)), (0, 1))(a_s, xs)
    np.testing.assert_array_equal(ga, np.zeros(4))
    np.testing.assert_allclose(gx, loop, rtol=1e-14)
    # per example, grad of a vmapped inner call: vmap(grad(vmap(...)))
    X2 = np.stack([xs, xs[::-1]])
    got = vmap(cr.grad(lambda v: cnp.sum(vmap(scaled_sin)(a_s, v))))(X2)
    np.testing.assert_allclose(got, [a_s * np.cos(row) for row in X2], rtol=1e-14)


def test_checkpoint_under_vmap():
    f = cr.checkpoint(lambda x: cnp.sin(x) * cnp.exp(x))
    xs = np.linspace(-1, 1, 5)
    np.testing.assert_allclose(vmap(cr.grad(f))(xs), np.exp(xs) * (np.cos(xs) + np.sin(xs)), rtol=1e-12)
    np.testing.assert_allclose(cr.grad(lambda v: cnp.sum(vmap(f)(v)))(xs),
                               np.exp(xs) * (np.cos(xs) + np.sin(xs)), rtol=1e-12)


# --------------------------------------------------------- control flow ---

def test_w2_python_if_under_vmap_of_grad():
    xs = np.linspace(-5, 5, 100)
    got = vmap(cr.grad(w2_f))(xs)
    loop = np.array([cr.grad(w2_f)(float(x)) for x in xs])
    np.testing.assert_allclose(got, loop, rtol=1e-14, atol=0)
    x3 = 1.5 * (1.5 * (1.5 * xs) + 0.1) + 0.2
    np.testing.assert_allclose(got, np.where(xs < 0, 2 * x3 * 1.5 ** 3, 1 + 2 * xs), rtol=1e-12)
    # the values too, and grad of vmap
    np.testing.assert_allclose(vmap(w2_f)(xs), [w2_f(float(x)) for x in xs], rtol=1e-14)
    np.testing.assert_allclose(cr.grad(lambda v: cnp.sum(vmap(w2_f)(v)))(xs), loop, rtol=1e-14)


def test_if_elif_else_and_mixed_outputs():
    def f(x, y):
        if x < -1:
            return cnp.sin(x) * y, 1
        elif x < 1:
            return x * y ** 2, 2
        else:
            return cnp.exp(-x) + y, 3
    xs = RNG.permutation(np.linspace(-3, 3, 13))
    y = 0.7
    out, branch = vmap(f, in_axes=(0, None))(xs, y)
    for i, x in enumerate(xs):
        o, b = f(float(x), y)
        np.testing.assert_allclose(out[i], o, rtol=1e-14)
        assert branch[i] == b
    g = vmap(cr.grad(lambda x: f(x, y)[0]))(xs)
    np.testing.assert_allclose(g, [cr.grad(lambda x: f(x, y)[0])(float(x)) for x in xs], rtol=1e-14)


def test_while_loop_with_per_example_trip_count():
    def halvings(x):
        n = 0
        while x > 1.0:
            x = x / 2.0
            n = n + 1
        return x * 3.0, n
    xs = np.array([0.5, 3.0, 17.0, 1.5, 100.0, 0.9, 40.0])
    out, n = vmap(halvings)(xs)
    want = [halvings(float(x)) for x in xs]
    np.testing.assert_allclose(out, [w[0] for w in want])
    np.testing.assert_array_equal(n, [w[1] for w in want])
    g = vmap(cr.grad(lambda x: halvings(x)[0]))(xs)
    np.testing.assert_allclose(g, [3.0 / 2 ** w[1] for w in want])
    # grad outside vmap, and batch axis 1 of a matrix argument
    g2 = cr.grad(lambda v: cnp.sum(vmap(lambda x: halvings(x)[0])(v)))(xs)
    np.testing.assert_allclose(g2, g)


def test_int_float_and_index_split():
    xs = np.array([2.0, 3.0, 2.0, 4.0])
    got = vmap(lambda x: cnp.sum(cnp.arange(int(x)) * 1.0) * x)(xs)
    np.testing.assert_allclose(got, [sum(range(int(x))) * x for x in xs])
    table = np.array([10.0, 20.0, 30.0, 40.0])
    got = vmap(lambda i, v: table[int(i)] * v + cnp.take(table, i))(np.array([3, 1, 3, 0]), np.ones(4))
    np.testing.assert_allclose(got, [80.0, 40.0, 80.0, 20.0])
    got = vmap(lambda x: x * math.floor(float(x)))(np.array([1.5, 2.5, 1.25]))
    np.testing.assert_allclose(got, [1.5, 5.0, 1.25])


def test_nested_vmap_split_and_grad_of_nested():
    def f(x, y):
        return x * y if x > y else x - y
    xs, ys = np.array([0.0, 1.0, 2.0]), np.array([0.5, 1.5])
    got = vmap(vmap(f, in_axes=(None, 0)), in_axes=(0, None))(xs, ys)
    want = np.array([[f(float(x), float(y)) for y in ys] for x in xs])
    np.testing.assert_allclose(got, want)
    gx = cr.grad(lambda v: cnp.sum(vmap(vmap(f, in_axes=(None, 0)), in_axes=(0, None))(v, ys)))(xs)
    want_g = np.array([sum(cr.grad(f)(float(x), float(y)) for y in ys) for x in xs])
    np.testing.assert_allclose(gx, want_g)


def test_split_with_nonzero_in_axis_and_out_axes():
    M = RNG.uniform(-1, 1, size=(3, 6))

    def f(col):
        return col * 2.0 if col[0] > 0 else -col
    got = vmap(f, in_axes=1, out_axes=1)(M)
    want = np.stack([f(M[:, j]) for j in range(6)], axis=1)
    np.testing.assert_allclose(got, want)


# -------------------------------------------------------- Jacobians ---

def test_batched_jacobians_match_loop_versions():
    rng = np.random.default_rng(0)
    m, n = 7, 5
    W, b, x = rng.standard_normal((m, n)), rng.standard_normal(m), rng.standard_normal(n)
    f = lambda v: cnp.tanh(W @ v + b)
    J = (1 - np.tanh(W @ x + b) ** 2)[:, None] * W
    for jac in (batched_jacfwd(f), batched_jacrev(f), batched_jacfwd(f, chunk_size=2),
                batched_jacrev(f, chunk_size=3)):
        np.testing.assert_allclose(jac(x), J, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(batched_jacfwd(f)(x), cr.jacfwd(f)(x), rtol=1e-13)
    # pytrees, several argnums, has_aux
    g = lambda a, d: ({"u": a * d["s"], "v": cnp.sum(a ** 2)}, 5.0)
    a0, d0 = rng.standard_normal(3), {"s": rng.standard_normal(3)}
    for bj, lj in ((batched_jacfwd, cr.jacfwd), (batched_jacrev, cr.jacrev)):
        J1, aux = bj(g, argnums=(0, 1), has_aux=True)(a0, d0)
        J2, aux2 = lj(g, argnums=(0, 1), has_aux=True)(a0, d0)
        assert aux == aux2 == 5.0
        for k in ("u", "v"):
            np.testing.assert_allclose(J1[k][0], J2[k][0], rtol=1e-13)
            np.testing.assert_allclose(J1[k][1]["s"], J2[k][1]["s"], rtol=1e-13)
    # a matrix input
    h = lambda M: M @ M
    M0 = rng.standard_normal((2, 2))
    np.testing.assert_allclose(batched_jacrev(h)(M0), cr.jacrev(h)(M0), rtol=1e-13)
    np.testing.assert_allclose(batched_jacfwd(h, chunk_size=3)(M0), cr.jacfwd(h)(M0), rtol=1e-13)


def _rosen(x):
    return cnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


_rosen_hessian = rosen_hessian


def test_batched_hessian_and_sparse_hessian():
    x = np.random.default_rng(1).uniform(-1, 1, 30)
    H = _rosen_hessian(x)
    np.testing.assert_allclose(batched_hessian(_rosen)(x), H, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(batched_hessian(_rosen, chunk_size=7)(x), H, rtol=1e-12, atol=1e-10)
    band = np.abs(np.subtract.outer(np.arange(30), np.arange(30))) <= 1
    Hs, colors = sparse_hessian(_rosen, x, band, return_colors=True)
    assert colors.max() + 1 == 3
    np.testing.assert_allclose(Hs, H, rtol=1e-12, atol=1e-10)
    Hd, colors = sparse_hessian(_rosen, x, return_colors=True)       # detected pattern
    assert colors.max() + 1 == 3
    np.testing.assert_allclose(Hd, H, rtol=1e-12, atol=1e-10)


def test_sparse_jacobian_and_colouring():
    x = np.random.default_rng(2).uniform(-1, 1, 12)
    f = lambda v: cnp.concatenate([v[:-1] * v[1:], cnp.sin(v[-1:])])
    J = cr.jacfwd(f)(x)
    Js, colors = sparse_jacobian(f, x, return_colors=True)
    assert colors.max() + 1 == 2
    np.testing.assert_allclose(Js, J, rtol=1e-13)
    np.testing.assert_allclose(sparse_jacobian(f, x, J != 0), J, rtol=1e-13)
    P = np.eye(4, dtype=bool)
    np.testing.assert_array_equal(color_columns(P), [0, 0, 0, 0])
    np.testing.assert_array_equal(color_columns(np.ones((2, 3), bool)), [0, 1, 2])
    with pytest.raises(ValueError, match="shape"):
        sparse_jacobian(f, x, np.ones((3, 3), bool))


# -------------------------------------------------------------- errors ---

def test_errors_are_clear():
    x, y = np.ones(3), np.ones(4)
    with pytest.raises(ValueError, match="inconsistent sizes.*size 3.*size 4"):
        vmap(lambda a, b: a + b)(x, y)
    with pytest.raises(ValueError, match="in_axes has 1 entries.*2 positional"):
        vmap(lambda a, b: a + b, in_axes=(0,))(x, x)
    with pytest.raises(ValueError, match="does not match the structure"):
        vmap(lambda d: d["a"], in_axes=({"b": 0},))({"a": x})
    with pytest.raises(ValueError, match="out of range"):
        vmap(lambda a: a, in_axes=1)(x)
    with pytest.raises(ValueError, match="scalar"):
        vmap(lambda a: a)(1.0)
    with pytest.raises(ValueError, match="at least one batched"):
        vmap(lambda a: a, in_axes=None)(x)
    with pytest.raises(ValueError, match="out_axes is None"):
        vmap(lambda a: a * 2, out_axes=None)(x)
    with pytest.raises(ValueError, match="out_axes.*does not match the structure"):
        vmap(lambda a: (a, a), out_axes=(0, 0, 0))(x)
    with pytest.raises(ValueError, match="axis_size"):
        vmap(lambda a: a, axis_size=5)(x)
    with pytest.raises(ValueError, match="integers or None"):
        vmap(lambda a: a, in_axes=("x",))(x)
    with pytest.raises(ValueError, match="different structures"):
        vmap(lambda a: (a, a) if a > 0 else a)(np.array([-1.0, 1.0]))
    leaked = []
    vmap(lambda a: leaked.append(a) or a)(x)
    with pytest.raises(cr.LeakedTracerError):
        leaked[0] + 1.0


def test_sparse_hessian_scipy_pattern_and_reused_colors():
    sp = pytest.importorskip("scipy.sparse")
    n = 2000
    x = np.random.default_rng(3).uniform(-1, 1, n)
    pattern = sp.diags([np.ones(n - 1), np.ones(n), np.ones(n - 1)], [-1, 0, 1])
    H, colors = sparse_hessian(_rosen, x, pattern, output="scipy", return_colors=True)
    assert colors.max() + 1 == 3
    d, _ = rosen_bands(x)
    np.testing.assert_allclose(H.diagonal(), d, rtol=1e-12)
    np.testing.assert_allclose(H.diagonal(1), -400 * x[:-1], rtol=1e-12)
    np.testing.assert_allclose(H.diagonal(-1), -400 * x[:-1], rtol=1e-12)
    assert H.nnz == 3 * n - 2
    v = np.random.default_rng(4).uniform(size=n)
    hv = cr.jvp(cr.grad(_rosen), (x,), (v,))[1]
    np.testing.assert_allclose(H @ v, hv, rtol=1e-10)
    H2 = sparse_hessian(_rosen, x[:40], np.abs(np.subtract.outer(np.arange(40), np.arange(40))) <= 1,
                        colors=colors[:40])
    np.testing.assert_allclose(H2, _rosen_hessian(x[:40]), rtol=1e-12, atol=1e-10)


def test_jvp_of_vmap_with_split_and_jit_of_vmap():
    xs = np.linspace(-5, 5, 20)
    loop = np.array([cr.grad(w2_f)(float(x)) for x in xs])
    _, t = cr.jvp(vmap(w2_f), (xs,), (np.ones(20),))
    np.testing.assert_allclose(t, loop, rtol=1e-14)
    if hasattr(cr, "jit"):
        jf = cr.jit(vmap(cr.grad(w2_f)))
        for _ in range(2):                 # staging run, then the compiled one
            np.testing.assert_allclose(jf(xs), loop, rtol=1e-14)


def test_taylor_mode_under_vmap():
    f = lambda x: cnp.sin(x) * cnp.exp(x)
    xs = np.linspace(-1, 1, 5)
    try:
        want = np.array([cr.derivative(f, 3)(float(x)) for x in xs])
    except NotImplementedError:
        pytest.skip("Taylor mode not available")
    np.testing.assert_allclose(vmap(cr.derivative(f, 3))(xs), want, rtol=1e-12)
    np.testing.assert_allclose(cr.derivative(vmap(f), 3)(xs), want, rtol=1e-12)


def test_split_on_nan_inf_and_float_values():
    xs = np.array([np.nan, np.inf, 1.0, np.nan, -0.0, 0.0])

    def f(x):
        c = x.concrete() if hasattr(x, "concrete") else x
        return 1.0 if np.isnan(c) else 2.0
    got = vmap(f)(xs)
    np.testing.assert_array_equal(got, [1.0, 2.0, 2.0, 1.0, 2.0, 2.0])
    got = vmap(lambda x: x + float(x))(np.array([np.nan, np.inf, np.nan]))
    assert np.isnan(got[0]) and np.isnan(got[2]) and got[1] == np.inf
    z = np.array([1 + 1j, np.nan + 0j, 1 + 1j])
    got = vmap(lambda v: v * complex(v))(z)
    np.testing.assert_allclose(got[[0, 2]], [(1 + 1j) ** 2] * 2)


def test_structured_control_flow_under_vmap():
    if not hasattr(cr, "while_loop"):
        pytest.skip("chainrule.control_flow not available")
    xs = np.array([0.5, 3.0, 17.0, 1.5])
    f = lambda x: cr.while_loop(lambda v: v[0] > 1.0, lambda v: (v[0] / 2.0, v[1] + 1), (x, 0))
    got, n = vmap(f)(xs)
    want = [f(float(x)) for x in xs]
    np.testing.assert_allclose(got, [w[0] for w in want])
    np.testing.assert_array_equal(n, [w[1] for w in want])
    g = lambda x: cr.cond(x > 1.0, lambda u: u ** 2, lambda u: -u, x)
    np.testing.assert_allclose(vmap(cr.grad(g))(xs), [cr.grad(g)(float(x)) for x in xs])
    h = lambda i, x: cr.switch(i, [lambda u: u, lambda u: u * 2, lambda u: u * 3], x)
    np.testing.assert_allclose(vmap(h)(np.array([0, 2, 1, 2]), xs), xs * [1, 3, 2, 3])
    s = lambda x: cr.scan(lambda c, t: (c * t, c), 1.0, x)
    M = np.random.default_rng(5).uniform(size=(3, 4))
    c, ys = vmap(s)(M)
    for i in range(3):
        ci, yi = s(M[i])
        np.testing.assert_allclose(c[i], ci)
        np.testing.assert_allclose(ys[i], yi)


def test_gathers_with_batched_indices_stay_vectorised():
    x = RNG.uniform(size=6)
    idx = np.array([[0, 5], [2, 2], [1, 3]])
    w = np.array([1.0, 2.0])
    g = cr.grad(lambda v: cnp.sum(vmap(lambda i: cnp.take(v, i) * w)(idx)))(x)
    want = np.zeros(6)
    for row in idx:
        np.add.at(want, row, w)
    np.testing.assert_allclose(g, want)
    X = RNG.uniform(size=(4, 5))
    wts = np.arange(5.0)
    f = lambda v: cnp.sum(cnp.sort(v) * wts)
    np.testing.assert_allclose(vmap(cr.grad(f))(X), np.stack([cr.grad(f)(r) for r in X]))
    np.testing.assert_allclose(vmap(cnp.sort)(X), np.sort(X, axis=1))
