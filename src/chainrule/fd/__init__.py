"""Finite-difference derivatives, for comparison with automatic differentiation.

Automatic differentiation is exact up to round-off; finite differences are
not.  Their error has two parts that pull in opposite directions:

* **truncation** -- a stencil of accuracy ``p`` for the ``m``-th derivative
  drops Taylor terms of size ``C * h**p``;
* **round-off** -- each ``f`` value carries a relative error of about
  ``eps``, and the stencil divides by ``h**m``, so the result carries about
  ``eps * |f| / h**m``.

Minimising ``h**p + eps / h**m`` gives the optimal step
``h ~ eps**(1 / (p + m))`` (times the scale of ``x``), and an error of about
``eps**(p / (p + m))``.  :func:`derivative` picks that step by default and
returns an :class:`FDResult` with an error estimate, so the three techniques
of this library (AD, finite differences, symbolic) can be compared honestly.

Methods
-------
``"forward"``, ``"backward"``, ``"central"``
    Classical stencils on the integer grid ``x + k*h``.  The weights are
    obtained by solving the Taylor (Vandermonde) system exactly in rational
    arithmetic, see :func:`stencil_weights`.  ``accuracy`` is the order of the
    truncation error: 2, 4, 6 or 8 for central stencils, 1..8 for one-sided
    ones.
``"complex"``
    Complex step ``Im f(x + i h) / h``: no subtraction, hence no cancellation,
    so ``h = 1e-20`` gives derivatives accurate to machine precision.  Needs
    an analytic, complex-safe ``f``.  Order 2 uses the 45-degree complex-step
    formula ``Im[f(x + h w) + f(x - h w)] / h**2`` with ``w = exp(i pi/4)``.
``"richardson"``
    Central differences at steps ``h, h/2, h/4, ...`` combined by Richardson
    extrapolation, which removes the error terms ``h**p, h**(p+2), ...`` one
    level at a time.

Evaluation conventions
----------------------
:func:`derivative` first tries to evaluate ``f`` on all stencil points in one
call, ``f(np.array([...]))``; if that raises or returns an array of the wrong
shape it falls back to one call per point, with Python floats (or complex
numbers for the complex step).

The multivariate functions (:func:`gradient`, :func:`jacobian`,
:func:`hessian`, :func:`directional`) call ``f`` with arrays shaped like
``x``, one perturbed point per call, unless ``vectorized=True`` is passed: then
``f`` receives *all* perturbed points at once as an array of shape ``(k, n)``
(``n = x.size``, one point per row) and must return shape ``(k,)`` (scalar
``f``) or ``(k, m)`` (vector ``f``).

Every function counts the points it evaluates (``nfev``); a point where ``f``
returns NaN or inf triggers an :class:`FDWarning` naming the point, and the
error estimate of the affected result is set to ``inf``.
"""

from .arguments import EPS as EPS  # public, outside __all__ as before
from .arguments import METHODS
from .evaluators import FDWarning
from .grad_check import check_grads as check_grads  # chainrule.check_grads
from .multivariate import directional, gradient, hessian, jacobian
from .stencils import stencil_weights
from .univariate import FDResult, derivative, step_error_curve

__all__ = [
    "FDResult",
    "FDWarning",
    "METHODS",
    "derivative",
    "stencil_weights",
    "gradient",
    "jacobian",
    "hessian",
    "directional",
    "step_error_curve",
]
