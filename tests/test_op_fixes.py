"""Regression tests for issue 12, sections 0, 3 and 8: values and derivatives that used to be
silently wrong (or raised where NumPy and JAX give a number), each against a closed form,
NumPy's own result, finite differences or another AD mode."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp

RNG = np.random.default_rng(12)


def _fd_jacobian(f, x, eps=1e-6):
    """Central differences of f at x: shape f(x).shape + x.shape."""
    x = np.asarray(x, dtype=float)
    cols = []
    for i in range(x.size):
        e = np.zeros(x.size)
        e[i] = eps
        e = e.reshape(x.shape)
        cols.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * eps))
    out = np.stack(cols, axis=-1)
    return out.reshape(np.shape(f(x)) + x.shape)


# ---------------------------------------------- 0. where with a Python bool ---

@pytest.mark.parametrize("cond, scale", [(True, 2.0), (False, 1.0)])
def test_where_with_python_bool_condition_in_every_jacobian(cond, scale):
    f = lambda v: np.where(cond, 2 * v, v)
    want = scale * np.eye(2)
    x = np.ones(2)
    np.testing.assert_array_equal(cr.jacrev(f)(x), want)
    np.testing.assert_array_equal(cr.jacobian(f)(x), want)
    np.testing.assert_array_equal(cr.jacfwd(f)(x), want)
    np.testing.assert_array_equal(cr.jit(cr.jacrev(f))(x), want)
    pull = lambda c: cr.vjp(f, x)[1](c)[0]
    np.testing.assert_array_equal(cr.vmap(pull)(np.eye(2)), want)


def test_where_python_bool_broadcasts_like_numpy():
    x, y = np.ones(3), np.zeros((2, 3))
    np.testing.assert_array_equal(cnp.where(True, x, y), np.where(True, x, y))
    assert cnp.where(True, 1.5, 0.0) == 1.5                       # scalar code stays scalar
    g = cr.grad(lambda v: cnp.sum(cnp.where(False, np.zeros((2, 3)), v)))(x)
    np.testing.assert_array_equal(g, [2.0, 2.0, 2.0])


# ------------------------------------- 3. reductions' initial= and where= ---

X = np.array([[1.0, -3.0, 2.0], [0.5, 4.0, -1.0]])
MASK = np.array([[True, False, True], [False, True, True]])


@pytest.mark.parametrize("name, call", [
    ("add.reduce initial", lambda v: np.add.reduce(v, axis=None, initial=5.0)),
    ("add.reduce default axis", lambda v: np.add.reduce(v, initial=5.0)),
    ("sum method", lambda v: v.sum(axis=1, initial=1.0, where=MASK)),
    ("max method", lambda v: v.max(axis=0, initial=0.7)),
    ("add.reduce where", lambda v: np.add.reduce(v, axis=1, where=MASK)),
    ("add.reduce both", lambda v: np.add.reduce(v, axis=0, where=MASK, initial=-2.0)),
    ("multiply.reduce where", lambda v: np.multiply.reduce(v, axis=1, where=MASK, initial=3.0)),
    ("maximum.reduce initial", lambda v: np.maximum.reduce(v, axis=1, initial=3.0)),
    ("maximum.reduce where", lambda v: np.maximum.reduce(v, axis=None, where=MASK, initial=-10.0)),
    ("minimum.reduce initial", lambda v: np.minimum.reduce(v, axis=0, initial=0.0)),
    ("np.sum where", lambda v: np.sum(v, where=MASK)),
    ("np.sum where axis", lambda v: np.sum(v, axis=0, where=MASK, keepdims=True)),
    ("np.prod where", lambda v: np.prod(v, where=MASK)),
    ("np.max initial where", lambda v: np.max(v, axis=1, initial=1.0, where=MASK)),
    ("np.min initial", lambda v: np.min(v, initial=-5.0)),
    ("cnp.sum initial", lambda v: cnp.sum(v, axis=1, initial=2.5)),
    ("cnp.prod initial", lambda v: cnp.prod(v, axis=0, initial=2.0)),
])
def test_reduction_initial_and_where_are_honoured(name, call):
    want = call(X)                                   # NumPy itself on a plain array
    out, tangent = cr.jvp(call, (X,), (np.ones_like(X),))
    np.testing.assert_allclose(out, want, rtol=1e-15)
    J = cr.jacrev(call)(X)
    np.testing.assert_allclose(J, _fd_jacobian(call, X), atol=1e-7)
    np.testing.assert_allclose(cr.jacfwd(call)(X), J, atol=1e-15)


def test_where_masks_the_derivative_and_initial_carries_its_own():
    np.testing.assert_array_equal(cr.grad(lambda v: np.sum(v, where=MASK))(X), MASK * 1.0)
    np.testing.assert_array_equal(cr.grad(lambda v: np.add.reduce(v, axis=None, initial=5.0))(X), np.ones_like(X))
    assert cr.grad(lambda a: cnp.sum(X, initial=a))(2.0) == 1.0
    assert cr.grad(lambda a: cnp.max(X, initial=a))(10.0) == 1.0      # initial wins the max
    assert cr.grad(lambda a: cnp.max(X, initial=a))(0.0) == 0.0
    # prod with where: the masked-out entries are factors of 1
    g = cr.grad(lambda v: np.prod(v, where=MASK))(X)
    kept = np.where(MASK, X, 1.0)
    np.testing.assert_allclose(g, np.where(MASK, np.prod(kept) / kept, 0.0))


@pytest.mark.parametrize("name, call", [
    ("np.mean where", lambda v: np.mean(v, where=MASK)),
    ("np.mean where axis", lambda v: np.mean(v ** 2, axis=1, where=MASK)),
    ("np.mean where keepdims", lambda v: np.mean(v, axis=0, where=MASK, keepdims=True)),
    ("np.mean where broadcast", lambda v: np.mean(v, axis=1, where=np.array([True, False, True]))),
    ("cnp.mean where", lambda v: cnp.mean(cnp.sin(v), axis=(0, 1), where=MASK)),
    ("mean method where", lambda v: v.mean(axis=1, where=MASK)),
])
def test_mean_with_where(name, call):
    want = call(X)                                   # NumPy itself on a plain array
    np.testing.assert_allclose(cr.jvp(call, (X,), (np.ones_like(X),))[0], want, rtol=1e-15)
    J = cr.jacrev(call)(X)
    np.testing.assert_allclose(J, _fd_jacobian(call, X), atol=1e-7)
    np.testing.assert_allclose(cr.jacfwd(call)(X), J, atol=1e-15)


def test_mean_where_derivative_reaches_only_selected_entries():
    np.testing.assert_array_equal(cr.grad(lambda v: np.mean(v, where=MASK))(X), MASK / MASK.sum())
    # a traced mask (from the value itself) selects too; the count carries no derivative
    g = cr.grad(lambda v: np.mean(v * v, where=v > 0))(X)
    np.testing.assert_allclose(g, np.where(X > 0, 2 * X / np.sum(X > 0), 0.0))


def test_np_full_with_a_traced_fill_value_names_chainrule_numpy_full():
    with pytest.raises(TypeError, match=r"chainrule\.numpy\.full"):
        cr.grad(lambda a: np.sum(np.full((3,), a, dtype=float)))(2.0)
    with pytest.raises(TypeError, match=r"chainrule\.numpy\.full"):
        cr.grad(lambda a: np.sum(np.full_like(np.ones(3), a)))(2.0)
    assert cr.grad(lambda a: cnp.sum(cnp.full((3,), a)))(2.0) == 3.0


def test_max_of_empty_axis_with_initial():
    z = np.zeros((0, 2))
    np.testing.assert_array_equal(cr.jvp(lambda v: cnp.max(v, axis=0, initial=1.5), (z,), (z,))[0],
                                  np.max(z, axis=0, initial=1.5))


def test_reduction_arguments_that_cannot_be_honoured_are_refused():
    with pytest.raises(ValueError, match="needs initial="):
        cr.grad(lambda v: np.max(v, where=MASK))(X)
    with pytest.raises(TypeError, match=r"maximum\.reduce with arguments \[.*'dtype'\]"):
        cr.grad(lambda v: np.maximum.reduce(v, axis=None, dtype=np.float64))(X)
    with pytest.raises(TypeError, match=r"add\.accumulate with arguments \[.*'dtype'\]"):
        cr.grad(lambda v: np.sum(np.add.accumulate(v, dtype=np.float32)))(X)
    with pytest.raises(ValueError, match="does not broadcast"):
        cr.grad(lambda v: cnp.sum(v, where=np.ones((3, 2, 3), bool)))(X)


# ---------------------------------------------- 3. ufunc keyword arguments ---

def test_ufunc_call_with_default_keywords_is_differentiated():
    x = np.array([0.3, 1.2])
    g = cr.grad(lambda v: np.sum(np.sin(v, dtype=None, casting="same_kind", order="K", subok=True,
                                        where=True)))(x)
    np.testing.assert_allclose(g, np.cos(x))
    y, t = cr.jvp(lambda v: np.multiply(v, v, dtype=np.float32), (x,), (np.ones(2),))
    assert y.dtype == np.float32 and t.dtype == np.float32
    np.testing.assert_allclose(t, 2 * x, rtol=1e-6)


def test_ufunc_call_with_a_keyword_that_would_change_the_result_is_refused():
    x = np.array([0.3, -1.2])
    with pytest.raises(TypeError, match=r"numpy\.sin with arguments \['where'\]"):
        cr.grad(lambda v: np.sum(np.sin(v, where=v > 0)))(x)
    with pytest.raises(TypeError, match=r"numpy\.less with arguments \['dtype'\]"):
        cr.jvp(lambda v: np.less(v, 0.0, dtype=np.float64), (x,), (x,))


def test_scipy_special_ufuncs_dispatch_to_chainrule():
    sc = pytest.importorskip("scipy.special")
    import chainrule.scipy.special as cs
    x = np.array([0.2, 0.6, 0.9])
    np.testing.assert_allclose(cr.grad(lambda v: np.sum(sc.erf(v)))(x), 2 / np.sqrt(np.pi) * np.exp(-x * x))
    np.testing.assert_allclose(cr.grad(lambda v: np.sum(sc.expit(v)))(x), sc.expit(x) * (1 - sc.expit(x)))
    np.testing.assert_allclose(cr.grad(lambda v: np.sum(sc.gammaln(v)))(x), sc.digamma(x))
    np.testing.assert_allclose(cr.grad(lambda v: np.sum(sc.logit(v)))(x), 1 / (x * (1 - x)))
    np.testing.assert_allclose(cr.grad(lambda v: np.sum(sc.xlogy(v, 2.0)))(x), np.log(2.0) * np.ones(3))
    for name in ["erfc", "ndtr", "log_ndtr", "digamma", "gamma", "erfinv"]:
        got = cr.grad(lambda v: np.sum(getattr(sc, name)(v)))(x)
        np.testing.assert_allclose(got, cr.grad(lambda v: cnp.sum(getattr(cs, name)(v)))(x), rtol=1e-14)
        np.testing.assert_allclose(got, np.diag(_fd_jacobian(getattr(sc, name), x)), rtol=1e-6)
    with pytest.raises(TypeError, match=r"scipy\.special\.j0"):
        cr.grad(lambda v: np.sum(sc.j0(v)))(x)


def test_log_ndtr_matches_scipy_in_both_tails():
    sc = pytest.importorskip("scipy.special")
    import chainrule.scipy.special as cs
    x = np.concatenate([np.linspace(-60, 12, 361), [-20.0, -20.000001, -19.999999, 0.0, 38.0]])
    np.testing.assert_allclose(cs.log_ndtr(x), sc.log_ndtr(x), rtol=2e-15, atol=1e-300)
    g = cr.vmap(cr.grad(cs.log_ndtr))(x)
    pdf_over_cdf = np.exp(-0.5 * x * x - 0.5 * np.log(2 * np.pi) - sc.log_ndtr(x))
    np.testing.assert_allclose(g, pdf_over_cdf, rtol=1e-12)


# ---------------------------------------------------- 3. reshape order='F' ---

A24 = np.arange(24.0).reshape(2, 3, 4)


@pytest.mark.parametrize("shape", [(4, 6), (6, -1), (24,), (2, 2, 2, 3)])
@pytest.mark.parametrize("how", ["method", "cnp", "np"])
def test_reshape_fortran_order_values_and_derivatives(shape, how):
    f = {"method": lambda v: v.reshape(shape, order="F"),
         "cnp": lambda v: cnp.reshape(v, shape, order="F"),
         "np": lambda v: np.reshape(v, shape, order="F")}[how]
    want = A24.reshape(shape, order="F")
    y, t = cr.jvp(f, (A24,), (A24 + 1.0,))
    np.testing.assert_array_equal(y, want)
    np.testing.assert_array_equal(t, (A24 + 1.0).reshape(shape, order="F"))
    w = RNG.standard_normal(want.shape)
    g = cr.grad(lambda v: cnp.sum(f(v) * w))(A24)
    np.testing.assert_array_equal(g, w.reshape(A24.shape, order="F"))


def test_reshape_order_a_and_bad_order():
    af = np.asfortranarray(A24)
    np.testing.assert_array_equal(cnp.reshape(af, (4, 6), order="A"), np.reshape(af, (4, 6), order="A"))
    np.testing.assert_array_equal(cr.jvp(lambda v: v.reshape(4, 6, order="A"), (A24,), (A24,))[1],
                                  A24.reshape(4, 6))
    np.testing.assert_array_equal(cr.jvp(lambda v: np.ravel(v, order="F"), (A24,), (A24,))[1],
                                  A24.ravel(order="F"))
    with pytest.raises(ValueError, match="order must be"):
        cr.jvp(lambda v: v.reshape(24, order="X"), (A24,), (A24,))


# ------------------------------------------------- 3. full with traced fill ---

def test_full_and_full_like_carry_the_fill_values_derivative():
    assert cr.grad(lambda a: cnp.sum(cnp.full(3, a)))(2.0) == 3.0
    assert cr.grad(lambda a: cnp.sum(cnp.full_like(np.ones((2, 3)), a)))(2.0) == 6.0
    assert cr.grad(lambda a: np.sum(np.full_like(a * np.ones(4), a)))(2.0) == 4.0
    assert cr.grad(lambda a: cnp.sum(cnp.full((2, 3), a * np.arange(3.0))))(2.0) == 6.0
    # a cast to an integer result stops the derivative, as the cast does
    assert cr.grad(lambda a: cnp.sum(cnp.full_like(np.ones(3, int), a) * 1.0))(2.0) == 0.0
    np.testing.assert_array_equal(cnp.full((2, 2), 3.0), np.full((2, 2), 3.0))


# ------------------------------------------------------- 3. hypot at 0 -------

def test_hypot_at_the_origin_has_zero_derivative_not_nan():
    # convention (like abs'(0) = 0): the gradient at the origin is 0, a subgradient of |(x, y)|,
    # and it stays 0 at every order
    g = cr.grad(lambda x, y: cnp.hypot(x, y), argnums=(0, 1))(0.0, 0.0)
    assert g == (0.0, 0.0)
    f = lambda v: cnp.hypot(v[0], v[1])
    np.testing.assert_array_equal(cr.grad(f)(np.zeros(2)), [0.0, 0.0])
    np.testing.assert_array_equal(cr.jacfwd(lambda v: cnp.hypot(v, 2 * v))(np.zeros(2)), np.zeros((2, 2)))
    np.testing.assert_array_equal(cr.hessian(f)(np.zeros(2)), np.zeros((2, 2)))
    np.testing.assert_array_equal(cr.derivative(lambda t: cnp.hypot(t, 2 * t), 1)(np.array([0.0, 1.0])),
                                  [0.0, math.sqrt(5.0)])
    # away from the origin: x / r and the Hessian (y^2, -xy; -xy, x^2) / r^3
    np.testing.assert_allclose(cr.grad(f)(np.array([3.0, 4.0])), [0.6, 0.8])
    np.testing.assert_allclose(cr.hessian(f)(np.array([3.0, 4.0])), np.array([[16, -12], [-12, 9]]) / 125)


# --------------------------------------------- 8. casts stop the derivative ---

def test_casts_to_integer_or_bool_stop_the_derivative():
    x = np.array([0.5, 1.5, 2.5])
    np.testing.assert_array_equal(cr.grad(lambda v: cnp.sum(v.astype(int) * 1.0))(x), [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(cr.grad(lambda v: cnp.sum(cnp.astype(v, bool) * v))(x), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(cr.jit(cr.grad(lambda v: cnp.sum(v.astype(np.int32) * v)))(x), [0.0, 1.0, 2.0])
    _, t = cr.jvp(lambda v: v.astype(np.uint8) * 1.0 + v, (x,), (np.ones(3),))
    np.testing.assert_array_equal(t, np.ones(3))
    np.testing.assert_array_equal(cr.derivative(lambda v: v.astype(int) * v, 1)(x), [0.0, 1.0, 2.0])
    # float <-> complex casts keep it
    np.testing.assert_array_equal(cr.grad(lambda v: cnp.sum(cnp.real(v.astype(complex))))(x), np.ones(3))
    assert cr.grad(lambda v: cnp.sum(v.astype(np.float32)).astype(float))(x).dtype == np.float64


# ----------------------------------------------------------------- 8. pad ---

PAD_MODES = ["constant", "edge", "wrap", "reflect", "symmetric", "mean", "maximum", "minimum",
             "median", "linear_ramp"]
PAD_EXTRA = {"mean": dict(stat_length=((1, 3), (2, 1))), "maximum": dict(stat_length=2),
             "median": dict(stat_length=((2, 3), (1, 4))), "linear_ramp": dict(end_values=(1.5, -2.0)),
             "constant": dict(constant_values=((1.0, 2.0), (3.0, 4.0)))}


@pytest.mark.parametrize("mode", PAD_MODES)
@pytest.mark.parametrize("width", [2, ((1, 2), (3, 0)), ((0, 0), (5, 1))])
@pytest.mark.parametrize("extra", [False, True])
def test_pad_values_and_derivatives_match_numpy(mode, width, extra):
    kw = PAD_EXTRA.get(mode, {}) if extra else {}
    a = RNG.standard_normal((3, 4))
    f = lambda v: cnp.pad(v, width, mode=mode, **kw)
    np.testing.assert_array_equal(cnp.pad(a, width, mode=mode, **kw), np.pad(a, width, mode=mode, **kw))
    y, _ = cr.jvp(f, (a,), (np.ones_like(a),))                        # the traced composition
    np.testing.assert_allclose(y, np.pad(a, width, mode=mode, **kw), rtol=1e-14, atol=1e-15)
    J = cr.jacrev(f)(a)
    np.testing.assert_allclose(J, _fd_jacobian(lambda v: np.pad(v, width, mode=mode, **kw), a), atol=1e-7)
    np.testing.assert_allclose(cr.jacfwd(f)(a), J, atol=1e-15)


@pytest.mark.parametrize("mode", ["mean", "median", "linear_ramp", "maximum", "minimum"])
def test_pad_of_integers_under_jit_rounds_as_numpy(mode):
    ai = np.arange(12).reshape(3, 4) * 3 + np.array([0, 1, 5, 2])
    got = cr.jit(lambda v: cnp.pad(v, ((3, 1), (2, 2)), mode=mode))(ai)
    assert got.dtype == ai.dtype
    np.testing.assert_array_equal(got, np.pad(ai, ((3, 1), (2, 2)), mode=mode))


def test_pad_of_0d_and_traced_fill_values():
    np.testing.assert_array_equal(cnp.pad(np.array(3.0), 2), np.pad(np.array(3.0), 2))
    assert cr.grad(lambda v: cnp.sum(cnp.pad(v, 2, mode="mean")))(3.0) == 1.0
    assert cr.grad(lambda c: cnp.sum(cnp.pad(np.ones(3), 1, constant_values=c)))(2.0) == 2.0
    assert cr.grad(lambda c: cnp.sum(cnp.pad(np.ones(3), 1, mode="linear_ramp", end_values=c)))(2.0) == 2.0
    x32 = np.ones(3, np.float32)
    assert cr.jvp(lambda v: cnp.pad(v, 1, constant_values=2.0), (x32,), (x32,))[1].dtype == np.float32


def test_pad_with_negative_zero_pads_negative_zero():
    x = np.array([-0.5, 0.5])
    want = np.pad(x, 1, constant_values=-0.0)
    np.testing.assert_array_equal(np.signbit(cr.jit(lambda v: cnp.pad(v, 1, constant_values=-0.0))(x)),
                                  np.signbit(want))
    np.testing.assert_array_equal(
        np.signbit(cr.jit(lambda v: cnp.pad(v, ((0, 2),), constant_values=((0.0, -0.0),)))(x)),
        np.signbit(np.pad(x, ((0, 2),), constant_values=((0.0, -0.0),))))
    np.testing.assert_array_equal(cr.grad(lambda v: cnp.sum(cnp.pad(v, 1, constant_values=-0.0) ** 2))(x), 2 * x)


def test_pad_refuses_what_it_cannot_trace():
    x = np.ones(3)
    with pytest.raises(NotImplementedError, match="reflect_type='odd'"):
        cr.grad(lambda v: cnp.sum(cnp.pad(v, 1, mode="reflect", reflect_type="odd")))(x)
    with pytest.raises(ValueError, match="not supported"):
        cr.grad(lambda v: cnp.sum(cnp.pad(v, 1, mode=lambda *a: None)))(x)
    with pytest.raises(TypeError, match="integral type"):
        cr.grad(lambda v: cnp.sum(cnp.pad(v, 1.5)))(x)
    with pytest.raises(ValueError, match="unsupported keyword arguments"):
        cr.grad(lambda v: cnp.sum(cnp.pad(v, 1, mode="edge", stat_length=1)))(x)


# ---------------------------------------------------------------- 8. roll ---

@pytest.mark.parametrize("shift, axis", [(-1, (0, 1)), ((1, 2), 0), ((1, -2), (1, 0)), (5, None),
                                         ((1, 2), None), (3, -1), ((2, 2), (1, 1))])
@pytest.mark.parametrize("fn", [cnp.roll, np.roll])
def test_roll_with_tuples_matches_numpy(shift, axis, fn):
    r = np.arange(12.0).reshape(3, 4)
    y, t = cr.jvp(lambda v: fn(v, shift, axis=axis), (r,), (r * 2,))
    np.testing.assert_array_equal(y, np.roll(r, shift, axis=axis))
    np.testing.assert_array_equal(t, np.roll(r * 2, shift, axis=axis))
    w = RNG.standard_normal(r.shape)
    g = cr.grad(lambda v: cnp.sum(fn(v, shift, axis=axis) * w))(r)
    np.testing.assert_array_equal(g, np.roll(w, np.negative(shift), axis=axis))


# ---------------------------------------------------------------- 8. sinc ---

def _sinc_derivative_mp(x, n):
    mp = pytest.importorskip("mpmath")
    with mp.workdps(60):
        f = lambda t: mp.sin(mp.pi * t) / (mp.pi * t) if t != 0 else mp.mpf(1)
        if x == 0:      # the Taylor coefficient of the series: (-1)^(n/2) pi^n / (n + 1)
            return 0.0 if n % 2 else float((-1) ** (n // 2) * mp.pi ** n / (n + 1))
        return float(mp.diff(f, mp.mpf(x), n))


def test_sinc_high_order_derivatives_are_exact():
    assert cr.derivative(cnp.sinc, order=18)(0.0) == pytest.approx(-math.pi ** 18 / 19, rel=1e-14)
    assert cr.derivative(cnp.sinc, order=12)(0.05) == pytest.approx(_sinc_derivative_mp(0.05, 12), rel=1e-12)
    for n in (1, 2, 3, 5, 8, 13):
        for x in (0.0, 0.07, 0.31, 1.0, 2.4, -5.5):
            want = _sinc_derivative_mp(x, n)
            got = cr.derivative(cnp.sinc, order=n)(x)
            assert got == pytest.approx(want, rel=1e-11, abs=1e-12 * math.pi ** n), (n, x)


def test_sinc_values_and_modes_agree():
    x = np.array([0.0, 1e-9, 0.05, 0.5, 1.0, 3.7, -12.25])
    np.testing.assert_array_equal(cnp.sinc(x), np.sinc(x))
    assert cnp.sinc(0.0) == 1.0 and cnp.sinc(np.float32(0.5)).dtype == np.float32
    with np.errstate(invalid="ignore", divide="ignore"):
        closed = np.where(np.abs(x) < 1e-6, -np.pi ** 2 / 3 * x, (np.cos(np.pi * x) - np.sinc(x)) / x)
    np.testing.assert_allclose(cr.vmap(cr.grad(cnp.sinc))(x), closed, rtol=1e-6, atol=1e-9)
    d2 = cr.vmap(cr.grad(cr.grad(cnp.sinc)))(x)
    np.testing.assert_allclose(cr.derivative(cnp.sinc, order=2)(x), d2, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(cr.jit(cr.grad(cnp.sinc))(0.3), cr.grad(cnp.sinc)(0.3), rtol=1e-15)
    np.testing.assert_allclose(cr.grad(lambda v: np.sum(np.sinc(v)))(x), cr.vmap(cr.grad(cnp.sinc))(x))


# ---------------------------------------------- 8. Taylor at singular points ---

def test_taylor_mode_at_singular_points_matches_first_order_modes():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        np.testing.assert_array_equal(cr.derivative(lambda v: v ** 1.5, 1)(np.array([0.0, 1.0])), [0.0, 1.5])
        assert cr.derivative(lambda v: v ** 1.5, 1)(0.0) == 0.0
        assert cr.grad(lambda v: v ** 1.5)(0.0) == 0.0
        assert cr.derivative(lambda v: v ** 1.5, 2)(0.0) == math.inf           # 0.75 / sqrt(0)
        assert cr.derivative(lambda v: v ** 1.5, 3)(0.0) == -math.inf
        np.testing.assert_allclose(cr.derivative(lambda v: v ** 1.5, 2)(np.array([0.0, 4.0])), [np.inf, 0.375])
        assert cr.derivative(lambda v: v ** 2.5, 2)(0.0) == 0.0
        for f in (cnp.sqrt, lambda t: t ** 0.5, cnp.log, cnp.cbrt, lambda t: t ** (1 / 3)):
            d = cr.derivative(f, 1)(0.0)                 # was ZeroDivisionError (cbrt: nan)
            assert d == math.inf and cr.grad(f)(0.0) == math.inf
        assert cr.derivative(cnp.log, 2)(0.0) == -math.inf
        assert cr.derivative(cnp.sqrt, 2)(np.array([0.0, 4.0]))[0] == -math.inf
        assert cr.derivative(lambda t: 1.0 / t, 1)(0.0) == -math.inf == cr.grad(lambda t: 1.0 / t)(0.0)
        np.testing.assert_allclose(cr.derivative(cnp.cbrt, 2)(np.array([-8.0, 8.0])), [1 / 144, -1 / 144])
    # away from 0 the recurrences are unchanged
    x = np.array([0.5, 2.0])
    np.testing.assert_allclose(cr.derivative(lambda v: v ** 1.5, 3)(x), 1.5 * 0.5 * -0.5 * x ** -1.5)


# -------------------------------------------------------------- 8. float32 ---

@pytest.mark.parametrize("f", [cnp.linalg.norm, cnp.max, lambda v: cnp.min(v, axis=0),
                               lambda v: cnp.linalg.norm(v, np.inf), lambda v: cnp.linalg.norm(v.ravel(), 0),
                               lambda v: cnp.linalg.norm(v, axis=1), lambda v: cnp.maximum(v, 0.7),
                               lambda v: cnp.where(v > 0, v, 0.0), cnp.sinc, lambda v: cnp.hypot(v, v)],
                         ids=["norm", "max", "min", "norm_inf", "norm0", "norm_axis", "maximum", "where",
                              "sinc", "hypot"])
def test_float32_primals_tangents_and_cotangents(f):
    x32 = np.array([[1.0, -2.0], [3.0, 0.5]], np.float32)
    want = np.asarray(f(x32)).dtype
    assert want == np.float32
    y, t = cr.jvp(f, (x32,), (np.ones_like(x32),))
    assert np.asarray(y).dtype == want and np.asarray(t).dtype == want
    out, pull = cr.vjp(f, x32)
    (g,) = pull(np.ones(np.shape(out), np.float32))                  # a float32 cotangent is accepted
    assert g.dtype == np.float32


# ------------------------------------------------------ 8. prod and det ------

def test_grad_of_prod_of_empty_arrays():
    g = cr.grad(cnp.prod)(np.zeros(0))
    assert g.shape == (0,) and g.dtype == np.float64
    g = cr.grad(lambda v: cnp.sum(cnp.prod(v, axis=1)))(np.zeros((3, 0)))
    assert g.shape == (3, 0)
    np.testing.assert_array_equal(cr.jacfwd(lambda v: cnp.prod(v, axis=0))(np.zeros((0, 2))), np.zeros((2, 0, 2)))


def _cofactor_3x3(a):
    """The cofactor matrix (the adjugate's transpose) by its 2x2 minors."""
    c = np.empty((3, 3))
    for i in range(3):
        for j in range(3):
            m = np.delete(np.delete(a, i, 0), j, 1)
            c[i, j] = (-1) ** (i + j) * (m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0])
    return c


