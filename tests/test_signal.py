"""chainrule.scipy.signal: values against SciPy (and JAX), derivatives against finite differences."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.scipy import signal as cs

ss = pytest.importorskip("scipy.signal")

RNG = np.random.default_rng(11)
MODES = ["full", "same", "valid"]
SHAPES = [((7,), (3,)), ((6,), (4,)), ((3,), (8,)), ((1,), (5,)),
          ((5, 6), (3, 2)), ((4, 4), (4, 5)), ((2, 3), (5, 6)), ((4, 5, 3), (2, 3, 2))]


def fd_jac(f, x):
    """Central-difference Jacobian of f at x (chainrule.fd): shape f(x).shape + x.shape."""
    return cr.fd.jacobian(f, np.asarray(x, float), method="central")


def pair(s1, s2, complex_=False):
    a, b = RNG.normal(size=s1), RNG.normal(size=s2)
    if complex_:
        a, b = a + 1j * RNG.normal(size=s1), b - 1j * RNG.normal(size=s2)
    return a, b


def valid_ok(s1, s2):
    return all(p >= q for p, q in zip(s1, s2)) or all(q >= p for p, q in zip(s1, s2))


# ---------------------------------------------------------------- values

@pytest.mark.parametrize("s1,s2", SHAPES, ids=str)
@pytest.mark.parametrize("mode", MODES)
def test_convolve_correlate_match_scipy(s1, s2, mode):
    for cplx in (False, True):
        a, b = pair(s1, s2, cplx)
        if mode == "valid" and not valid_ok(s1, s2):
            with pytest.raises(ValueError, match="at least as large"):
                cs.convolve(a, b, mode)
            continue
        for method in ("direct", "fft", "auto"):
            np.testing.assert_allclose(cs.convolve(a, b, mode, method), ss.convolve(a, b, mode, method),
                                       rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(cs.correlate(a, b, mode, method),
                                       ss.correlate(a, b, mode, method), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(cs.fftconvolve(a, b, mode), ss.fftconvolve(a, b, mode),
                                   rtol=1e-12, atol=1e-12)


def test_integer_and_scalar_inputs():
    a, b = np.arange(5), np.array([2, -1, 3])
    out = cs.convolve(a, b)
    assert out.dtype.kind == "i"
    np.testing.assert_array_equal(out, ss.convolve(a, b))
    np.testing.assert_allclose(cs.convolve(np.float64(2.0), np.float64(3.5)), 7.0)


@pytest.mark.parametrize("mode", MODES)
def test_fftconvolve_axes_match_scipy(mode):
    a, b = RNG.normal(size=(3, 8, 5)), RNG.normal(size=(3, 4, 1))
    for axes in (1, [1], (1, 2), -2):
        if mode == "valid" and axes == (1, 2):
            continue      # 5 vs 1 and 8 vs 4: fine, but keep to one axis for the swap rule
        np.testing.assert_allclose(cs.fftconvolve(a, b, mode, axes=axes),
                                   ss.fftconvolve(a, b, mode, axes=axes), rtol=1e-12, atol=1e-12)
    a2 = RNG.normal(size=(1, 6))
    b2 = RNG.normal(size=(4, 3))
    np.testing.assert_allclose(cs.fftconvolve(a2, b2, mode, axes=1),
                               ss.fftconvolve(a2, b2, mode, axes=1), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("s1,s2", [((5, 6), (3, 2)), ((4, 4), (4, 5)), ((6, 7), (3, 3)),
                                   ((2, 3), (5, 6))], ids=str)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("boundary", ["fill", "wrap", "symm"])
def test_convolve2d_correlate2d_match_scipy(s1, s2, mode, boundary):
    if boundary != "fill" and (s2[0] > s1[0] or s2[1] > s1[1]):
        return   # SciPy extends in1 by at most its own size
    a, b = pair(s1, s2)
    if mode == "valid" and not valid_ok(s1, s2):
        with pytest.raises(ValueError, match="at least as large"):
            cs.convolve2d(a, b, mode)
        return
    for fill in (0.0, 0.7):
        np.testing.assert_allclose(cs.convolve2d(a, b, mode, boundary, fill),
                                   ss.convolve2d(a, b, mode, boundary, fill), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(cs.correlate2d(a, b, mode, boundary, fill),
                                   ss.correlate2d(a, b, mode, boundary, fill), rtol=1e-12, atol=1e-12)
    ac, bc = pair(s1, s2, True)
    np.testing.assert_allclose(cs.correlate2d(ac, bc, mode, boundary),
                               ss.correlate2d(ac, bc, mode, boundary), rtol=1e-12, atol=1e-12)


FILTERS = [([1.0, 2.0, 3.0], [1.0]),                     # FIR
           ([0.5, 0.2], [1.0, -0.6, 0.3]),               # IIR, len(a) > len(b)
           ([1.0], [2.0, -0.5]),                         # all-pole, a[0] != 1
           ([0.2, 0.3, 0.1, 0.4], [1.5, 0.2]),           # len(b) > len(a)
           ([3.0], [2.0])]                               # a gain


@pytest.mark.parametrize("b,a", FILTERS, ids=str)
@pytest.mark.parametrize("axis", [-1, 0])
def test_lfilter_matches_scipy(b, a, axis):
    x = RNG.normal(size=(3, 20))
    np.testing.assert_allclose(cs.lfilter(b, a, x, axis=axis), ss.lfilter(b, a, x, axis=axis),
                               rtol=1e-12, atol=1e-12)
    K = max(len(a), len(b))
    zshape = list(x.shape)
    zshape[axis] = K - 1
    zi = RNG.normal(size=zshape)
    y, zf = cs.lfilter(b, a, x, axis=axis, zi=zi)
    yr, zfr = ss.lfilter(b, a, x, axis=axis, zi=zi)
    np.testing.assert_allclose(y, yr, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(zf, zfr, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cs.lfilter(b, a, x[0]), ss.lfilter(b, a, x[0]), rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------- derivatives

@pytest.mark.parametrize("fn", [
    lambda u, v: cs.convolve(u, v, "same", "direct"),
    lambda u, v: cs.convolve(u, v, "full", "fft"),
    lambda u, v: cs.correlate(u, v, "valid"),
    lambda u, v: cs.fftconvolve(u, v[:1], "same", axes=1),
    lambda u, v: cs.convolve2d(u, v, "same", "symm"),
    lambda u, v: cs.correlate2d(u, v, "full", "wrap"),
    lambda u, v: cs.convolve2d(u, v, "full", "fill", 0.3),
], ids=["convolve-direct", "convolve-fft", "correlate", "fftconvolve-axes", "convolve2d-symm",
        "correlate2d-wrap", "convolve2d-fill"])
def test_convolution_gradients(fn):
    u, v = RNG.normal(size=(5, 4)), RNG.normal(size=(2, 3))
    for i, arg in enumerate((u, v)):
        def fi(w, i=i):
            return fn(w, v) if i == 0 else fn(u, w)
        rev = cr.jacrev(fn, argnums=i)(u, v)
        np.testing.assert_allclose(rev, fd_jac(fi, arg), rtol=1e-7, atol=1e-8)
        np.testing.assert_allclose(cr.jacfwd(fn, argnums=i)(u, v), rev, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("b,a", FILTERS[:4], ids=str)
def test_lfilter_gradients(b, a):
    b, a = np.array(b), np.array(a)
    x = RNG.normal(size=12)
    zi = RNG.normal(size=max(len(a), len(b)) - 1)

    def f(b, a, x, zi):
        y, zf = cs.lfilter(b, a, x, zi=zi)
        return cr.numpy.concatenate([y, zf])
    args = (b, a, x, zi)
    for i in range(4):
        def fi(w, i=i):
            return f(*[w if j == i else v for j, v in enumerate(args)])
        rev = cr.jacrev(f, argnums=i)(*args)
        np.testing.assert_allclose(rev, fd_jac(fi, args[i]), rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(cr.jacfwd(f, argnums=i)(*args), rev, rtol=1e-10, atol=1e-12)
    g = lambda b, a, x: cs.lfilter(b, a, x)  # noqa: E731
    for i in range(3):
        def gi(w, i=i):
            return g(*[w if j == i else v for j, v in enumerate(args[:3])])
        np.testing.assert_allclose(cr.jacrev(g, argnums=i)(*args[:3]), fd_jac(gi, args[i]),
                                   rtol=1e-6, atol=1e-8)


# ------------------------------------------------------- transformations

def test_jit_equals_eager_twice():
    def f(u, v, b, a):
        return (cs.convolve(u, v, "same").sum() + cs.fftconvolve(u, v, "valid").sum()
                + cs.convolve2d(u, v, "same", "wrap").sum() + cs.lfilter(b, a, u[0]).sum())
    u, v = RNG.normal(size=(6, 5)), RNG.normal(size=(3, 2))
    b, a = np.array([0.5, 0.2]), np.array([1.0, -0.6, 0.3])
    g, gg = cr.jit(f), cr.jit(cr.grad(f, argnums=(0, 1, 2, 3)))
    for k in range(2):       # the second call runs the compiled code
        np.testing.assert_allclose(g(u + k, v, b, a), f(u + k, v, b, a), rtol=1e-12)
        for p, q in zip(gg(u + k, v, b, a), cr.grad(f, argnums=(0, 1, 2, 3))(u + k, v, b, a)):
            np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-12)


def test_lfilter_is_one_loop_under_jit():
    prog = str(cr.make_ir(lambda b, a, x: cs.lfilter(b, a, x))(
        np.array([0.5, 0.2]), np.array([1.0, -0.6, 0.3]), RNG.normal(size=200)))
    assert prog.count("scan") == 1


def test_vmap_equals_loop():
    us, v = RNG.normal(size=(4, 9)), RNG.normal(size=3)
    f = lambda u: cs.convolve(u, v, "same")  # noqa: E731
    np.testing.assert_allclose(cr.vmap(f)(us), np.stack([f(u) for u in us]), rtol=1e-12)
    a = np.array([1.0, -0.6, 0.3])
    bs = RNG.normal(size=(3, 2))
    g = lambda b, x: cs.lfilter(b, a, x)  # noqa: E731
    np.testing.assert_allclose(cr.vmap(g, in_axes=(0, None))(bs, us[0]),
                               np.stack([ss.lfilter(b, a, us[0]) for b in bs]), rtol=1e-12, atol=1e-12)
    h = lambda u: cs.fftconvolve(u, v, "full")  # noqa: E731
    np.testing.assert_allclose(cr.vmap(h)(us), np.stack([h(u) for u in us]), rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------- JAX

def test_against_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jsig = pytest.importorskip("jax.scipy.signal")
    u, v = RNG.normal(size=(6, 5)), RNG.normal(size=(3, 2))
    for mode in MODES:
        for ours, theirs in ((cs.convolve, jsig.convolve), (cs.correlate, jsig.correlate),
                             (cs.convolve2d, jsig.convolve2d), (cs.correlate2d, jsig.correlate2d),
                             (cs.fftconvolve, jsig.fftconvolve)):
            np.testing.assert_allclose(ours(u, v, mode), np.asarray(theirs(u, v, mode)),
                                       rtol=1e-11, atol=1e-12)
            w = RNG.normal(size=np.shape(ours(u, v, mode)))
            g = cr.grad(lambda u, v: (ours(u, v, mode) * w).sum(), argnums=(0, 1))(u, v)
            gj = jax.grad(lambda u, v: (theirs(u, v, mode) * w).sum(), argnums=(0, 1))(u, v)
            for p, q in zip(g, gj):
                np.testing.assert_allclose(p, np.asarray(q), rtol=1e-11, atol=1e-12)


# --------------------------------------------------------------- errors

def test_bad_input_is_refused():
    a, b = RNG.normal(size=6), RNG.normal(size=3)
    with pytest.raises(ValueError, match="mode"):
        cs.convolve(a, b, "sam")
    with pytest.raises(ValueError, match="method"):
        cs.convolve(a, b, method="fast")
    with pytest.raises(ValueError, match="mode"):
        cs.correlate(a, b, "nope")
    with pytest.raises(ValueError, match="dimensionality"):
        cs.convolve(a, RNG.normal(size=(2, 2)))
    with pytest.raises(ValueError, match="boundary"):
        cs.convolve2d(RNG.normal(size=(3, 3)), RNG.normal(size=(2, 2)), boundary="reflect")
    with pytest.raises(ValueError, match="2-D"):
        cs.convolve2d(a, b)
    with pytest.raises(ValueError, match="incompatible"):
        cs.fftconvolve(RNG.normal(size=(3, 4)), RNG.normal(size=(2, 4)), axes=1)
    with pytest.raises(ValueError, match="a\\[0\\]"):
        cs.lfilter([1.0], [0.0, 1.0], a)
    with pytest.raises(ValueError, match="zi must have shape"):
        cs.lfilter([1.0, 0.5], [1.0, 0.2], a, zi=np.zeros(3))
    with pytest.raises(ValueError, match="1-D"):
        cs.lfilter(np.ones((2, 2)), [1.0], a)


# ---------------------------------------------------- savgol_filter, filtfilt, lfilter_zi

SAVGOL = [(w, p, d) for w in (1, 2, 4, 5, 6, 7, 11) for p in range(min(w, 4)) for d in (0, 1, 3)]


@pytest.mark.parametrize("mode", ["interp", "mirror", "nearest", "constant", "wrap"])
@pytest.mark.parametrize("axis", [-1, 0])
def test_savgol_filter_matches_scipy(mode, axis):
    x = RNG.normal(size=(3, 13))
    x = x if axis == -1 else x.T.copy()
    for w, p, d in SAVGOL:
        want = ss.savgol_filter(x, w, p, d, 0.7, axis=axis, mode=mode, cval=0.4)
        got = cs.savgol_filter(x, w, p, d, 0.7, axis=axis, mode=mode, cval=0.4)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=f"{w} {p} {d}")
        np.testing.assert_allclose(cs.savgol_coeffs(w, p, d, 0.7), ss.savgol_coeffs(w, p, d, 0.7),
                                   rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(cs.savgol_coeffs(7, 2, pos=1, use="dot"), ss.savgol_coeffs(7, 2, pos=1, use="dot"),
                               atol=1e-13)


FILTFILT = [(ss.butter(3, 0.3)), ([0.2, 0.3, 0.2], [1.0]), ([1.0, 0.4], [2.0, -0.6, 0.3])]


@pytest.mark.parametrize("padtype,padlen", [("odd", None), ("even", None), ("constant", None), (None, None),
                                            ("odd", 4), ("even", 0), ("constant", 11)])
@pytest.mark.parametrize("axis", [-1, 0])
def test_filtfilt_and_lfilter_zi_match_scipy(padtype, padlen, axis):
    x = RNG.normal(size=(3, 24))
    x = x if axis == -1 else x.T.copy()
    for b, a in FILTFILT:
        np.testing.assert_allclose(cs.lfilter_zi(b, a), ss.lfilter_zi(b, a), rtol=1e-12, atol=1e-13)
        want = ss.filtfilt(b, a, x, axis=axis, padtype=padtype, padlen=padlen)
        got = cs.filtfilt(b, a, x, axis=axis, padtype=padtype, padlen=padlen)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_savgol_and_filtfilt_derivatives():
    x = RNG.normal(size=15)
    b, a = np.array([0.3, 0.2]), np.array([1.0, -0.5, 0.2])
    fns = [lambda x: cs.savgol_filter(x, 5, 2, 1, 0.5),
           lambda x: cs.savgol_filter(x, 6, 3, mode="mirror"),
           lambda x: cs.savgol_filter(x, 4, 1, mode="wrap"),
           lambda x: cs.savgol_filter(x, 5, 2, mode="constant", cval=0.5),
           lambda x: cs.filtfilt(b, a, x),
           lambda x: cs.filtfilt(b, a, x, padtype="even", padlen=5)]
    for f in fns:
        rev = cr.jacrev(f)(x)
        np.testing.assert_allclose(rev, fd_jac(f, x), rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(cr.jacfwd(f)(x), rev, rtol=1e-12, atol=1e-13)
        jf = cr.jit(cr.jacrev(f))
        jf(x)
        np.testing.assert_allclose(jf(x), rev, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(cr.jit(f)(x), f(x), rtol=1e-13, atol=1e-14)
    # linear in x: the Jacobian of savgol_filter is its filter matrix, equal to SciPy's applied to e_i
    J = cr.jacfwd(lambda x: cs.savgol_filter(x, 7, 3, mode="interp"))(x)
    np.testing.assert_allclose(J, ss.savgol_filter(np.eye(15), 7, 3, axis=0), rtol=1e-12, atol=1e-13)
    # filtfilt is differentiable in the coefficients too (through lfilter_zi and lfilter)
    for i, v in ((0, b), (1, a)):
        def g(w, i=i):
            return cs.filtfilt(*[w if j == i else u for j, u in enumerate((b, a))], x)
        np.testing.assert_allclose(cr.jacrev(g)(v), fd_jac(g, v), rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(cr.jacfwd(g)(v), cr.jacrev(g)(v), rtol=1e-11, atol=1e-12)
    zi = lambda a: cs.lfilter_zi(b, a)
    np.testing.assert_allclose(cr.jacrev(zi)(a), fd_jac(zi, a), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(cr.vmap(lambda x: cs.filtfilt(b, a, x))(np.stack([x, 2 * x])),
                               np.stack([ss.filtfilt(b, a, x), ss.filtfilt(b, a, 2 * x)]), rtol=1e-12, atol=1e-12)


def test_savgol_filtfilt_bad_input_is_refused():
    x = RNG.normal(size=8)
    with pytest.raises(ValueError, match="mode"):
        cs.savgol_filter(x, 5, 2, mode="reflect")
    with pytest.raises(ValueError, match="polyorder"):
        cs.savgol_filter(x, 5, 5)
    with pytest.raises(ValueError, match="window_length must be less than or equal"):
        cs.savgol_filter(x, 9, 2)
    with pytest.raises(TypeError, match="window_length"):
        cs.savgol_filter(x, 5.0, 2)
    with pytest.raises(NotImplementedError, match="gust"):
        cs.filtfilt([1.0, 0.5], [1.0, 0.2], x, method="gust")
    with pytest.raises(NotImplementedError, match="irlen"):
        cs.filtfilt([1.0, 0.5], [1.0, 0.2], x, irlen=5)
    with pytest.raises(ValueError, match="padtype"):
        cs.filtfilt([1.0, 0.5], [1.0, 0.2], x, padtype="zero")
    with pytest.raises(ValueError, match="greater than padlen"):
        cs.filtfilt([1.0, 0.5], [1.0, 0.2], x[:6])       # the default padlen is 3 * 2 = 6
