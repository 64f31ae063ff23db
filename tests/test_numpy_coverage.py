"""diff, append, trapezoid, cross, nan_to_num, interp, convolve and correlate: NumPy's values
(plain arrays, and plain `np.<name>` code on traced values), and derivatives that agree across
jacfwd, jacrev, jit, vmap, jet and finite differences."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp

from helpers import check_numpy_derivatives, check_numpy_values, compiled

RNG = np.random.default_rng(7)
V5 = RNG.standard_normal(5)
M45 = RNG.standard_normal((4, 5))
XP = np.array([-1.5, -0.4, 0.3, 0.9, 2.0])
FP = RNG.standard_normal(5)
XI = np.array([-2.3, -1.0, -0.1, 0.5, 1.3, 1.95, 2.7])   # off the knots; two outside the range


def _conv_case(fn, n, m, mode):
    return (f"{fn}-{n}x{m}-{mode}", lambda x: getattr(np, fn)(x[:n], x[n:], mode),
            RNG.standard_normal(n + m))


# (id, function written with plain NumPy, argument): NumPy evaluates it on plain arrays; on
# traced values np.<name> dispatches to chainrule.numpy.<name>
CASES = [
    ("diff", lambda x: np.diff(x), V5),
    ("diff-n2-axis0", lambda x: np.diff(x, 2, axis=0), M45),
    ("diff-n3-axis1", lambda x: np.diff(x, n=3, axis=-1), M45),
    ("diff-prepend-append", lambda x: np.diff(x, prepend=x[:1] ** 2, append=3.0), V5),
    ("diff-2d-prepend-scalar", lambda x: np.diff(x, axis=0, prepend=0.5, append=x[:1]), M45),
    ("append-flat", lambda x: np.append(x, x[:2] ** 2), M45),
    ("append-axis0", lambda x: np.append(x, x[:1] * 3, axis=0), M45),
    ("append-axis1", lambda x: np.append(x, np.ones((4, 2)), axis=1), M45),
    ("trapezoid", lambda x: np.trapezoid(x ** 2), V5),
    ("trapezoid-dx-axis0", lambda x: np.trapezoid(x, dx=0.3, axis=0), M45),
    ("trapezoid-x-traced", lambda x: np.trapezoid(x[0], np.cumsum(np.exp(x[1]))), RNG.standard_normal((2, 5))),
    ("trapezoid-x-2d", lambda x: np.trapezoid(x, np.cumsum(np.exp(x), axis=0), axis=0), M45),
    ("cross", lambda x: np.cross(x[:3], x[3:]), RNG.standard_normal(6)),
    ("cross-batch", lambda x: np.cross(x[:, :3], x[:, 3:]), RNG.standard_normal((4, 6))),
    ("cross-axis0", lambda x: np.cross(x[:3], x[3:], axis=0), RNG.standard_normal((6, 2))),
    ("cross-axisc", lambda x: np.cross(x[:, :3], x[:, 3:], axisc=0), RNG.standard_normal((4, 6))),
    ("cross-const", lambda x: np.cross(x, np.array([0.2, -1.0, 0.5])), RNG.standard_normal((2, 3))),
    ("nan_to_num", lambda x: np.nan_to_num(x * 2.0), V5),
    ("nan_to_num-kw", lambda x: np.nan_to_num(x, nan=1.5, posinf=9.0, neginf=-9.0) * x, M45),
    ("interp-x", lambda x: np.interp(x, XP, FP), XI),
    ("interp-x-2d", lambda x: np.interp(x, XP, FP), XI[:6].reshape(2, 3)),
    ("interp-fp", lambda f: np.interp(XI, XP, f), FP),
    ("interp-fp-left-right", lambda f: np.interp(XI, XP, f, left=f[2] ** 2, right=-1.0), FP),
    ("interp-xp", lambda p: np.interp(XI, p, FP), XP),
    ("interp-all", lambda z: np.interp(z[:3], np.cumsum(np.exp(z[3:8])) - 2.0, z[8:]),
     np.concatenate([[-0.7, 0.1, 2.4], 0.3 * RNG.standard_normal(5), RNG.standard_normal(5)])),
] + [_conv_case(fn, n, m, mode) for fn in ("convolve", "correlate")
     for n, m in ((5, 3), (3, 5), (4, 4), (1, 3), (6, 2)) for mode in ("full", "same", "valid")]
IDS = [c[0] for c in CASES]




@pytest.mark.parametrize("name,f,x", CASES, ids=IDS)
def test_values(name, f, x):
    check_numpy_values(f, x)                         # np.<name> on traced values vs NumPy




@pytest.mark.parametrize("name,f,x", CASES, ids=IDS)
def test_derivatives(name, f, x):
    check_numpy_derivatives(f, x)


@pytest.mark.parametrize("name,f,x", CASES, ids=IDS)
def test_vmap(name, f, x):
    batch = np.stack([x + 0.01 * k * RNG.standard_normal(x.shape) for k in range(3)])
    if name.startswith("interp-xp"):
        batch = np.stack([x + 0.01 * k for k in range(3)])       # keep xp increasing
    expected = np.stack([f(b) for b in batch])
    np.testing.assert_allclose(cr.vmap(f)(batch), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(compiled(cr.jit(cr.vmap(f)), batch), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name,f,x", CASES[::3], ids=IDS[::3])
def test_jet_first_order(name, f, x):
    v = RNG.standard_normal(x.shape)
    y, (y1, y2) = cr.jet(f, (x,), ((v, np.zeros_like(v)),))
    np.testing.assert_allclose(y, f(x), rtol=1e-12, atol=1e-12)
    _, t = cr.jvp(f, (x,), (v,))
    np.testing.assert_allclose(y1, t, rtol=1e-10, atol=1e-12)


# --------------------------------------------------- namespace on plain arrays ---
@pytest.mark.parametrize("name,f,x", CASES, ids=IDS)
def test_namespace_matches_numpy(name, f, x):
    """The same code with chainrule.numpy's functions on plain arrays gives NumPy's result."""
    import types
    fake = types.SimpleNamespace(**{k: getattr(cnp, k) if hasattr(cnp, k) else getattr(np, k)
                                    for k in dir(np) if not k.startswith("_")})
    g = types.FunctionType(f.__code__, {**f.__globals__, "np": fake}, closure=f.__closure__)
    got = g(x)
    assert not isinstance(got, cr.core.Tracer)
    np.testing.assert_allclose(got, f(x), rtol=1e-12, atol=1e-12)
    assert np.shape(got) == np.shape(f(x))


def test_nan_to_num_replaced_entries():
    x = np.array([1.0, np.nan, np.inf, -np.inf, -2.0, 1e308])
    for kw in ({}, {"nan": 3.0, "posinf": 7.0, "neginf": -7.0}):
        np.testing.assert_array_equal(cnp.nan_to_num(x, **kw), np.nan_to_num(x, **kw))
        np.testing.assert_array_equal(cr.jit(lambda x: np.nan_to_num(x, **kw))(x), np.nan_to_num(x, **kw))
        expected = np.diag([1.0, 0.0, 0.0, 0.0, 1.0, 1.0])
        np.testing.assert_array_equal(cr.jacfwd(lambda x: np.nan_to_num(x, **kw))(x), expected)
        np.testing.assert_array_equal(cr.jacrev(lambda x: np.nan_to_num(x, **kw))(x), expected)
        np.testing.assert_array_equal(cr.grad(lambda x: np.sum(np.nan_to_num(x, **kw)))(x), np.diag(expected))
    i = np.arange(4)
    np.testing.assert_array_equal(cnp.nan_to_num(i), np.nan_to_num(i))
    c = np.array([1 + np.nan * 1j, np.inf + 2j])
    np.testing.assert_array_equal(cnp.nan_to_num(c), np.nan_to_num(c))


def test_interp_edges():
    x = np.array([-1.5, 2.0, -5.0, 5.0, 0.3])          # at the end knots and outside
    for kw in ({}, {"left": -3.0, "right": 4.0}):
        np.testing.assert_allclose(cnp.interp(x, XP, FP, **kw), np.interp(x, XP, FP, **kw))
        np.testing.assert_allclose(cr.jit(lambda x: np.interp(x, XP, FP, **kw))(x), np.interp(x, XP, FP, **kw))
    assert np.ndim(cnp.interp(0.25, XP, FP)) == 0
    np.testing.assert_allclose(cnp.interp(0.25, XP, FP), np.interp(0.25, XP, FP))
    np.testing.assert_allclose(cnp.interp([0.0, 1.0, 2.0], [1.0], [5.0], left=-1.0),
                               np.interp([0.0, 1.0, 2.0], [1.0], [5.0], left=-1.0))
    with pytest.raises(TypeError, match="period"):
        cnp.interp(x, XP, FP, period=2.0)
    with pytest.raises(TypeError, match="period"):
        cr.grad(lambda x: np.sum(np.interp(x, XP, FP, period=2.0)))(x)


def test_cross_2d_vectors_follow_numpy():
    a, b = RNG.standard_normal((4, 2)), RNG.standard_normal((4, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for u, w in ((a, a[::-1]), (a, b), (b, a)):
            np.testing.assert_allclose(cnp.cross(u, w), np.cross(u, w))
            np.testing.assert_allclose(cr.jit(lambda u: np.cross(u, w))(u), np.cross(u, w))
            j = cr.jacfwd(lambda u: np.cross(u, w))(u)
            np.testing.assert_allclose(j, cr.jacrev(lambda u: np.cross(u, w))(u))
    with pytest.warns(DeprecationWarning):
        cnp.cross(a, a)
    with pytest.raises(ValueError, match="incompatible dimensions"):
        cnp.cross(np.ones(4), np.ones(3))


def test_convolve_errors_and_dtypes():
    with pytest.raises(ValueError):
        cnp.convolve(np.ones(3), np.ones(2), mode="nope")
    with pytest.raises(ValueError):
        cnp.convolve(np.ones(0), np.ones(2))
    for a, v in (([1, 2, 3], [0, 1, 1]), (np.arange(4.0) + 1j, np.array([1.0, 2j]))):
        for mode in ("full", "same", "valid"):
            np.testing.assert_allclose(cnp.convolve(a, v, mode), np.convolve(a, v, mode))
            np.testing.assert_allclose(cnp.correlate(a, v, mode), np.correlate(a, v, mode))
    assert cnp.convolve([1, 2, 3], [0, 1, 1]).dtype == np.convolve([1, 2, 3], [0, 1, 1]).dtype


def test_append_diff_misc():
    np.testing.assert_array_equal(cnp.append([1, 2], [[3, 4]]), np.append([1, 2], [[3, 4]]))
    b = np.array([True, False, False, True])
    np.testing.assert_array_equal(cnp.diff(b), np.diff(b))
    np.testing.assert_array_equal(cnp.diff(M45, 0), np.diff(M45, 0))
    with pytest.raises(ValueError):
        cnp.diff(M45, -1)


def test_trapz_only_where_numpy_has_it():
    assert hasattr(cnp, "trapz") == hasattr(np, "trapz")