SINGULAR = [np.array([[1.0, 2, 3], [2, 4, 6], [1, 0, 1]]),       # rank 2
            np.array([[1.0, 2, 3], [2, 4, 6], [3, 6, 9]]),       # rank 1: cofactor 0
            np.array([[1.0, 2, 3], [4, 5, 6], [7, 8, 9]]),       # det rounds to 0 or nearly
            np.zeros((3, 3))]


@pytest.mark.parametrize("a", SINGULAR, ids=["rank2", "rank1", "1to9", "zero"])
def test_grad_of_det_of_a_singular_matrix_is_the_cofactor_matrix(a):
    want = _cofactor_3x3(a)
    np.testing.assert_allclose(cr.grad(cnp.linalg.det)(a), want, atol=1e-13)
    np.testing.assert_allclose(cr.jacfwd(cnp.linalg.det)(a), want, atol=1e-13)
    np.testing.assert_allclose(cr.grad(np.linalg.det)(a), want, atol=1e-13)


def test_det_derivatives_at_a_singular_matrix_in_every_mode():
    a, b = SINGULAR[0], np.arange(9.0).reshape(3, 3) / 7 + np.eye(3)
    stack = np.stack([a, b, SINGULAR[1]])
    np.testing.assert_allclose(cr.vmap(cr.grad(cnp.linalg.det))(stack),
                               np.stack([_cofactor_3x3(m) for m in stack]), atol=1e-12)
    np.testing.assert_allclose(cr.jit(cr.grad(cnp.linalg.det))(a), _cofactor_3x3(a), atol=1e-13)
    H = cr.hessian(cnp.linalg.det)(a)
    Hfd = _fd_jacobian(cr.grad(cnp.linalg.det), a)
    np.testing.assert_allclose(H, Hfd, atol=1e-7)
    # det(a + t b) is a cubic in t: its derivatives at t = 0, by Taylor mode and nested grad
    ts = np.linspace(-1.0, 1.0, 9)
    c = np.polynomial.polynomial.polyfit(ts, [np.linalg.det(a + t * b) for t in ts], 3)
    exact = [c[1], 2 * c[2], 6 * c[3], 0.0]
    line = lambda t: cnp.linalg.det(a + t * b)
    for order in range(1, 5):
        assert cr.derivative(line, order)(0.0) == pytest.approx(exact[order - 1], abs=1e-10)
    assert cr.grad(cr.grad(cr.grad(line)))(0.0) == pytest.approx(exact[2], abs=1e-10)
    # complex: the holomorphic derivative sum_ij C_ij dA_ij with C from the 2x2 minors
    u = RNG.standard_normal((3, 2)) + 1j * RNG.standard_normal((3, 2))
    ac = np.array([[1, 2j, 3], [2, 4j, 6], [1, 0, 1j]]), u @ (u.T * (1 + 1j))     # rank 2
    for m in ac:
        t = RNG.standard_normal((3, 3)) + 1j * RNG.standard_normal((3, 3))
        c = np.array([[(-1) ** (i + j) * np.linalg.det(np.delete(np.delete(m, i, 0), j, 1)) for j in range(3)]
                      for i in range(3)])
        assert cr.jvp(cnp.linalg.det, (m,), (t,))[1] == pytest.approx(np.sum(c * t), abs=1e-12)
    # nonsingular matrices keep det(a) inv(a)^T
    np.testing.assert_allclose(cr.grad(cnp.linalg.det)(b), np.linalg.det(b) * np.linalg.inv(b).T, rtol=1e-13)


