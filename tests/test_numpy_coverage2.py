"""nan-reductions, median/percentile/quantile, cov/corrcoef, polyval, rot90, h/v/dsplit, fabs,
select, isclose, searchsorted, nanmedian/nanquantile/nanpercentile, gradient, block, copysign,
ldexp, resize and i0: NumPy's values (plain arrays, and plain `np.<name>` code on
traced values), and derivatives that agree across jacfwd, jacrev, jit and finite differences."""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp

from helpers import check_numpy_derivatives, check_numpy_values, compiled

RNG = np.random.default_rng(11)
V7 = RNG.standard_normal(7)
M45 = RNG.standard_normal((4, 5))
T234 = RNG.standard_normal((2, 3, 4))
VN = np.array([0.3, np.nan, -1.2, 0.8, np.nan, 2.1])          # nan entries
MN = np.where(RNG.random((4, 5)) < 0.25, np.nan, RNG.standard_normal((4, 5)))
MN[:, 0] = RNG.standard_normal(4)                             # every row and column keeps a number
MN[0, :] = RNG.standard_normal(5)

# differentiable cases: (id, function written with plain NumPy, argument)
CASES = [
    ("nansum", lambda x: np.nansum(x * 2.0), VN),
    ("nansum-axis0", lambda x: np.nansum(x, axis=0), MN),
    ("nanprod-axis1-keepdims", lambda x: np.nanprod(x, axis=1, keepdims=True), MN),
    ("nanmean", lambda x: np.nanmean(x), VN),
    ("nanmean-axis1", lambda x: np.nanmean(x ** 2, axis=1), MN),
    ("nanmax", lambda x: np.nanmax(x), VN),
    ("nanmax-axis0", lambda x: np.nanmax(x, axis=0), MN),
    ("nanmin-axis1", lambda x: np.nanmin(x, axis=1, keepdims=True), MN),
    ("median-odd", lambda x: np.median(x), V7),
    ("median-even", lambda x: np.median(x[:6]), V7),
    ("median-axis1", lambda x: np.median(x, axis=1), M45),
    ("median-axis0-keepdims", lambda x: np.median(x, axis=0, keepdims=True), M45),
    ("quantile-scalar", lambda x: np.quantile(x, 0.37), V7),
    ("quantile-list-axis1", lambda x: np.quantile(x, [0.1, 0.5, 0.93], axis=1), M45),
    ("quantile-tuple-axis", lambda x: np.quantile(x, [0.2, 0.8], axis=(0, 2)), T234),
    ("quantile-ends", lambda x: np.quantile(x, [0.0, 1.0], axis=0, keepdims=True), M45),
    ("quantile-q-traced", lambda z: np.quantile(z[:6], z[6] ** 2 / 4.0), V7),
    ("percentile", lambda x: np.percentile(x, 30), V7),
    ("percentile-list-axis0", lambda x: np.percentile(x, [15, 62.5], axis=0), M45),
    ("cov", lambda x: np.cov(x), M45),
    ("cov-rowvar-bias", lambda x: np.cov(x, rowvar=False, bias=True), M45),
    ("cov-ddof-y", lambda x: np.cov(x[0], x[1] ** 2, ddof=2), M45),
    ("cov-1d", lambda x: np.cov(x), V7),
    ("corrcoef", lambda x: np.corrcoef(x), M45),
    ("corrcoef-rowvar-y", lambda x: np.corrcoef(x[:, :2], x[:, 2:], rowvar=False), M45),
    ("polyval-x", lambda x: np.polyval([0.5, -1.0, 2.0, 3.0], x), V7),
    ("polyval-p", lambda p: np.polyval(p, np.array([-1.1, 0.4, 2.0])), V7),
    ("polyval-both", lambda x: np.polyval(x[0], x[1:]), M45),
    ("rot90", lambda x: np.rot90(x), M45),
    ("rot90-k2", lambda x: np.rot90(x, 2), M45),
    ("rot90-k3-axes", lambda x: np.rot90(x, k=3, axes=(2, 0)), T234),
    ("rot90-kneg", lambda x: np.rot90(x, -1, axes=(1, 2)) * 2.0, T234),
    ("hsplit", lambda x: np.hsplit(x, [1, 3])[1] ** 2, M45),
    ("hsplit-1d", lambda x: np.hsplit(x[:6], 3)[2], V7),
    ("vsplit", lambda x: np.vsplit(x, 2)[0] * np.vsplit(x, 2)[1], M45),
    ("dsplit", lambda x: np.dsplit(x, 2)[1] - np.dsplit(x, [1])[0], T234),
    ("fabs", lambda x: np.fabs(x) * x, M45),
    ("select", lambda x: np.select([x > 0.5, x < -0.5], [x ** 2, np.sin(x)], default=x * 3), M45),
    ("select-default-scalar", lambda x: np.select([x > 0], [np.exp(x)]), V7),
    # NumPy 2's array-API functions (numpy.linalg's act on the last axes)
    ("vecdot", lambda x: np.vecdot(x, x[::-1] * 2.0), T234),
    ("matrix_transpose", lambda x: np.matrix_transpose(x) * x[:, :1, :1], T234),
    ("linalg.vecdot-axis", lambda x: np.linalg.vecdot(x, np.sin(x), axis=0), M45),
    ("linalg.matmul", lambda x: np.linalg.matmul(x, np.cos(x).T), M45),
    ("linalg.matrix_transpose", lambda x: np.linalg.matrix_transpose(x) ** 2, T234),
    ("linalg.cross", lambda x: np.linalg.cross(x[:, :3], x[:, 2:]), M45),
    ("linalg.outer", lambda x: np.linalg.outer(x, x[:3]), V7),
    ("linalg.diagonal", lambda x: np.linalg.diagonal(x, offset=1) * 3.0, T234),
    ("linalg.trace", lambda x: np.linalg.trace(x * x), T234),
    ("linalg.tensordot", lambda x: np.linalg.tensordot(x, np.cos(x), axes=1), M45[:, :4]),
    # composed additions found missing by tools/supported_functions.py
    ("concat", lambda x: np.concat([x, x[:1] * 2.0], axis=0), M45),
    ("permute_dims", lambda x: np.permute_dims(x, (2, 0, 1)) * x[0, 0, 0], T234),
    ("fmod", lambda x: np.fmod(x * 3.0, 0.7), V7),
    ("fmod-y", lambda x: np.fmod(np.array([2.5, -2.5, 1.3, -0.4, 3.1, -3.1, 0.2]), 0.6 + x ** 2), V7),
    ("heaviside", lambda x: np.heaviside(x - x.round(), x) * x, V7),
    ("modf", lambda x: np.modf(x * 3.0)[0] + np.modf(x * 3.0)[1] * x, V7),
    ("divmod", lambda x: np.divmod(x * 5.0, 1.3)[1] * np.divmod(x * 5.0, 1.3)[0], V7),
    ("nanvar", lambda x: np.nanvar(x), VN),
    ("nanvar-axis0-ddof", lambda x: np.nanvar(x, axis=0, ddof=1), MN),
    ("nanstd-axis1-keepdims", lambda x: np.nanstd(x, axis=1, keepdims=True), MN),
    ("nancumsum", lambda x: np.nancumsum(x), VN),
    ("nancumprod-axis1", lambda x: np.nancumprod(x, axis=1), MN),
    ("cumulative_sum", lambda x: np.cumulative_sum(x, axis=1, include_initial=True), M45),
    ("cumulative_prod", lambda x: np.cumulative_prod(x), V7),
    ("ediff1d", lambda x: np.ediff1d(x, to_end=x[:2] ** 2, to_begin=3.0), M45),
    ("diagflat", lambda x: np.diagflat(x[:2, :2], k=1) * 2.0, M45),
    ("dstack", lambda x: np.dstack([x, np.sin(x)]), M45),
    ("polyadd", lambda x: np.polyadd(x[:3], x[3:]), V7),
    ("polysub", lambda x: np.polysub(x[:2], x[2:] ** 2), V7),
    ("polymul", lambda x: np.polymul(x[:3], x[3:]), V7),
    ("polyder", lambda x: np.polyder(x, 2), V7),
    ("polyint", lambda x: np.polyint(x[:4], 2, k=[x[4], 0.5]), V7),
    ("vander", lambda x: np.vander(x[:4]), V7),
    ("vander-N-increasing", lambda x: np.vander(x, 3, increasing=True), V7),
    ("matvec", lambda x: np.matvec(x, x[:, 0]), T234),
    ("vecmat", lambda x: np.vecmat(x[:, :, 0], x), T234),
    ("unstack", lambda x: np.unstack(x, axis=1)[2] * np.unstack(x, axis=1)[0], M45),
    ("angle", lambda x: np.angle(x * (1 + 2j) + 0.5) + np.angle(x, deg=True), V7),
    # nan-quantiles, gradient, block, copysign, ldexp, resize, i0
    ("nanmedian", lambda x: np.nanmedian(x), VN),
    ("nanmedian-axis0", lambda x: np.nanmedian(x, axis=0), MN),
    ("nanmedian-axis1-keepdims", lambda x: np.nanmedian(x, axis=1, keepdims=True), MN),
    ("nanquantile-list-axis1", lambda x: np.nanquantile(x, [0.1, 0.5, 0.93], axis=1), MN),
    ("nanquantile-ends", lambda x: np.nanquantile(x, [0.0, 1.0]), VN),
    ("nanquantile-no-nan", lambda x: np.nanquantile(x, 0.37), V7),
    ("nanpercentile-axis0", lambda x: np.nanpercentile(x, [15, 62.5], axis=0), MN),
    ("gradient", lambda x: np.gradient(x), V7),
    ("gradient-edge2-dx", lambda x: np.gradient(x ** 2, 0.3, edge_order=2), V7),
    ("gradient-2d", lambda x: np.stack(np.gradient(np.sin(x))), M45),
    ("gradient-axis-coords", lambda x: np.gradient(x, np.array([0.0, 0.5, 1.7, 2.0]), axis=0), M45),
    ("gradient-coords-edge2", lambda x: np.gradient(x, np.array([0.0, 0.5, 1.7, 2.0, 3.1]), axis=-1,
                                                    edge_order=2), M45),
    ("gradient-traced-coords", lambda x: np.gradient(x[0] ** 2, np.cumsum(x[1] ** 2 + 0.5), edge_order=2), M45),
    ("gradient-spacings", lambda x: np.stack(np.gradient(x, 0.5, np.array([0.0, 1.0, 1.5, 3.0, 3.2]))), M45),
    ("block", lambda x: np.block([[x, x[:, :2] * 2.0], [np.sin(x[:1]), x[:1, :2]]]), M45),
    ("block-1d", lambda x: np.block([x, x[:3] ** 2, 1.0]), V7),
    ("block-promote", lambda x: np.block([[x[:2]], [x[2:4] * 3.0]]), V7),
    ("copysign", lambda x: np.copysign(x, np.array([1.0, -1.0, -0.0, 0.0, -2.0, 3.0, -1.0])), V7),
    ("copysign-x2-traced", lambda x: np.copysign(2.0 + x ** 2, x) * x, V7),
    ("ldexp", lambda x: np.ldexp(x, np.array([0, 1, -2, 3, 5, -1, 2])), V7),
    ("ldexp-broadcast", lambda x: np.ldexp(x, np.array([[1], [-3], [0], [2]])), M45),
    ("resize", lambda x: np.resize(x, (3, 4)), V7),
    ("resize-shrink", lambda x: np.resize(x * 2.0, 6), M45),
    ("i0", lambda x: np.i0(x * 3.0), V7),
]
IDS = [c[0] for c in CASES]
VMAP = {"nansum-axis0", "nanmax-axis0", "nanmean-axis1", "median-axis1", "quantile-list-axis1",
        "quantile-q-traced", "percentile", "cov", "corrcoef", "polyval-both", "rot90-k3-axes", "hsplit",
        "fabs", "select", "fmod", "nanvar-axis0-ddof", "cumulative_sum", "polymul", "vander", "angle",
        "nanmedian-axis0", "nanquantile-list-axis1", "gradient-2d", "gradient-traced-coords", "block",
        "copysign", "ldexp", "resize", "i0"}




