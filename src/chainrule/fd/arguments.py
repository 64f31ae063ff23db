"""The methods and their limits, the checks of every argument, and the step: the automatic
one (the optimum of truncation against round-off) or the caller's, validated and rounded
so that x + step is exact."""

from __future__ import annotations

import numpy as np

EPS = float(np.finfo(np.float64).eps)

#: The finite-difference methods understood by this module.
METHODS = ("forward", "backward", "central", "complex", "richardson")

_MAX_ORDER = 4
_CENTRAL_ACCURACIES = (2, 4, 6, 8)
_MAX_ONE_SIDED_ACCURACY = 8
_MAX_RICHARDSON_TERMS = 10

# Complex step, first derivative.  Truncation error is h**2 |f'''| / 6, so any
# h below ~1e-8 is already exact in float64; 1e-20 is the customary choice
# (small enough for any reasonable f''', large enough that h*f' does not
# underflow for |f'| > 1e-280).
_COMPLEX_STEP_1 = 1e-20

# Complex step, second derivative (45-degree formula).  Truncation error is
# h**4 |f^(6)| / 360; the imaginary parts being combined are ~h*f' each and
# cancel, so round-off is ~eps*|f'|/h to eps*|f|/h**2.  Balancing the worse
# case gives h ~ eps**(1/6) ~ 2.5e-3 and an error ~ eps**(2/3) ~ 4e-11,
# still better than the eps**(1/2) of a central real stencil.
_COMPLEX_STEP_2 = EPS ** (1.0 / 6.0)


def _as_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return int(value)


def _check_method(method) -> str:
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(
            f"unknown method {method!r}; valid methods are: " + ", ".join(repr(m) for m in METHODS)
        )
    return method


def _check_order(order, method: str) -> int:
    order = _as_int(order, "order")
    if not 1 <= order <= _MAX_ORDER:
        raise ValueError(f"order must be between 1 and {_MAX_ORDER}, got {order}")
    if method == "complex" and order > 2:
        raise ValueError(
            f"the complex step supports derivative orders 1 and 2 only, got {order}; "
            "use 'central' or 'richardson' for higher orders"
        )
    return order


def _check_accuracy(accuracy, method: str) -> int:
    if method == "complex":
        return 0  # the complex step has a fixed formula; accuracy is not used
    accuracy = _as_int(accuracy, "accuracy")
    if method in ("central", "richardson"):
        if accuracy not in _CENTRAL_ACCURACIES:
            raise ValueError(
                f"accuracy for {method!r} must be one of {_CENTRAL_ACCURACIES} "
                f"(central stencils have even order), got {accuracy}"
            )
    elif not 1 <= accuracy <= _MAX_ONE_SIDED_ACCURACY:
        raise ValueError(
            f"accuracy for {method!r} must be between 1 and {_MAX_ONE_SIDED_ACCURACY}, got {accuracy}"
        )
    return accuracy


def _check_terms(terms, method: str) -> int:
    if method != "richardson":
        return 1
    terms = _as_int(terms, "richardson_terms")
    if not 2 <= terms <= _MAX_RICHARDSON_TERMS:
        raise ValueError(
            f"richardson_terms must be between 2 and {_MAX_RICHARDSON_TERMS}, got {terms}"
        )
    return terms


def _auto_step(method: str, order: int, accuracy: int, levels: int) -> float:
    """Step for ``|x| <= 1``; callers multiply by ``max(|x|, 1)``."""
    if method in ("forward", "backward", "central"):
        # Minimise C h**p + eps/h**m  ->  h ~ eps**(1/(p+m)).
        return EPS ** (1.0 / (accuracy + order))
    if method == "complex":
        return _COMPLEX_STEP_1 if order == 1 else _COMPLEX_STEP_2
    # Richardson.  The extrapolated result is a stencil of accuracy
    # q = p + 2(L-1) whose smallest step is h_min = h0 / 2**(L-1); its error
    # is ~ (h_min/ell)**q (truncation, ell = length scale on which f varies)
    # plus ~ eps / h_min**m (round-off, the extrapolation weights only
    # amplify it by ~1.5).  For ell = 1 the optimum is h_min ~ eps**(1/(q+m));
    # we take a quarter of that so that functions varying on a scale of
    # ~1/4 (cos(3x), exp(2x), log near 0.3) still sit at the optimum, which
    # costs functions of unit scale at most a factor 4**m in round-off.
    # For the default L=3, p=2 this gives h0 ~ 0.006 (m=1) to 0.03 (m=4);
    # the classical "start at 0.1" leaves truncation errors of ~1e-8
    # relative on sin(x) - 2 cos(3x) exp(-x**2), this choice ~1e-13.
    q = accuracy + 2 * (levels - 1)
    return min(2.0 ** (levels - 1) * EPS ** (1.0 / (q + order)) / 4.0, 0.5)


def _resolve_step(step, method, order, accuracy, levels, scale: np.ndarray) -> np.ndarray:
    if isinstance(step, str):
        if step != "auto":
            raise ValueError(f"step must be 'auto' or a positive number, got {step!r}")
        return _auto_step(method, order, accuracy, levels) * scale
    try:
        s = np.asarray(step, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"step must be 'auto' or a positive finite number, got {step!r}") from exc
    if s.size == 0 or not np.all(np.isfinite(s)):
        raise ValueError(f"step must be finite, got {step!r}")
    if np.any(s <= 0):
        raise ValueError(f"step must be positive, got {step!r}")
    try:
        return np.broadcast_to(s, scale.shape).astype(float)
    except ValueError as exc:
        raise ValueError(
            f"step of shape {s.shape} does not broadcast to x of shape {scale.shape}"
        ) from exc


def _representable(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Round h so that x + h is exact: h <- (x + h) - x (a standard trick that
    removes the error of the perturbed point from the difference)."""
    hh = (x + h) - x
    if np.any(hh <= 0):
        raise ValueError(
            "step is too small to perturb x in float64 (x + step == x); "
            "use a larger step"
        )
    return hh


def _as_real_point(x, name: str = "x") -> np.ndarray:
    if np.iscomplexobj(x):
        raise ValueError(f"{name} must be real")
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a real number or array, got {x!r}") from exc
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {x!r}")
    return arr
