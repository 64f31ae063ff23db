"""`chainrule.numpy.fft`: differentiable discrete Fourier transforms with NumPy's signatures.

The transforms are the three linear primitives of `chainrule.ops.fft` (complex, real to
half-spectrum, half-spectrum to real); `n` / `s` pad with zeros or cut the input first, as
NumPy does.  fftshift/ifftshift are gathers; fftfreq/rfftfreq return NumPy arrays.  A
keyword NumPy has but chainrule cannot honour (a real ``out=``) is refused, never dropped.
"""
from __future__ import annotations

import warnings

import numpy as _np

from ..core import Tracer, bind, shape_of, dtype_of
from ..ops import elementwise as _E, fft as _F, shape as _S

__all__ = ["fft", "ifft", "rfft", "irfft", "fft2", "ifft2", "fftn", "ifftn", "rfft2", "irfft2",
           "rfftn", "irfftn", "hfft", "ihfft", "fftshift", "ifftshift", "fftfreq", "rfftfreq"]


# ------------------------------------------------------------- helpers ---

def _check(name, norm, out):
    """NumPy's norm (None means "backward"); out= cannot hold a traced result."""
    if out is not None:
        raise TypeError(f"chainrule.numpy.fft.{name}: out= is not supported (a traced result "
                        "cannot be written into a NumPy array); use the returned value")
    norm = "backward" if norm is None else norm
    if norm not in _F.NORMS:
        raise ValueError(f'chainrule.numpy.fft.{name}: invalid norm {norm!r}; use "backward", '
                         '"ortho" or "forward"')
    return norm


def _array(a, real=False, name=""):
    """`a` as a floating (real=True) or complex value of NumPy's result precision."""
    if not isinstance(a, Tracer):
        a = _np.asarray(a)
    dt = dtype_of(a)
    if real:
        if dt.kind == "c":
            raise TypeError(f"chainrule.numpy.fft.{name}: the input must be real, got dtype {dt} "
                            "(use fft for complex input)")
        target = _np.result_type(dt, _np.float32) if dt.kind == "f" else _np.dtype(_np.float64)
    else:
        target = _np.result_type(dt, _np.complex64) if dt.kind in "fc" else _np.dtype(_np.complex128)
    return _S.astype(a, target)


def _fit(x, axis, n, name):
    """x zero-padded or cut to length n along `axis`."""
    n = int(n)
    if n < 1:
        raise ValueError(f"chainrule.numpy.fft.{name}: invalid number of FFT data points ({n}) specified")
    have = shape_of(x)[axis]
    if n < have:
        return _S.getitem(x, (slice(None),) * axis + (slice(0, n),))
    if n > have:
        widths = tuple((0, n - have) if i == axis else (0, 0) for i in range(len(shape_of(x))))
        return bind(_S.pad_p, x, widths=widths)
    return x


def _axes_lengths(name, x, s, axes, last_default=None):
    """NumPy's (s, axes) as non-negative axes and lengths; `last_default(m)` gives the last
    length when s is not given (irfft's 2 (m - 1))."""
    nd = len(shape_of(x))
    if axes is None:
        if s is not None:
            warnings.warn("`axes` should not be `None` if `s` is not `None` (Deprecated in NumPy "
                          "2.0); chainrule transforms the last len(s) axes, as NumPy does now",
                          DeprecationWarning, stacklevel=4)
            axes = range(nd - len(s), nd)
        else:
            axes = range(nd)
    elif isinstance(axes, (int, _np.integer)):
        raise TypeError(f"chainrule.numpy.fft.{name}: axes must be a sequence of ints, not {axes!r}")
    axes = tuple(_S.normalize_axis(a, nd) for a in axes)
    if s is None:
        lengths = [shape_of(x)[a] for a in axes]
        if last_default is not None and axes:
            lengths[-1] = last_default(shape_of(x)[axes[-1]])
    else:
        if len(s) != len(axes):
            raise ValueError(f"chainrule.numpy.fft.{name}: shape and axes have different lengths")
        lengths = [shape_of(x)[a] if n is None or int(n) == -1 else int(n) for a, n in zip(axes, s)]
        if last_default is not None and axes and (s[-1] is None or int(s[-1]) == -1):
            lengths[-1] = last_default(shape_of(x)[axes[-1]])
    return axes, tuple(lengths)


def _irfft_default(m):
    return 2 * (m - 1)


# ---------------------------------------------------------- transforms ---

def _c2c(name, a, s, axes, norm, out, inverse):
    norm = _check(name, norm, out)
    x = _array(a, name=name)
    axes, lengths = _axes_lengths(name, x, s, axes)
    if not axes:                            # NumPy returns the input itself
        return a if isinstance(a, Tracer) else _np.asarray(a)
    if len(set(axes)) < len(axes):          # NumPy transforms a repeated axis repeatedly
        for ax, n in reversed(list(zip(axes, lengths))):
            x = _F.fftn(_fit(x, ax, n, name), (ax,), inverse, norm)
        return x
    for ax, n in zip(axes, lengths):
        x = _fit(x, ax, n, name)
    return _F.fftn(x, axes, inverse, norm)


def _r2c(name, a, s, axes, norm, out):
    norm = _check(name, norm, out)
    x = _array(a, real=True, name=name)
    axes, lengths = _axes_lengths(name, x, s, axes)
    if not axes:
        raise ValueError(f"chainrule.numpy.fft.{name}: at least one axis must be transformed")
    if len(set(axes)) < len(axes):
        y = _F.rfftn(_fit(x, axes[-1], lengths[-1], name), axes[-1:], norm)
        return _c2c(name, y, lengths[:-1], axes[:-1], norm, None, False)
    for ax, n in zip(axes, lengths):
        x = _fit(x, ax, n, name)
    return _F.rfftn(x, axes, norm)


