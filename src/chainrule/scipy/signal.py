"""`chainrule.scipy.signal`: differentiable convolution and linear filtering with SciPy's names.

`convolve`/`correlate` (N-D, modes 'full', 'same', 'valid'; method 'direct' or 'fft'),
`fftconvolve` (with `axes`), `convolve2d`/`correlate2d` (with `boundary` and `fillvalue`)
and `lfilter`.  The direct method is one gather of shifted windows and one matmul, the FFT
method `chainrule.numpy.fft.rfftn`/`irfftn` (or the complex transforms), so both are
differentiable in both inputs and trace under `jit` and `vmap`.  `lfilter` with a
denominator runs the direct form II transposed recurrence as one `chainrule.scan` over
time (differentiable in b, a, x and zi); an FIR filter (len(a) == 1, no zi) is a gather.
`lfilter_zi`, `filtfilt` (method 'pad') and `savgol_coeffs`/`savgol_filter` are composed
from these (pad, gather, matmul, lfilter).
"""
from __future__ import annotations

import numpy as _np

from .. import numpy as cnp
from ..control_flow import scan
from ..core import dtype_of, shape_of

__all__ = ["convolve", "correlate", "fftconvolve", "convolve2d", "correlate2d", "lfilter",
           "choose_conv_method"]

_MODES = ("full", "same", "valid")
_DIRECT_LIMIT = 1 << 16      # 'auto' picks 'direct' while out.size * kernel.size is below this


# ------------------------------------------------------------- helpers ---

def _array(a):
    a = cnp.asarray(a)
    return cnp.astype(a, _np.float64) if dtype_of(a).kind == "b" else a


def _check_mode(mode, name):
    if mode not in _MODES:
        raise ValueError(f"{name}: acceptable mode flags are 'valid', 'same', or 'full' "
                         f"(got {mode!r})")


def _swap_needed(mode, s1, s2, axes, name):
    """SciPy's rule for 'valid': one input must be at least as large as the other on every
    (convolved) axis; True when in2 is the larger one."""
    if mode != "valid":
        return False
    if all(s1[d] >= s2[d] for d in axes):
        return False
    if all(s2[d] >= s1[d] for d in axes):
        return True
    raise ValueError(f"{name}: for 'valid' mode, one must be at least as large as the other "
                     f"in every dimension (shapes {tuple(s1)} and {tuple(s2)})")


