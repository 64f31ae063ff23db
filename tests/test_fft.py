"""chainrule.numpy.fft: values against numpy.fft, derivatives against finite differences,
across modes and against JAX, vmap, jit, NumPy dispatch and argument errors.

The primitives' own sample cases are in tests/test_primitives.py (SAMPLES: "fft", "rfft",
"irfft"), which every transformation's harness iterates; here the user functions are tested.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.numpy import fft as cfft

from helpers import check_jvp_vjp, fd_grad

RNG = np.random.default_rng(7)
NORMS = [None, "backward", "ortho", "forward"]
C2C = ["fft", "ifft"]
R2C = ["rfft", "ihfft"]
C2R = ["irfft", "hfft"]


def _c(*shape):
    return RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)


def _close(a, b, tol=1e-12):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * (1 + np.max(np.abs(b), initial=0)))


def _parts(z):
    """A complex result as two real arrays (the derivative checks take real outputs)."""
    return cnp.real(z), cnp.imag(z)


# ------------------------------------------------------------------ values ---

@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("length", [5, 6])
@pytest.mark.parametrize("n", [None, 3, 9, 10])
def test_one_dimensional_values_equal_numpy(norm, length, n):
    x, z = RNG.standard_normal(length), _c(length)
    for name in C2C:
        _close(getattr(cfft, name)(z, n, norm=norm), getattr(np.fft, name)(z, n, norm=norm))
        _close(getattr(cfft, name)(x, n, norm=norm), getattr(np.fft, name)(x, n, norm=norm))
    for name in R2C:
        _close(getattr(cfft, name)(x, n, norm=norm), getattr(np.fft, name)(x, n, norm=norm))
    for name in C2R:
        _close(getattr(cfft, name)(z, n, norm=norm), getattr(np.fft, name)(z, n, norm=norm))


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_axis_of_a_2d_input(norm, axis):
    x, z = RNG.standard_normal((4, 5)), _c(4, 5)
    for name in C2C + C2R:
        _close(getattr(cfft, name)(z, axis=axis, norm=norm), getattr(np.fft, name)(z, axis=axis, norm=norm))
    for name in R2C:
        _close(getattr(cfft, name)(x, axis=axis, norm=norm), getattr(np.fft, name)(x, axis=axis, norm=norm))
    _close(cfft.irfft(z, 7, axis=axis, norm=norm), np.fft.irfft(z, 7, axis=axis, norm=norm))


ND_CASES = [  # (shape, s, axes)
    ((4, 5), None, None), ((4, 5), (3, 8), None), ((3, 4, 5), None, (0, 2)), ((3, 4, 5), (5, 3), (2, 0)),
    ((3, 4, 5), (-1, 6), (1, 2)), ((4, 6), None, (-2, -1)), ((5, 4), (6, 7), (0, 1)), ((4, 5), None, (1, 1)),
    ((3, 4, 5), None, (1,)),
]


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("shape,s,axes", ND_CASES)
def test_n_dimensional_values_equal_numpy(norm, shape, s, axes):
    x, z = RNG.standard_normal(shape), _c(*shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)      # s without axes, as NumPy warns
        for name in ["fftn", "ifftn", "irfftn"]:
            _close(getattr(cfft, name)(z, s, axes, norm=norm), getattr(np.fft, name)(z, s, axes, norm=norm))
        _close(cfft.rfftn(x, s, axes, norm=norm), np.fft.rfftn(x, s, axes, norm=norm))
        _close(cfft.fftn(x, s, axes, norm=norm), np.fft.fftn(x, s, axes, norm=norm))


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("s", [None, (3, 4), (5, 7)])
def test_two_dimensional_values_equal_numpy(norm, s):
    x, z = RNG.standard_normal((2, 4, 5)), _c(2, 4, 5)
    for name in ["fft2", "ifft2", "irfft2"]:
        _close(getattr(cfft, name)(z, s, norm=norm), getattr(np.fft, name)(z, s, norm=norm))
    _close(cfft.rfft2(x, s, norm=norm), np.fft.rfft2(x, s, norm=norm))
    _close(cfft.fft2(z, s, axes=(0, 2), norm=norm), np.fft.fft2(z, s, axes=(0, 2), norm=norm))


def test_dtypes_follow_numpy():
    ints = np.arange(6)
    for name in C2C + R2C:
        _close(getattr(cfft, name)(ints), getattr(np.fft, name)(ints))
    x32 = RNG.standard_normal(6).astype(np.float32)
    for name in C2C + R2C:
        _close(getattr(cfft, name)(x32), getattr(np.fft, name)(x32), tol=1e-5)
    _close(cfft.irfft(np.fft.rfft(x32)), np.fft.irfft(np.fft.rfft(x32)), tol=1e-5)
    _close(cfft.fft([1.0, 2.0, 0.5]), np.fft.fft([1.0, 2.0, 0.5]))           # a list
    _close(cfft.fftn(np.ones((2, 3)), axes=()), np.fft.fftn(np.ones((2, 3)), axes=()))   # no axis: the input


def test_shifts_and_frequencies():
    x = RNG.standard_normal((4, 5))
    for axes in [None, 0, 1, (0, 1), (-1,), (1, 1)]:
        _close(cfft.fftshift(x, axes), np.fft.fftshift(x, axes))
        _close(cfft.ifftshift(x, axes), np.fft.ifftshift(x, axes))
    _close(cfft.ifftshift(cfft.fftshift(x)), x)
    for n in (1, 4, 7):
        for d in (1.0, 0.25):
            _close(cfft.fftfreq(n, d), np.fft.fftfreq(n, d))
            _close(cfft.rfftfreq(n, d), np.fft.rfftfreq(n, d))
    assert type(cfft.fftfreq(8)) is np.ndarray
    # a traced sample spacing: d/dd (k / (n d)) = -k / (n d^2)
    g = cr.grad(lambda d: cnp.sum(cfft.fftfreq(6, d) ** 2))(0.5)
    np.testing.assert_allclose(g, -2 * np.sum(np.fft.fftfreq(6, 1.0) ** 2) / 0.5 ** 3, rtol=1e-12)
    gx = cr.grad(lambda x: cnp.sum(cfft.fftshift(x) * np.arange(20.0).reshape(4, 5)))(x)
    np.testing.assert_array_equal(gx, np.fft.ifftshift(np.arange(20.0).reshape(4, 5)))


def test_parseval_and_round_trips():
    x = RNG.standard_normal((3, 6))
    np.testing.assert_allclose(np.sum(np.abs(cfft.fft(x, norm="ortho")) ** 2), np.sum(x ** 2), rtol=1e-12)
    _close(cfft.irfft(cfft.rfft(x), 6), x)
    _close(cfft.irfftn(cfft.rfftn(x), x.shape, (0, 1)), x)
    _close(cfft.ifft(cfft.fft(x)).real, x)


# ---------------------------------------------- derivatives of real losses ---

W6 = _c(6)
W4 = _c(4)


def _real_losses():
    """Real scalar losses of a real vector of length 6 (or a (2, 6) matrix for the 2-D ones)."""
    return {
        "power": lambda x: cnp.sum(cnp.abs(cfft.fft(x)) ** 2),
        "weighted-fft": lambda x: cnp.sum(cnp.real(cfft.fft(x) * W6)),
        "weighted-ifft-ortho": lambda x: cnp.sum(cnp.imag(cfft.ifft(x, norm="ortho") * W6)),
        "fft-padded": lambda x: cnp.sum(cnp.abs(cfft.fft(x, 9)) ** 3),
        "rfft-power": lambda x: cnp.sum(cnp.abs(cfft.rfft(x)) ** 2),
        "rfft-weighted": lambda x: cnp.sum(cnp.real(cfft.rfft(x) * W4)),
        "rfft-odd-forward": lambda x: cnp.sum(cnp.real(cfft.rfft(x, 5, norm="forward") * W4[:3])),
        "rfft-imag": lambda x: cnp.sum(cnp.imag(cfft.rfft(x, 8) * np.arange(1.0, 6.0))),
        "irfft-round-trip": lambda x: cnp.sum(cfft.irfft(cfft.rfft(x) * W4) ** 2),
        "irfft-odd": lambda x: cnp.sum(cnp.sin(cfft.irfft(cfft.fft(x)[:4] * W4, 7, norm="ortho"))),
        "hfft": lambda x: cnp.sum(cfft.hfft(cfft.fft(x)[:4] * W4, 6) * np.arange(6.0)),
        "ihfft": lambda x: cnp.sum(cnp.abs(cfft.ihfft(x * x, norm="ortho")) ** 2),
        "shifted": lambda x: cnp.sum(cnp.real(cfft.fftshift(cfft.fft(x)) * W6)),
    }


@pytest.mark.parametrize("name", sorted(_real_losses()))
def test_gradient_of_real_loss_equals_finite_differences(name):
    f = _real_losses()[name]
    x = RNG.standard_normal(6)
    g = cr.grad(f)(x)
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, fd_grad(f, x), rtol=1e-6, atol=1e-7)


W2D = _c(2, 6)


@pytest.mark.parametrize("name,f", [
    ("fft2", lambda x: cnp.sum(cnp.abs(cfft.fft2(x)) ** 2)),
    ("ifft2-padded", lambda x: cnp.sum(cnp.real(cfft.ifft2(x, (3, 6)) * np.arange(18.0).reshape(3, 6)))),
    ("rfft2", lambda x: cnp.sum(cnp.real(cfft.rfft2(x) * W2D[:, :4]))),
    ("rfftn-axis0", lambda x: cnp.sum(cnp.abs(cfft.rfftn(x, axes=(1, 0), norm="ortho")) ** 2 * np.arange(1.0, 7.0))),
    ("irfft2", lambda x: cnp.sum(cfft.irfft2(cfft.rfft2(x) * W2D[:, :4]) ** 2)),
    ("irfftn-odd", lambda x: cnp.sum(cnp.cos(cfft.irfftn(cfft.fftn(x)[:, :3], (2, 5), (0, 1), norm="forward")))),
])
def test_gradient_of_2d_losses(name, f):
    x = RNG.standard_normal((2, 6))
    np.testing.assert_allclose(cr.grad(f)(x), fd_grad(f, x), rtol=1e-6, atol=1e-7)


FUNCTIONS = {  # real inputs to real outputs: every transform, through its real and imaginary parts
    "fft": lambda x, y: _parts(cfft.fft(x + 1j * y, 7)),
    "ifft-ortho": lambda x, y: _parts(cfft.ifft(x + 1j * y, norm="ortho")),
    "fft-real-input": lambda x, y: _parts(cfft.fft(x * y, 4, norm="forward")),
    "rfft": lambda x, y: _parts(cfft.rfft(x * y)),
    "rfft-odd": lambda x, y: _parts(cfft.rfft(x - y, 5, norm="ortho")),
    "irfft": lambda x, y: cfft.irfft(x + 1j * y),
    "irfft-odd": lambda x, y: cfft.irfft(x + 1j * y, 9, norm="forward"),
    "hfft": lambda x, y: cfft.hfft(x + 1j * y, 7),
    "ihfft": lambda x, y: _parts(cfft.ihfft(x * y, norm="ortho")),
    "fft2": lambda x, y: _parts(cfft.fft2(cnp.reshape(x + 1j * y, (2, 3)))),
    "rfft2": lambda x, y: _parts(cfft.rfft2(cnp.reshape(x * y, (3, 2)), norm="ortho")),
    "irfft2": lambda x, y: cfft.irfft2(cnp.reshape(x + 1j * y, (2, 3)), (2, 5)),
    "irfftn-axes10": lambda x, y: cfft.irfftn(cnp.reshape(x + 1j * y, (3, 2)), axes=(1, 0)),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_jvp_and_vjp_to_second_order(name):
    # JVP against central differences, <w, J v> == <J^T w, v>, and the same for the JVP and
    # VJP functions themselves (forward-over-forward ... reverse-over-reverse)
    check_jvp_vjp(FUNCTIONS[name], (RNG.standard_normal(6), RNG.standard_normal(6)), order=2, what=name)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_jacfwd_equals_jacrev(name):
    f = FUNCTIONS[name]
    args = (RNG.standard_normal(6), RNG.standard_normal(6))
    fwd, rev = cr.jacfwd(f, (0, 1))(*args), cr.jacrev(f, (0, 1))(*args)
    for a, b in zip(cr.tree_util.tree_leaves(fwd), cr.tree_util.tree_leaves(rev)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_hessian_of_spectral_loss():
    # sum |rfft(x)|^4 along a line, by the closed form of its second derivative
    x, v = RNG.standard_normal(6), RNG.standard_normal(6)
    f = lambda x: cnp.sum(cnp.abs(cfft.rfft(x)) ** 4)     # noqa: E731
    h = cr.hessian(f)(x)
    X, V = np.fft.rfft(x), np.fft.rfft(v)
    # d2/dt2 |X + tV|^4 at 0 = 4 |X|^2 (2 Re(conj X V)^... ) written out: a = |X|^2, b = 2 Re(conj(X) V)
    a, b, c = np.abs(X) ** 2, 2 * np.real(np.conj(X) * V), np.abs(V) ** 2
    np.testing.assert_allclose(v @ h @ v, np.sum(2 * b ** 2 + 4 * a * c), rtol=1e-10)
    np.testing.assert_allclose(h, h.T, rtol=1e-12, atol=1e-12)


def test_taylor_series_of_a_transform():
    # jet of f(x) = Re(R(x)^2 w), R = rfft, along x0 + t v + t^2 u / 2 (JAX's convention)
    x, v, u = RNG.standard_normal(6), RNG.standard_normal(6), RNG.standard_normal(6)
    f = lambda x: cnp.real(cfft.rfft(x) ** 2 * W4)          # noqa: E731
    out, (d1, d2) = cr.jet(f, (x,), ((v, u),))
    X, V, U = np.fft.rfft(x), np.fft.rfft(v), np.fft.rfft(u)
    np.testing.assert_allclose(out, np.real(X ** 2 * W4), rtol=1e-12)
    np.testing.assert_allclose(d1, np.real(2 * X * V * W4), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(d2, np.real(2 * (V * V + X * U) * W4), rtol=1e-12, atol=1e-13)


# -------------------------------------------------------------- vmap, jit ---

@pytest.mark.parametrize("in_axis", [0, 1, -1])
@pytest.mark.parametrize("name", ["fft", "rfft-odd", "irfft", "fft2", "rfft2", "irfftn-axes10"])
def test_vmap_equals_a_loop(name, in_axis):
    f = FUNCTIONS[name]
    xs, y = RNG.standard_normal((6, 3)) if in_axis else RNG.standard_normal((3, 6)), RNG.standard_normal(6)
    got = cr.vmap(f, in_axes=(in_axis, None))(xs, y)
    examples = [f(np.take(xs, i, axis=in_axis), y) for i in range(3)]
    for k, leaf in enumerate(cr.tree_util.tree_leaves(got)):
        want = np.stack([np.asarray(cr.tree_util.tree_leaves(e)[k]) for e in examples])
        np.testing.assert_allclose(leaf, want, rtol=1e-12, atol=1e-12)


def test_vmap_of_gradient_and_jacrev():
    f = _real_losses()["irfft-round-trip"]
    xs = RNG.standard_normal((4, 6))
    np.testing.assert_allclose(cr.vmap(cr.grad(f))(xs), np.stack([cr.grad(f)(x) for x in xs]), rtol=1e-12)
    g = FUNCTIONS["rfft2"]
    y = RNG.standard_normal(6)
    jac = cr.vmap(cr.jacrev(lambda x: g(x, y)))(xs)
    for i, x in enumerate(xs):
        want = cr.tree_util.tree_leaves(cr.jacfwd(lambda x: g(x, y))(x))
        for a, b in zip(cr.tree_util.tree_leaves(jac), want):
            np.testing.assert_allclose(a[i], b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_jit_equals_eager(name):
    f = FUNCTIONS[name]
    args = (RNG.standard_normal(6), RNG.standard_normal(6))
    want = f(*args)
    jf = cr.jit(f)
    for got in (jf(*args), jf(*args)):               # the second call runs the compiled code
        for a, b in zip(cr.tree_util.tree_leaves(got), cr.tree_util.tree_leaves(want)):
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)


def test_jit_of_gradient_equals_eager():
    for name in ["power", "rfft-odd-forward", "irfft-odd", "hfft", "ihfft"]:
        f = cr.grad(_real_losses()[name])
        x = RNG.standard_normal(6)
        jf = cr.jit(f)
        want = f(x)
        for got in (jf(x), jf(x)):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)
        if name not in ("hfft", "rfft-odd-forward"):     # linear losses: constant gradients, folded
            assert "_np.fft." in jf.source(x), "the dedicated emitters write NumPy's fft calls"


# ------------------------------------------------------- NumPy dispatch ---

def test_numpy_fft_on_traced_values_dispatches():
    x = RNG.standard_normal(6)

    def f(x):
        return np.sum(np.abs(np.fft.fft(x)) ** 2) + np.sum(np.real(np.fft.rfft2(np.reshape(x, (2, 3))) ** 2)) \
            + np.sum(np.fft.irfft(np.fft.rfft(x), 6) * np.fft.fftshift(x))

    want = np.sum(np.abs(np.fft.fft(x)) ** 2) + np.sum(np.real(np.fft.rfft2(x.reshape(2, 3)) ** 2)) \
        + np.sum(np.fft.irfft(np.fft.rfft(x), 6) * np.fft.fftshift(x))
    val, g = cr.value_and_grad(f)(x)
    np.testing.assert_allclose(val, want, rtol=1e-12)
    np.testing.assert_allclose(g, fd_grad(f, x), rtol=1e-6, atol=1e-7)
    jf = cr.jit(f)
    for got in (jf(x), jf(x)):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    # keywords and positions as NumPy has them
    out = cr.jvp(lambda x: np.fft.ifft(x, 8, -1, "ortho"), (x,), (x,))[1]
    _close(out, np.fft.ifft(x, 8, -1, "ortho"))
    out = cr.jvp(lambda x: np.fft.rfftn(np.reshape(x, (2, 3)), axes=(0,), norm="forward"), (x,), (x,))[1]
    _close(out, np.fft.rfftn(x.reshape(2, 3), axes=(0,), norm="forward"))


# --------------------------------------------------------------- errors ---

def test_out_is_refused_naming_the_function():
    x = RNG.standard_normal(4)
    for name in ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft", "fft2", "ifft2", "fftn", "ifftn", "rfft2",
                 "irfft2", "rfftn", "irfftn"]:
        arg = x.reshape(2, 2) if name[-1] in "2n" else x
        with pytest.raises(TypeError, match=rf"fft\.{name}: out= is not supported"):
            getattr(cfft, name)(arg, out=np.empty(8, complex))
    with pytest.raises(TypeError, match=r"fft\.fft: out="):        # through NumPy's dispatch too
        cr.grad(lambda x: np.sum(np.abs(np.fft.fft(x, out=np.empty(4, complex)))))(x)
    with pytest.raises(TypeError, match="fft"):
        cfft.fft(x, inverse=True)                              # not a NumPy keyword
    assert cfft.fft(x, out=None).shape == (4,)                 # NumPy's default is harmless


def test_bad_arguments_are_refused():
    x = RNG.standard_normal(4)
    with pytest.raises(ValueError, match=r"fft\.fft: invalid norm 'unitary'"):
        cfft.fft(x, norm="unitary")
    with pytest.raises(ValueError, match=r"invalid number of FFT data points \(0\)"):
        cfft.fft(x, 0)
    with pytest.raises(ValueError, match="invalid number"):
        cfft.irfft(np.ones(1, complex))                        # 2 (m - 1) = 0 points
    with pytest.raises(TypeError, match=r"fft\.rfft: the input must be real"):
        cfft.rfft(x + 1j)
    with pytest.raises(ValueError, match="shape and axes have different lengths"):
        cfft.fftn(np.ones((2, 2)), s=(2,), axes=(0, 1))
    with pytest.raises(ValueError, match="out of bounds"):
        cfft.fft(x, axis=1)
    with pytest.warns(DeprecationWarning, match="axes"):
        cfft.fftn(np.ones((2, 2)), s=(2,))


# ------------------------------------------------------------------ JAX ---

@pytest.fixture(scope="module")
def jnp():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    return jax, jnp


def _jax_twin(src, lib):
    """The same loss written against `lib` (chainrule.numpy or jax.numpy)."""
    F = lib.fft
    return {
        "fft-power": lambda x: lib.sum(lib.abs(F.fft(x, 9, norm="ortho")) ** 2),
        "fft-weighted": lambda x: lib.sum(lib.real(F.ifft(x) * W6)),
        "rfft": lambda x: lib.sum(lib.real(F.rfft(x, 7) * W4) ** 3),
        "irfft": lambda x: lib.sum(lib.sin(F.irfft(F.rfft(x) * W4, 5, norm="forward"))),
        "hfft": lambda x: lib.sum(F.hfft(F.fft(x)[:4] * W4) * lib.arange(6.0)),
        "ihfft": lambda x: lib.sum(lib.abs(F.ihfft(x ** 2)) ** 2),
        "rfft2": lambda x: lib.sum(lib.abs(F.rfft2(lib.reshape(x, (2, 3)), (3, 4))) ** 2),
        "irfftn": lambda x: lib.sum(F.irfftn(F.fftn(lib.reshape(x, (2, 3))), (2, 5), axes=(1, 0)) ** 2),
        "shift": lambda x: lib.sum(lib.real(F.fftshift(F.fft(x)) * W6)),
    }[src]


@pytest.mark.parametrize("name", ["fft-power", "fft-weighted", "rfft", "irfft", "hfft", "ihfft", "rfft2",
                                  "irfftn", "shift"])
def test_value_and_gradient_agree_with_jax(name, jnp):
    jax, jnp_ = jnp
    x = RNG.standard_normal(6)
    ours = cr.value_and_grad(_jax_twin(name, cnp))(x)
    theirs = jax.value_and_grad(_jax_twin(name, jnp_))(x)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-11)
    np.testing.assert_allclose(ours[1], np.asarray(theirs[1]), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cr.hessian(_jax_twin(name, cnp))(x),
                               np.asarray(jax.hessian(_jax_twin(name, jnp_))(x)), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("which", ["fft", "ifft", "irfft", "hfft", "fft2"])
def test_complex_input_gradients_follow_jax_convention(which, jnp):
    # a real loss of a complex input: chainrule's cotangent convention is JAX's
    jax, jnp_ = jnp
    z = _c(2, 4)

    def loss(lib):
        F = lib.fft
        t = {"fft": lambda z: F.fft(z, 5), "ifft": lambda z: F.ifft(z, norm="ortho"),
             "irfft": lambda z: F.irfft(z, 7), "hfft": lambda z: F.hfft(z), "fft2": lambda z: F.fft2(z)}[which]
        return lambda z: lib.sum(lib.abs(t(z) * 1.5 + 0.5) ** 2)
    np.testing.assert_allclose(cr.grad(loss(cnp))(z), np.asarray(jax.grad(loss(jnp_))(z)), rtol=1e-10, atol=1e-12)
    # and a holomorphic function's derivative
    h = lambda lib: lambda z: lib.sum(lib.fft.fft(z * z, axis=0) * W4)      # noqa: E731
    np.testing.assert_allclose(cr.grad(h(cnp), holomorphic=True)(z),
                               np.asarray(jax.grad(h(jnp_), holomorphic=True)(z)), rtol=1e-10, atol=1e-12)