def _c2r(name, a, s, axes, norm, out):
    norm = _check(name, norm, out)
    x = _array(a, name=name)
    axes, lengths = _axes_lengths(name, x, s, axes, _irfft_default)
    if not axes:
        raise ValueError(f"chainrule.numpy.fft.{name}: at least one axis must be transformed")
    last, n = axes[-1], lengths[-1]
    if n < 1:
        raise ValueError(f"chainrule.numpy.fft.{name}: invalid number of data points ({n}) specified")
    if len(set(axes)) < len(axes):
        x = _c2c(name, x, lengths[:-1], axes[:-1], norm, None, True)
        return _F.irfftn(_fit(x, last, n // 2 + 1, name), (last,), (n,), norm)
    for ax, k in zip(axes[:-1], lengths[:-1]):
        x = _fit(x, ax, k, name)
    return _F.irfftn(_fit(x, last, n // 2 + 1, name), axes, lengths, norm)


def _one(n):
    return None if n is None else (n,)


def fft(a, n=None, axis=-1, norm=None, out=None):
    """`numpy.fft.fft`: the 1-D discrete Fourier transform."""
    return _c2c("fft", a, _one(n), (axis,), norm, out, False)


def ifft(a, n=None, axis=-1, norm=None, out=None):
    """`numpy.fft.ifft`: the 1-D inverse transform."""
    return _c2c("ifft", a, _one(n), (axis,), norm, out, True)


def fft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    return _c2c("fft2", a, s, axes, norm, out, False)


def ifft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    return _c2c("ifft2", a, s, axes, norm, out, True)


def fftn(a, s=None, axes=None, norm=None, out=None):
    """`numpy.fft.fftn`: the transform over `axes` (all by default)."""
    return _c2c("fftn", a, s, axes, norm, out, False)


def ifftn(a, s=None, axes=None, norm=None, out=None):
    return _c2c("ifftn", a, s, axes, norm, out, True)


def rfft(a, n=None, axis=-1, norm=None, out=None):
    """`numpy.fft.rfft`: the n//2 + 1 non-negative frequencies of a real input's transform."""
    return _r2c("rfft", a, _one(n), (axis,), norm, out)


def irfft(a, n=None, axis=-1, norm=None, out=None):
    """`numpy.fft.irfft`: the real signal of length n (2 (m - 1) by default) of a half spectrum."""
    return _c2r("irfft", a, _one(n), (axis,), norm, out)


def rfft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    return _r2c("rfft2", a, s, axes, norm, out)


def irfft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    return _c2r("irfft2", a, s, axes, norm, out)


def rfftn(a, s=None, axes=None, norm=None, out=None):
    return _r2c("rfftn", a, s, axes, norm, out)


def irfftn(a, s=None, axes=None, norm=None, out=None):
    return _c2r("irfftn", a, s, axes, norm, out)


def hfft(a, n=None, axis=-1, norm=None, out=None):
    """`numpy.fft.hfft`: the real transform of a signal with Hermitian symmetry (its half)."""
    norm = _check("hfft", norm, out)
    return _c2r("hfft", _E.conj(_array(a, name="hfft")), _one(n), (axis,), _F._SWAP[norm], None)


def ihfft(a, n=None, axis=-1, norm=None, out=None):
    """`numpy.fft.ihfft`: the inverse of hfft (a half spectrum of a real input)."""
    norm = _check("ihfft", norm, out)
    return _E.conj(_r2c("ihfft", a, _one(n), (axis,), _F._SWAP[norm], None))


# ---------------------------------------------------- shifts, frequencies ---

def _shift(x, axes, sign):
    if not isinstance(x, Tracer):
        x = _np.asarray(x)
    nd = len(shape_of(x))
    axes = range(nd) if axes is None else (axes,) if isinstance(axes, (int, _np.integer)) else axes
    for a in [_S.normalize_axis(a, nd) for a in axes]:      # a repeated axis rolls again
        n = shape_of(x)[a]
        if n > 1:
            x = _S.take(x, _np.roll(_np.arange(n), sign * (n // 2)), axis=a)
    return x


def fftshift(x, axes=None):
    """`numpy.fft.fftshift`: the zero frequency moved to the centre (a roll by n // 2)."""
    return _shift(x, axes, 1)


def ifftshift(x, axes=None):
    """`numpy.fft.ifftshift`: fftshift undone (a roll by -(n // 2))."""
    return _shift(x, axes, -1)


def _freq(name, np_fn, n, d, device):
    if device not in (None, "cpu"):
        raise ValueError(f"chainrule.numpy.fft.{name}: device must be None or 'cpu', not {device!r}")
    if isinstance(d, Tracer):                 # a traced sample spacing: k / (n d)
        return np_fn(n) / d
    return np_fn(n, d)


def fftfreq(n, d=1.0, device=None):
    """`numpy.fft.fftfreq`: the sample frequencies (a NumPy array; a traced d divides them)."""
    return _freq("fftfreq", _np.fft.fftfreq, n, d, device)


def rfftfreq(n, d=1.0, device=None):
    """`numpy.fft.rfftfreq`: the non-negative sample frequencies."""
    return _freq("rfftfreq", _np.fft.rfftfreq, n, d, device)