@pytest.mark.parametrize("name,f,x", CASES, ids=IDS)
def test_values(name, f, x):
    check_numpy_values(f, x)                         # np.<name> on traced values vs NumPy


@pytest.mark.parametrize("name,f,x", CASES, ids=IDS)
def test_derivatives(name, f, x):
    check_numpy_derivatives(f, x)


@pytest.mark.parametrize("name,f,x", [c for c in CASES if c[0] in VMAP], ids=sorted(VMAP, key=IDS.index))
def test_vmap(name, f, x):
    batch = np.stack([x + 0.01 * k * RNG.standard_normal(x.shape) for k in range(3)])
    expected = np.stack([f(b) for b in batch])
    np.testing.assert_allclose(cr.vmap(f)(batch), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(compiled(cr.jit(cr.vmap(f)), batch), expected, rtol=1e-12, atol=1e-12)


def test_nan_entries_get_zero_derivative():
    nan = np.isnan(VN)
    for f in (np.nansum, np.nanmean, np.nanprod, np.nanmax, np.nanmin):
        for g in (cr.grad(f), cr.jit(cr.grad(f))):
            d = np.asarray(g(VN))
            assert np.all(d[nan] == 0.0) and np.all(np.isfinite(d))
    assert np.isnan(cr.jit(lambda x: np.nanmax(x, axis=0))(np.full((2, 3), np.nan))).all()
    np.testing.assert_array_equal(cr.jit(lambda x: np.nanmean(x, axis=1))(np.array([[np.nan, 1.0], [2.0, 4.0]])),
                                  [1.0, 3.0])


def test_nan_quantiles_gradient_block_edges():
    # nan entries: zero derivative; an all-nan slice gives nan (as NumPy, without the warning)
    nan = np.isnan(VN)
    for f in (np.nanmedian, lambda x: np.nanquantile(x, 0.8), lambda x: np.nanpercentile(x, 20)):
        d = np.asarray(cr.grad(f)(VN))
        assert np.all(d[nan] == 0.0) and np.all(np.isfinite(d)) and d.sum() == pytest.approx(1.0)
    rows = np.array([[np.nan, np.nan, np.nan], [1.0, np.nan, 4.0], [np.nan, 2.5, np.nan]])
    np.testing.assert_array_equal(cr.jit(lambda x: np.nanmedian(x, axis=1))(rows), [np.nan, 2.5, 2.5])
    with pytest.raises(TypeError, match="method"):
        cr.grad(lambda x: np.nanquantile(x, 0.5, method="nearest"))(V7)
    with pytest.raises(ValueError):
        cr.grad(lambda x: np.nanpercentile(x, 101))(V7)
    # gradient: exact on quadratics with edge_order=2 (second order everywhere), linear with 1
    xs = np.array([0.0, 0.4, 1.0, 1.3, 2.2])
    quad = cr.jit(lambda c: np.gradient(c[0] * xs ** 2 + c[1] * xs, xs, edge_order=2))
    np.testing.assert_allclose(quad(np.array([1.5, -0.5])), 3.0 * xs - 0.5, rtol=1e-13)
    np.testing.assert_allclose(cr.jit(lambda c: np.gradient(c * xs, xs))(2.0), np.full(5, 2.0), rtol=1e-13)
    for bad in (lambda x: np.gradient(x[:2], edge_order=2), lambda x: np.gradient(x, edge_order=3),
                lambda x: np.gradient(x, np.ones(3))):
        with pytest.raises(ValueError):
            cr.jit(bad)(V7)
    # block: NumPy's errors for mismatched depths, empty lists and tuples
    for bad, err in ((lambda x: [[x], x], ValueError), (lambda x: [x, []], ValueError),
                     (lambda x: (x, x), TypeError)):
        with pytest.raises(err):
            np.block(bad(V7))
        with pytest.raises(err):
            cr.jit(lambda x: np.block(bad(x)))(V7)
    # copysign: the sign bit of -0.0; ldexp: integer exponents only
    np.testing.assert_array_equal(cr.jit(lambda x: np.copysign(x, -0.0))(np.array([1.0, -2.0])), [-1.0, -2.0])
    with pytest.raises(TypeError, match="integer"):
        cr.jit(lambda x: np.ldexp(x, x))(V7)
    np.testing.assert_array_equal(cr.jit(lambda x: np.resize(x, (0, 2)))(V7), np.resize(V7, (0, 2)))


def test_quantile_methods_and_ranges():
    for fn in (cnp.quantile, cnp.percentile):
        with pytest.raises(TypeError, match="method"):
            fn(V7, 0.5, method="nearest")
        with pytest.raises(TypeError, match="method"):
            cr.grad(lambda x: fn(x, 0.5, method="lower"))(V7)
    with pytest.raises(ValueError):
        cr.grad(lambda x: np.quantile(x, 1.5))(V7)
    with pytest.raises(ValueError):
        cr.grad(lambda x: np.percentile(x, -3))(V7)
    # derivative only through the two neighbouring order statistics
    g = np.asarray(cr.grad(lambda x: np.quantile(x, 0.37))(V7))
    order = np.argsort(V7)
    pos = 0.37 * 6
    expected = np.zeros(7)
    expected[order[int(pos)]] = 1 - (pos - int(pos))
    expected[order[int(pos) + 1]] = pos - int(pos)
    np.testing.assert_allclose(g, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(cr.jit(lambda x: np.median(x))(np.array([[2.5]])), 2.5)
    np.testing.assert_allclose(cr.jit(lambda x: np.quantile(x, [0.3, 1.0]))(np.arange(5)),
                               np.quantile(np.arange(5), [0.3, 1.0]))


def test_isclose_searchsorted_values():
    a = np.array([1.0, np.inf, -np.inf, np.nan, 1e-9, 2.0, 5.0])
    b = np.array([1.0 + 1e-7, np.inf, np.inf, np.nan, 0.0, 2.1, 5.0])
    for kw in ({}, {"equal_nan": True}, {"rtol": 0.1, "atol": 0.0}):
        exp = np.isclose(a, b, **kw)
        got = cr.jit(lambda a, b: np.isclose(a, b, **kw))(a, b)
        np.testing.assert_array_equal(got, exp)
        assert np.asarray(got).dtype == np.bool_
        np.testing.assert_array_equal(cr.vmap(lambda u: np.isclose(u, b, **kw))(np.stack([a, b])),
                                      np.stack([exp, np.isclose(b, b, **kw)]))
    srt = np.array([-1.0, 0.0, 0.0, 2.0, 3.5])
    v = np.array([[-2.0, 0.0, 1.0], [2.0, 3.5, 9.0]])
    for side in ("left", "right"):
        exp = np.searchsorted(srt, v, side=side)
        got = cr.jit(lambda s, v: np.searchsorted(s, v, side=side))(srt, v)
        np.testing.assert_array_equal(got, exp)
        assert np.asarray(got).dtype.kind == "i"
        np.testing.assert_array_equal(cr.vmap(lambda v: np.searchsorted(srt, v, side=side))(v), exp)
        np.testing.assert_array_equal(cnp.searchsorted(srt, v, side=side), exp)
    perm = np.array([3, 0, 4, 1, 2])
    shuffled = np.empty(5)
    shuffled[perm] = srt
    np.testing.assert_array_equal(cr.jit(lambda v: np.searchsorted(shuffled, v, sorter=perm))(v),
                                  np.searchsorted(srt, v))
    np.testing.assert_array_equal(cr.jit(lambda x: np.searchsorted(x, 0.5))(srt), np.searchsorted(srt, 0.5))


def test_misc_errors_and_dtypes():
    with pytest.raises(TypeError):
        cr.grad(lambda x: np.sum(np.abs(np.fabs(x * 1j))))(V7)
    np.testing.assert_array_equal(cnp.fabs(np.arange(-3, 3)), np.fabs(np.arange(-3, 3)))
    with pytest.raises(ValueError):
        cr.jit(lambda x: np.vsplit(x, 2))(V7)
    with pytest.raises(ValueError):
        cr.jit(lambda x: np.dsplit(x, 2))(M45)
    with pytest.raises(ValueError):
        cr.jit(lambda x: np.rot90(x, axes=(0, 0)))(M45)
    with pytest.raises(ValueError):
        cr.jit(lambda x: np.hsplit(x, 3))(M45)
    with pytest.raises(TypeError):
        cr.jit(lambda x: np.select([x], [x]))(V7)
    with pytest.raises(ValueError):
        cr.jit(lambda x: np.select([x > 0], [x, x]))(V7)
    np.testing.assert_array_equal(cr.jit(lambda x: np.rot90(x, 4))(M45), M45)
    i = np.arange(12).reshape(3, 4)
    np.testing.assert_allclose(cnp.cov(i), np.cov(i))
    np.testing.assert_allclose(cnp.corrcoef(i, rowvar=False), np.corrcoef(i, rowvar=False))
    np.testing.assert_allclose(cnp.polyval([1, 2], 3), np.polyval([1, 2], 3))
