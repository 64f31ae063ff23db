"""Discrete Fourier transforms: three linear primitives, each with all its rules.

- ``fft`` (params axes, inverse, norm): the complex n-dimensional transform over `axes`;
- ``rfft`` (axes, norm): real input, the last of `axes` keeps its n//2 + 1 bins;
- ``irfft`` (axes, lengths, norm): the inverse of rfft, real output of `lengths`.

Inputs arrive already padded or cut to their transform lengths (`chainrule.numpy.fft`
does that with pad and getitem), so each primitive is one NumPy call.

Cotangents follow chainrule's convention for complex values (that of `real`, `imag`,
`multiply`): the pairing is ``Re(sum(ct * dz))``, without conjugation, so the VJP of a
complex-linear map is its plain transpose.  The DFT matrix is symmetric, hence fft's
transpose is fft itself.  rfft and irfft are only real-linear; with ``w`` the weight of a
half-spectrum bin (1 for the DC and Nyquist bins, 2 for the others, which stand for a
bin and its mirror image) and norms swapped (backward <-> forward, so the scale stays):

    rfft^T(g)  = irfft(conj(g) / w)        irfft^T(g) = w * conj(rfft(g))

irfft ignores the imaginary parts of the DC and Nyquist bins, as the transpose of rfft
must.  The two are each other's transposes, so every derivative order is these three.
"""
from __future__ import annotations

import numpy as np

from ..core import Primitive, bind, shape_of
from ..rules import deflinear, batch_rules, taylor_rules, emit_rules
from . import batch_rules as B
from . import elementwise as E
from . import series as T

NORMS = ("backward", "ortho", "forward")
_SWAP = {"backward": "forward", "ortho": "ortho", "forward": "backward"}


def _fft_impl(x, axes, inverse, norm):
    return (np.fft.ifftn if inverse else np.fft.fftn)(x, axes=axes, norm=norm)


def _rfft_impl(x, axes, norm):
    return np.fft.rfftn(x, axes=axes, norm=norm)


def _irfft_impl(x, axes, lengths, norm):
    return np.fft.irfftn(x, s=lengths, axes=axes, norm=norm)


def _half_weights(n, axis, ndim):
    """1 / w for the n//2 + 1 bins of a real length-n transform, shaped to broadcast along
    `axis` of an ndim-dimensional value (from the right: vmap appends nothing there)."""
    w = np.full(n // 2 + 1, 2.0)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    return w.reshape((n // 2 + 1,) + (1,) * (ndim - 1 - axis))


def fftn(x, axes, inverse, norm):
    return bind(fft_p, x, axes=tuple(axes), inverse=bool(inverse), norm=norm)


def rfftn(x, axes, norm):
    return bind(rfft_p, x, axes=tuple(axes), norm=norm)


def irfftn(x, axes, lengths, norm):
    return bind(irfft_p, x, axes=tuple(axes), lengths=tuple(lengths), norm=norm)


def _rfft_transpose(g, ans, x, axes, norm):
    xs = shape_of(x)
    a = axes[-1]
    scaled = E.conj(g) * (1.0 / _half_weights(xs[a], a, len(xs)))
    return irfftn(scaled, axes, tuple(xs[i] for i in axes), _SWAP[norm])


def _irfft_transpose(g, ans, x, axes, lengths, norm):
    a = axes[-1]
    ct = E.conj(rfftn(g, axes, _SWAP[norm])) * _half_weights(lengths[-1], a, len(shape_of(g)))
    return E.unbroadcast(x, ct)             # a real input's cotangent is real


def _axes_batch(p):
    """The batch axis is never transformed: renumber `axes` around it."""
    def rule(args, bdims, axes, **params):
        (x,), (d,) = args, bdims
        return bind(p, x, axes=tuple(B.ex_to_batched(a, d) for a in axes), **params), d
    return rule


def _ints(t):
    return repr(tuple(int(n) for n in t))


def _check_norm(norm):
    if norm not in NORMS:                   # params reach generated code: never a user repr
        raise ValueError(f"norm must be one of {NORMS}, not {norm!r}")
    return repr(norm)


fft_p = Primitive("fft", _fft_impl)
deflinear(fft_p, lambda g, ans, x, axes, inverse, norm: E.unbroadcast(x, fftn(g, axes, inverse, norm)))
batch_rules[fft_p] = _axes_batch(fft_p)
taylor_rules[fft_p] = T.linear(fft_p)
emit_rules[fft_p] = lambda args, ctx, axes, inverse, norm: (
    f"_np.fft.{'ifftn' if inverse else 'fftn'}({args[0]}, axes={_ints(axes)}, norm={_check_norm(norm)})")

rfft_p = Primitive("rfft", _rfft_impl)
deflinear(rfft_p, _rfft_transpose)
batch_rules[rfft_p] = _axes_batch(rfft_p)
taylor_rules[rfft_p] = T.linear(rfft_p)
emit_rules[rfft_p] = lambda args, ctx, axes, norm: (
    f"_np.fft.rfftn({args[0]}, axes={_ints(axes)}, norm={_check_norm(norm)})")

irfft_p = Primitive("irfft", _irfft_impl)
deflinear(irfft_p, _irfft_transpose)
batch_rules[irfft_p] = _axes_batch(irfft_p)
taylor_rules[irfft_p] = T.linear(irfft_p)
emit_rules[irfft_p] = lambda args, ctx, axes, lengths, norm: (
    f"_np.fft.irfftn({args[0]}, s={_ints(lengths)}, axes={_ints(axes)}, norm={_check_norm(norm)})")