def test_python_int_powers_are_exact_under_tracing_and_jit():
    f = cr.jit(lambda n: n ** 40)
    assert f(3) == 3 ** 40 and f(3) == 3 ** 40          # staged call and compiled call
    assert cr.jit(lambda n: n ** 3)(2) == 8
    assert cr.grad(lambda x, n: x ** n)(2.0, 3) == pytest.approx(12.0)


# ------------------------------------------ NumPy's positional argument order --

_POSITIONAL = [
    ("sum", lambda x: np.sum(x, 0, None, None, True), lambda x: x.sum(0, None, None, True)),
    ("mean", lambda x: np.mean(x, 1, None, None, True), lambda x: x.mean(1, None, None, True)),
    ("var", lambda x: np.var(x, 0, None, None, 1), lambda x: x.var(0, None, None, 1)),
    ("std", lambda x: np.std(x, 1, None, None, 1, True), lambda x: x.std(1, None, None, 1, True)),
    ("prod", lambda x: np.prod(x, 1, None, None, True), lambda x: x.prod(1, None, None, True)),
    ("max", lambda x: np.max(x, 0, None, True), lambda x: x.max(0, None, True)),
    ("min", lambda x: np.min(x, 1, None, True), lambda x: x.min(1, None, True)),
]


@pytest.mark.parametrize("name,fn,method", _POSITIONAL, ids=[c[0] for c in _POSITIONAL])
def test_numpy_positional_argument_order_is_honoured(name, fn, method):
    # np.sum(x, axis, dtype, out, keepdims): a dtype or keepdims given by position must not be
    # read as another argument (a silently wrong shape or ddof)
    x = np.arange(1.0, 7.0).reshape(2, 3)
    for f in (fn, method):
        want = f(x)
        got = cr.jit(f)(x)
        assert np.shape(got) == np.shape(want)
        np.testing.assert_allclose(got, want, rtol=1e-13)
        np.testing.assert_allclose(cr.jacfwd(f)(x), cr.jacrev(f)(x), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(cr.jacrev(f)(x), cr.fd.jacobian(f, x), rtol=1e-6, atol=1e-8)


def test_numpy_out_argument_is_refused_by_position_and_keyword():
    x = np.ones(3)
    with pytest.raises(TypeError, match="out="):
        cr.grad(lambda x: np.sum(x, 0, None, np.empty(())))(x)
    with pytest.raises(TypeError, match="out="):
        cr.grad(lambda x: x.sum(out=np.empty(())))(x)


def test_sinc_derivatives_at_nan_and_inf_are_nan_like_numpy():
    x = np.array([np.nan, np.inf, -np.inf, 0.5])
    with np.errstate(invalid="ignore"):
        want_value = np.sinc(x)
    g = cr.vmap(cr.grad(cnp.sinc))(x)
    assert np.isnan(g[:3]).all() and np.isnan(want_value[:2]).all()
    # away from them the derivative is the closed form (pi x cos(pi x) - sin(pi x)) / (pi x^2)
    np.testing.assert_allclose(g[3], (np.pi * 0.5 * np.cos(np.pi * 0.5) - np.sin(np.pi * 0.5)) / (np.pi * 0.25),
                               rtol=1e-13)
    assert np.isnan(cr.grad(cnp.sinc)(float("nan")))


def test_fmax_fmin_ignore_nan_in_value_and_derivative():
    # np.fmax / np.fmin dispatch to the fmax/fmin primitives (a new primitive: one block)
    x = np.array([1.0, 2.0, 3.0])
    y = np.array([np.nan, 5.0, 0.5])
    for fn, npfn in ((np.fmax, np.fmax), (np.fmin, np.fmin)):
        np.testing.assert_array_equal(cr.jit(lambda a: fn(a, y))(x), npfn(x, y))
        J = cr.jacfwd(lambda a: fn(a, y))(x)
        want = np.diag((npfn(x, y) == x).astype(float))          # x's share where it is chosen
        np.testing.assert_array_equal(J, want)
        np.testing.assert_array_equal(cr.jacrev(lambda a: fn(a, y))(x), want)
        np.testing.assert_array_equal(cr.jit(cr.jacrev(lambda a: fn(a, y)))(x), want)
    assert cr.grad(lambda a: np.fmax(a, np.nan))(2.0) == 1.0
    assert cr.derivative(lambda a: np.fmin(a * a, 10.0), order=2)(1.5) == pytest.approx(2.0)