def _region(mode, n, m):
    """(start, size) of the output inside the full convolution, per axis."""
    if mode == "full":
        return [0] * len(n), [a + b - 1 for a, b in zip(n, m)]
    if mode == "same":
        return [(b - 1) // 2 for b in m], list(n)
    return [b - 1 for b in m], [a - b + 1 for a, b in zip(n, m)]


def _gather_conv(padded, v, starts, sizes):
    """out[o] = sum_k padded[o - k + (m - 1)] * v[k] for o in the box starts + [0, sizes):
    `padded` is the first input extended by m - 1 on each side of every axis."""
    m = shape_of(v)
    P = shape_of(padded)
    strides = _np.cumprod((1,) + tuple(P[::-1]))[:-1][::-1]
    nd = len(m)
    idx = _np.zeros((1,) * (2 * nd), _np.int64)
    for d in range(nd):
        o = starts[d] + _np.arange(sizes[d])
        k = _np.arange(m[d])
        shape = [1] * (2 * nd)
        shape[d], shape[nd + d] = sizes[d], m[d]
        p = (o[:, None] - k[None, :] + m[d] - 1)
        p = p.reshape([sizes[d] if i == d else 1 for i in range(nd)] +
                      [m[d] if i == d else 1 for i in range(nd)])
        idx = idx + p * int(strides[d])
    total_out, total_k = int(_np.prod(sizes)), int(_np.prod(m))
    idx = _np.broadcast_to(idx, tuple(sizes) + tuple(m)).reshape(total_out, total_k)
    win = cnp.take(cnp.reshape(padded, (-1,)), idx)
    return cnp.reshape(cnp.matmul(win, cnp.reshape(v, (-1,))), tuple(sizes))


def _common(in1, in2, name):
    in1, in2 = _array(in1), _array(in2)
    if cnp.ndim(in1) != cnp.ndim(in2):
        raise ValueError(f"{name}: in1 and in2 should have the same dimensionality "
                         f"(got {cnp.ndim(in1)} and {cnp.ndim(in2)})")
    dt = _np.result_type(dtype_of(in1), dtype_of(in2))
    return cnp.astype(in1, dt), cnp.astype(in2, dt), dt


def _empty(in1, in2):
    return cnp.ndim(in1) > 0 and (cnp.size(in1) == 0 or cnp.size(in2) == 0)


def _flip_conj(v):
    v = cnp.flip(v, tuple(range(cnp.ndim(v)))) if cnp.ndim(v) else v
    return cnp.conj(v) if dtype_of(v).kind == "c" else v


# ---------------------------------------------------------- convolution ---

def choose_conv_method(in1, in2, mode="full", measure=False):
    """'direct' for integer data or small problems, else 'fft' (a size rule, no timing)."""
    if measure:
        raise NotImplementedError("choose_conv_method: measure=True is not supported")
    _check_mode(mode, "choose_conv_method")
    in1, in2, dt = _common(in1, in2, "choose_conv_method")
    if dt.kind in "iu" or cnp.ndim(in1) == 0:
        return "direct"
    s1, s2 = shape_of(in1), shape_of(in2)
    if _swap_needed(mode, s1, s2, range(len(s1)), "choose_conv_method"):
        s1, s2 = s2, s1
    _, sizes = _region(mode, s1, s2)
    return "direct" if int(_np.prod(sizes)) * int(_np.prod(s2)) <= _DIRECT_LIMIT else "fft"


def convolve(in1, in2, mode="full", method="auto"):
    """`scipy.signal.convolve`: N-dimensional convolution; 'same' is centred on in1's shape."""
    _check_mode(mode, "convolve")
    if method not in ("auto", "direct", "fft"):
        raise ValueError(f"convolve: acceptable method flags are 'auto', 'direct', or 'fft' "
                         f"(got {method!r})")
    in1, in2, dt = _common(in1, in2, "convolve")
    if cnp.ndim(in1) == 0:
        return in1 * in2
    if _empty(in1, in2):
        return _np.zeros(0, dt)
    if method == "auto":
        method = choose_conv_method(in1, in2, mode)
    if method == "fft":
        return fftconvolve(in1, in2, mode)
    s1, s2 = shape_of(in1), shape_of(in2)
    if _swap_needed(mode, s1, s2, range(len(s1)), "convolve"):
        in1, in2, s1, s2 = in2, in1, s2, s1
    starts, sizes = _region(mode, s1, s2)
    if mode == "valid":    # the box never leaves in1: no padding, the box shifted by m - 1
        return _gather_conv(in1, in2, [0] * len(s1), sizes)
    return _gather_conv(cnp.pad(in1, [(b - 1, b - 1) for b in s2]), in2, starts, sizes)


def correlate(in1, in2, mode="full", method="auto"):
    """`scipy.signal.correlate`: z[k] = sum_l in1[l + k - shift] conj(in2[l]), i.e. the
    convolution of in1 with in2 reversed and conjugated."""
    _check_mode(mode, "correlate")
    in1, in2, _ = _common(in1, in2, "correlate")
    if cnp.ndim(in2) == 0:
        return in1 * (cnp.conj(in2) if dtype_of(in2).kind == "c" else in2)
    return convolve(in1, _flip_conj(in2), mode, method)


def _axes(axes, nd, name):
    if axes is None:
        return list(range(nd))
    axes = [axes] if isinstance(axes, (int, _np.integer)) else list(axes)
    out = []
    for a in axes:
        if not -nd <= a < nd:
            raise ValueError(f"{name}: axis {a} is out of bounds for arrays of dimension {nd}")
        out.append(a % nd)
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: axes must be unique, got {axes}")
    return sorted(out)


def fftconvolve(in1, in2, mode="full", axes=None):
    """`scipy.signal.fftconvolve`: convolution over `axes` (default all) by FFTs; the other
    axes broadcast (sizes equal or 1)."""
    _check_mode(mode, "fftconvolve")
    in1, in2, dt = _common(in1, in2, "fftconvolve")
    if cnp.ndim(in1) == 0:
        return in1 * in2
    if _empty(in1, in2):
        return _np.zeros(0, dt)
    nd = cnp.ndim(in1)
    ax = _axes(axes, nd, "fftconvolve")
    s1, s2 = shape_of(in1), shape_of(in2)
    for d in range(nd):
        if d not in ax and s1[d] != s2[d] and 1 not in (s1[d], s2[d]):
            raise ValueError(f"fftconvolve: incompatible shapes for in1 and in2: {tuple(s1)} and "
                             f"{tuple(s2)} (axes not convolved must match or be 1)")
    if _swap_needed(mode, s1, s2, ax, "fftconvolve"):
        in1, in2, s1, s2 = in2, in1, s2, s1
    full = [s1[d] + s2[d] - 1 for d in ax]
    if dt.kind == "c":
        out = cnp.fft.ifftn(cnp.fft.fftn(in1, full, ax) * cnp.fft.fftn(in2, full, ax), full, ax)
    else:
        if dt.kind in "iu":
            in1, in2 = cnp.astype(in1, _np.float64), cnp.astype(in2, _np.float64)
        out = cnp.fft.irfftn(cnp.fft.rfftn(in1, full, ax) * cnp.fft.rfftn(in2, full, ax), full, ax)
    if mode == "full":
        return out
    starts, sizes = _region(mode, [s1[d] for d in ax], [s2[d] for d in ax])
    index = [slice(None)] * nd
    if mode == "same":     # as SciPy: centred on in1's shape, the broadcast axes too
        for d in range(nd):
            if d not in ax:
                st = (shape_of(out)[d] - s1[d]) // 2
                index[d] = slice(st, st + s1[d])
    for d, st, sz in zip(ax, starts, sizes):
        index[d] = slice(st, st + sz)
    return out[tuple(index)]


_BOUNDARY = {"fill": "constant", "pad": "constant", "wrap": "wrap", "circular": "wrap",
             "symm": "symmetric", "symmetric": "symmetric"}


def _conv2d(in1, in2, mode, boundary, fillvalue, name, flip):
    _check_mode(mode, name)
    if boundary not in _BOUNDARY:
        raise ValueError(f"{name}: acceptable boundary flags are 'fill', 'wrap' and 'symm' "
                         f"(got {boundary!r})")
    in1, in2, dt = _common(in1, in2, name)
    if cnp.ndim(in1) != 2:
        raise ValueError(f"{name} inputs must both be 2-D arrays (got {cnp.ndim(in1)}-D)")
    if cnp.ndim(fillvalue) != 0:
        raise ValueError(f"{name}: fillvalue must be a scalar")
    s1, s2 = shape_of(in1), shape_of(in2)
    swap = _swap_needed(mode, s1, s2, (0, 1), name)
    if swap:
        in1, in2, s1, s2 = in2, in1, s2, s1
    if _empty(in1, in2):
        return _np.zeros((0, 0), dt)
    kernel = _flip_conj(in2) if flip else in2
    starts, sizes = _region(mode, s1, s2)
    if flip and mode == "same":    # SciPy centres correlate2d's 'same' output at m // 2
        starts = [b // 2 for b in s2]
    widths = [(b - 1, b - 1) for b in s2]
    pmode = _BOUNDARY[boundary]
    if pmode == "constant":
        padded = cnp.pad(in1, widths, constant_values=fillvalue) if mode != "valid" else \
            cnp.pad(in1, widths)
    else:
        padded = cnp.pad(in1, widths, mode=pmode)
    out = _gather_conv(padded, kernel, starts, sizes)
    return cnp.flip(out, (0, 1)) if (swap and flip) else out


def convolve2d(in1, in2, mode="full", boundary="fill", fillvalue=0):
    """`scipy.signal.convolve2d`: 2-D convolution with in1 extended by `boundary` ('fill'
    with `fillvalue`, 'wrap' periodic, 'symm' mirrored with the edge repeated)."""
    return _conv2d(in1, in2, mode, boundary, fillvalue, "convolve2d", flip=False)


def correlate2d(in1, in2, mode="full", boundary="fill", fillvalue=0):
    """`scipy.signal.correlate2d`: 2-D cross-correlation (in2 reversed and conjugated), with
    `boundary` as in `convolve2d`."""
    return _conv2d(in1, in2, mode, boundary, fillvalue, "correlate2d", flip=True)


# ----------------------------------------------------------- filtering ---

def _coefficients(v, name):
    v = _array(v)
    if cnp.ndim(v) == 0:
        v = cnp.reshape(v, (1,))
    if cnp.ndim(v) != 1:
        raise ValueError(f"lfilter: {name} must be a 1-D sequence, got shape {shape_of(v)}")
    if shape_of(v)[0] == 0:
        raise ValueError(f"lfilter: {name} must not be empty")
    return v


def lfilter(b, a, x, axis=-1, zi=None):
    """`scipy.signal.lfilter`: y = (b / a)(z) x along `axis` (direct form II transposed).

    With `zi` (initial state, x's shape with `axis` of length max(len(a), len(b)) - 1)
    returns (y, zf).  The recurrence is one `scan` over time.
    """
    b, a = _coefficients(b, "b"), _coefficients(a, "a")
    x = _array(x)
    if cnp.ndim(x) == 0:
        raise ValueError("lfilter: x must be at least 1-dimensional")
    nd = cnp.ndim(x)
    if not -nd <= axis < nd:
        raise ValueError(f"lfilter: axis {axis} is out of bounds for x of dimension {nd}")
    axis %= nd
    if bool(cnp.equal(cnp.stop_gradient(a[0]), 0)):
        raise ValueError("lfilter: the leading denominator coefficient a[0] must not be zero")
    dt = _np.result_type(dtype_of(b), dtype_of(a), dtype_of(x), _np.float64)
    b, a, x = cnp.astype(b, dt), cnp.astype(a, dt), cnp.astype(x, dt)
    K = max(shape_of(a)[0], shape_of(b)[0])
    b = cnp.pad(b, [(0, K - shape_of(b)[0])]) / a[0]
    a = cnp.pad(a, [(0, K - shape_of(a)[0])]) / a[0]
    xt = cnp.moveaxis(x, axis, 0)
    T, rest = shape_of(xt)[0], tuple(shape_of(xt)[1:])
    if zi is not None:
        zi = cnp.moveaxis(cnp.astype(_array(zi), dt), axis, 0) if cnp.ndim(zi) == nd else None
        if zi is None or tuple(shape_of(zi)) != (K - 1,) + rest:
            want = list(shape_of(x))
            want[axis] = K - 1
            raise ValueError(f"lfilter: zi must have shape {tuple(want)} (x's shape with axis "
                             f"{axis} of length max(len(a), len(b)) - 1)")
    if K == 1:
        y = b[0] * xt
        zf = _np.zeros((0,) + rest, dt)
    elif zi is None and _fir(a):
        # FIR: y[t] = sum_k b[k] x[t - k], one gather of the zero-padded signal and a matmul
        xl = cnp.moveaxis(xt, 0, -1)
        xp = cnp.pad(xl, [(0, 0)] * len(rest) + [(K - 1, 0)])
        idx = _np.arange(T)[:, None] - _np.arange(K)[None, :] + K - 1
        y = cnp.moveaxis(cnp.matmul(xp[..., idx], b), -1, 0)
        zf = None
    else:
        bcol = cnp.reshape(b[1:], (K - 1,) + (1,) * len(rest))
        acol = cnp.reshape(a[1:], (K - 1,) + (1,) * len(rest))
        tail = _np.zeros((1,) + rest, dt)
        b0 = b[0]

        def step(z, xk):
            yk = b0 * xk + z[0]
            z = bcol * xk + cnp.concatenate([z[1:], tail], axis=0) - acol * yk
            return z, yk
        z0 = _np.zeros((K - 1,) + rest, dt) if zi is None else zi
        zf, y = scan(step, z0, xt)
    y = cnp.moveaxis(y, 0, axis)
    if zi is None:
        return y
    return y, cnp.moveaxis(zf, 0, axis)


def _fir(a):
    """True when a = (a0, 0, 0, ...) on constants (a traced denominator always scans)."""
    if isinstance(a, _np.ndarray):
        return bool(_np.all(a[1:] == 0))
    return False


# ------------------------------------------------------ zero-phase filtering ---

__all__ += ["lfilter_zi", "filtfilt", "savgol_coeffs", "savgol_filter"]


def lfilter_zi(b, a):
    """`scipy.signal.lfilter_zi`: the state of `lfilter` (direct form II transposed) in the
    steady state of a unit step, zi[i] = sum_{j > i} (b[j] - a[j] y) with y = sum(b) / sum(a)
    (coefficients divided by a[0]); differentiable in b and a."""
    b, a = _coefficients(b, "b"), _coefficients(a, "a")
    if bool(cnp.equal(cnp.stop_gradient(a[0]), 0)):
        raise ValueError("lfilter_zi: the leading denominator coefficient a[0] must not be zero")
    dt = _np.result_type(dtype_of(b), dtype_of(a), _np.float64)
    b, a = cnp.astype(b, dt), cnp.astype(a, dt)
    K = max(shape_of(a)[0], shape_of(b)[0])
    b = cnp.pad(b, [(0, K - shape_of(b)[0])]) / a[0]
    a = cnp.pad(a, [(0, K - shape_of(a)[0])]) / a[0]
    if K == 1:
        return _np.zeros(0, dt)
    y = cnp.sum(b) / cnp.sum(a)
    terms = (b - a * y)[1:]
    return cnp.flip(cnp.cumsum(cnp.flip(terms, 0)), 0)


def _take(x, start, stop, axis, step=1):
    idx = [slice(None)] * cnp.ndim(x)
    idx[axis] = slice(start, stop, step)
    return x[tuple(idx)]


def _extend(x, n, padtype, axis):
    """SciPy's odd, even and constant extensions of x by n samples at both ends of `axis`."""
    if n == 0:
        return x
    first, last = _take(x, 0, 1, axis), _take(x, -1, None, axis)
    if padtype == "constant":
        shape = list(shape_of(x))
        shape[axis] = n
        ones = _np.ones(shape)
        left, right = first * ones, last * ones
    else:
        left = cnp.flip(_take(x, 1, n + 1, axis), axis)
        right = cnp.flip(_take(x, -n - 1, -1, axis), axis)
        if padtype == "odd":
            left, right = 2.0 * first - left, 2.0 * last - right
    return cnp.concatenate([left, x, right], axis=axis)


def filtfilt(b, a, x, axis=-1, padtype="odd", padlen=None, method="pad", irlen=None):
    """`scipy.signal.filtfilt` (method='pad'): `lfilter` forward, then backward, from the
    steady state `lfilter_zi` scaled by the first sample of each pass, on x extended by
    `padlen` samples (default 3 max(len(a), len(b))) of type `padtype` ('odd', 'even',
    'constant' or None); zero phase, the filter's gain squared."""
    if method != "pad":
        raise NotImplementedError(f"filtfilt: method={method!r} is not implemented (only method='pad'; "
                                  "Gustafsson's method 'gust' is not)")
    if irlen is not None:
        raise NotImplementedError("filtfilt: irlen applies to method='gust', which is not implemented")
    if padtype not in ("odd", "even", "constant", None):
        raise ValueError(f"filtfilt: unknown value {padtype!r} given to padtype; padtype must be "
                         "'odd', 'even', 'constant', or None")
    b, a = _coefficients(b, "b"), _coefficients(a, "a")
    x = _array(x)
    nd = cnp.ndim(x)
    if nd == 0:
        raise ValueError("filtfilt: x must be at least 1-dimensional")
    if not -nd <= axis < nd:
        raise ValueError(f"filtfilt: axis {axis} is out of bounds for x of dimension {nd}")
    axis %= nd
    ntaps = max(shape_of(a)[0], shape_of(b)[0])
    edge = 0 if padtype is None else (3 * ntaps if padlen is None else int(padlen))
    if edge < 0:
        raise ValueError(f"filtfilt: padlen must be non-negative, got {padlen}")
    if shape_of(x)[axis] <= edge:
        raise ValueError(f"filtfilt: the length of the input vector x must be greater than padlen, "
                         f"which is {edge}")
    ext = _extend(x, edge, padtype, axis)
    zi = lfilter_zi(b, a)
    shape = [1] * nd
    shape[axis] = ntaps - 1
    zi = cnp.reshape(zi, tuple(shape))
    y, _ = lfilter(b, a, ext, axis=axis, zi=zi * _take(ext, 0, 1, axis))
    y, _ = lfilter(b, a, cnp.flip(y, axis), axis=axis, zi=zi * _take(y, -1, None, axis))
    y = cnp.flip(y, axis)
    n = shape_of(y)[axis]
    return _take(y, edge, n - edge, axis) if edge else y


_SAVGOL_MODES = {"mirror": "reflect", "nearest": "edge", "wrap": "wrap", "constant": "constant",
                 "interp": None}


def _savgol_check(window_length, polyorder, deriv):
    for name, v in (("window_length", window_length), ("polyorder", polyorder), ("deriv", deriv)):
        if not isinstance(v, (int, _np.integer)) or isinstance(v, bool):
            raise TypeError(f"savgol: {name} must be an integer, got {v!r}")
    if window_length < 1:
        raise ValueError(f"savgol: window_length must be positive, got {window_length}")
    if polyorder < 0 or polyorder >= window_length:
        raise ValueError(f"savgol: polyorder must be less than window_length "
                         f"(got polyorder={polyorder}, window_length={window_length})")
    if deriv < 0:
        raise ValueError(f"savgol: deriv must be non-negative, got {deriv}")


def _fit_matrix(t, polyorder, deriv, delta, at):
    """The matrix M with M @ samples = the deriv-th derivative, at the points `at`, of the
    least-squares polynomial of degree polyorder through (t, samples), divided by delta^deriv."""
    scale = max(float(_np.max(_np.abs(t))), 1.0)
    V = _np.vander(t / scale, polyorder + 1, increasing=True)
    pinv = _np.linalg.pinv(V)                                      # (polyorder + 1, len(t))
    j = _np.arange(polyorder + 1)
    fall = _np.ones(polyorder + 1)
    for m in range(deriv):
        fall = fall * (j - m)
    powers = _np.clip(j - deriv, 0, None)
    D = _np.where(j >= deriv, fall, 0.0) * (_np.asarray(at, float)[:, None] / scale) ** powers
    return (D @ pinv) / (scale ** deriv * float(delta) ** deriv)


def savgol_coeffs(window_length, polyorder, deriv=0, delta=1.0, pos=None, use="conv"):
    """`scipy.signal.savgol_coeffs`: the filter that evaluates the least-squares polynomial
    (or its deriv-th derivative) of each window at position pos (default its middle)."""
    _savgol_check(window_length, polyorder, deriv)
    if use not in ("conv", "dot"):
        raise ValueError(f"savgol_coeffs: use must be 'conv' or 'dot', got {use!r}")
    if pos is None:
        pos = window_length // 2 if window_length % 2 else window_length / 2 - 0.5
    if not 0 <= pos < window_length:
        raise ValueError("savgol_coeffs: pos must be nonnegative and less than window_length")
    t = _np.arange(window_length) - float(pos)
    h = _fit_matrix(t, polyorder, deriv, delta, [0.0])[0] if deriv <= polyorder else _np.zeros(window_length)
    return h[::-1] if use == "conv" else h


def savgol_filter(x, window_length, polyorder, deriv=0, delta=1.0, axis=-1, mode="interp", cval=0.0):
    """`scipy.signal.savgol_filter`: a Savitzky-Golay filter along `axis`, linear in x: one
    gather of windows and a matmul, the edges by `mode` ('mirror', 'nearest', 'wrap',
    'constant' with `cval`, or 'interp': the polynomial fitted to the first / last window)."""
    if mode not in _SAVGOL_MODES:
        raise ValueError(f"savgol_filter: mode must be 'mirror', 'constant', 'nearest', 'wrap' or "
                         f"'interp', got {mode!r}")
    _savgol_check(window_length, polyorder, deriv)
    x = _array(x)
    if dtype_of(x).kind not in "f":
        x = cnp.astype(x, _np.float64)
    nd = cnp.ndim(x)
    if nd == 0:
        raise ValueError("savgol_filter: x must be at least 1-dimensional")
    if not -nd <= axis < nd:
        raise ValueError(f"savgol_filter: axis {axis} is out of bounds for x of dimension {nd}")
    xl = cnp.moveaxis(x, axis, -1)
    n, w = shape_of(xl)[-1], window_length
    if mode == "interp" and w > n:
        raise ValueError("savgol_filter: if mode is 'interp', window_length must be less than or "
                         f"equal to the size of x (got window_length={w}, size {n})")
    h = savgol_coeffs(w, polyorder, deriv, delta, use="dot")
    left = (w - 1) // 2                                 # samples before the output point
    widths = [(0, 0)] * (nd - 1) + [(left, w - 1 - left)]
    if mode in ("interp", "constant"):
        xp = cnp.pad(xl, widths, constant_values=cval if mode == "constant" else 0.0)
    else:
        xp = cnp.pad(xl, widths, mode=_SAVGOL_MODES[mode])
    idx = _np.arange(n)[:, None] + _np.arange(w)[None, :]
    y = cnp.matmul(xp[..., idx], h)
    if mode == "interp":
        half = w // 2
        t = _np.arange(w, dtype=float)
        if deriv > polyorder:
            m_left = m_right = _np.zeros((half, w))
        else:
            m_left = _fit_matrix(t, polyorder, deriv, delta, t[:half])
            m_right = _fit_matrix(t, polyorder, deriv, delta, t[w - half:])
        y_left = cnp.matmul(xl[..., :w], m_left.T)
        y_right = cnp.matmul(xl[..., n - w:], m_right.T)
        y = cnp.concatenate([y_left, y[..., half:n - half], y_right], axis=-1)
    return cnp.moveaxis(y, -1, axis)
