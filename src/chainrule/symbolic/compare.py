"""Derivatives three ways -- autodiff, SymPy, finite differences -- as a table: :func:`compare`."""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from .trace import _count_ops, to_sympy
from .values import _const, _sympy


@dataclass
class ComparisonRow:
    """One technique's result in a :class:`Comparison`."""

    key: str                 # "autodiff", "taylor", "sympy", "fd"
    method: str              # human-readable label
    value: float | None      # None: the technique did not run (see `note`)
    abs_error: float | None  # |value - exact|
    rel_error: float | None  # abs_error / |exact|
    size: int | None         # see size_unit
    size_unit: str
    seconds: float | None
    note: str = ""


@dataclass
class Comparison:
    """The result of :func:`compare`; ``str()`` gives an aligned table."""

    function: str
    x: float
    order: int
    exact: Any                       # SymPy's value (a 30-digit SymPy Float)
    derivative: Any                  # SymPy's expression of the derivative
    rows: list = field(default_factory=list)
    guards: list = field(default_factory=list)

    def __getitem__(self, key):
        for r in self.rows:
            if r.key == key:
                return r
        raise KeyError(key)

    def __str__(self):
        def fmt(v, spec):
            return "-" if v is None else format(v, spec)

        def fmt_err(r):
            if r.value is None or r.abs_error is None:
                return "-"
            return "0 (exact)" if r.key == "sympy" else format(r.abs_error, ".2e")

        head = (f"{_ordinal(self.order)} derivative of {self.function} at x = {self.x!r}; "
                f"exact (SymPy) = {_exact_str(self.exact)}")
        cols = ["method", "value", "abs error", "rel error", "size", "time"]
        body = []
        for r in self.rows:
            size = "-" if r.size is None else f"{r.size} {r.size_unit}"
            t = "-" if r.seconds is None else _fmt_time(r.seconds)
            rel = "-" if r.value is None or r.rel_error is None else (
                "0" if r.key == "sympy" else format(r.rel_error, ".1e"))
            body.append([r.method, fmt(r.value, ".16g"), fmt_err(r), rel, size, t, r.note])
        widths = [max(len(c), *(len(b[i]) for b in body)) for i, c in enumerate(cols)]
        header = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cols, widths))]
        lines = [head, "  ".join(header),
                 "  ".join("-" * w for w in widths)]
        for b in body:
            cells = [b[i].ljust(widths[i]) if i == 0 else b[i].rjust(widths[i]) for i in range(6)]
            line = "  ".join(cells)
            if b[6]:
                line += "  " + b[6]
            lines.append(line)
        if self.guards:
            lines.append("SymPy's expression holds where: " + ", ".join(map(str, self.guards)))
        lines.append("size: autodiff = primitive operations evaluated on values that depend on x; "
                     "SymPy = count_ops of the derivative; FD = evaluations of f")
        return "\n".join(lines)


def _exact_str(v):
    try:
        return str(_sympy().N(v, 20))
    except (TypeError, ValueError):  # pragma: no cover
        return str(v)


def _ordinal(n):
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _fmt_time(s):
    if s < 1e-3:
        return f"{s * 1e6:.0f} us"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def _best_time(fn, repeat):
    best, out = None, None
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return out, best


def compare(f: Callable, x, order: int = 1, names=None, args: Sequence = (),
            repeat: int = 3, fd_method: str = "richardson") -> Comparison:
    """The `order`-th derivative of scalar ``f(x, *args)`` at `x`, three ways.

    * **autodiff**: ``chainrule.grad`` nested `order` times (and Taylor mode,
      ``chainrule.derivative(f, order)``, where it is implemented); size = the
      number of primitive operations evaluated on values that depend on x;
    * **SymPy**: :func:`to_sympy`, ``sympy.diff`` `order` times, then exact
      evaluation at x (the float x's exact binary value) to 30 digits -- the
      reference value; size = ``sympy.count_ops`` of the derivative;
    * **finite differences**: ``chainrule.fd.derivative(..., method=fd_method)``
      where ``chainrule.fd`` supports the order (skipped otherwise); size = the
      number of function evaluations.

    `names` names the arguments for SymPy: by default ``("x",)`` with `args`
    passed as numbers; ``names=("x", "a", "b", "m")`` keeps the extra
    arguments symbolic while SymPy differentiates (they are substituted only
    to evaluate), which is what makes a symbolic derivative swell.  Times are
    the best of `repeat` runs for autodiff and FD, one run for SymPy (trace,
    differentiate, evaluate).  Returns a :class:`Comparison`; print it for
    the table.
    """
    import chainrule as cr
    sp = _sympy()
    order = int(order)
    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    x = float(x)
    args = tuple(args)
    if names is None:
        names = ("x",)
    elif isinstance(names, str):
        names = (names,)
    names = tuple(names)
    if not 1 <= len(names) <= 1 + len(args):
        raise ValueError(f"compare: names {names} must name x and at most the {len(args)} extra args")
    fname = getattr(f, "__name__", "f")
    fname = "f" if fname == "<lambda>" else fname
    rows = []

    # -- SymPy (the reference)
    t0 = time.perf_counter()
    sym_names = list(names) + list(args[len(names) - 1:])
    point = {n: v for n, v in zip(names, (x,) + args)}
    expr, guards = to_sympy(f, *sym_names, return_guards=True, **point)
    xs = sp.Symbol(names[0])
    d = sp.diff(expr, xs, order)
    subs = {sp.Symbol(n): (sp.Rational(Fraction(v)) if isinstance(v, float) else _const(v))
            for n, v in point.items()}
    exact = sp.N(d.subs(subs), 30)
    t_sym = time.perf_counter() - t0
    try:
        exact_f = float(exact)
    except TypeError:
        exact_f = math.nan
    if len(str(expr)) <= 40:
        fname = str(expr)
    rows.append(ComparisonRow("sympy", "SymPy (diff)", exact_f, 0.0, 0.0, int(sp.count_ops(d)),
                              "ops", t_sym))

    def errors(v):
        if v is None or not math.isfinite(exact_f):
            return None, None
        ae = abs(float(sp.Float(v, 30) - exact))
        return ae, (ae / abs(exact_f) if exact_f else None)

    # -- autodiff: nested grad
    def autodiff_row(key, label, make):
        try:
            dfn = make()
            v, t = _best_time(lambda: float(dfn(x)), repeat)
        except NotImplementedError as exc:
            return ComparisonRow(key, label, None, None, None, None, "", None, f"skipped: {exc}")
        except Exception as exc:  # noqa: BLE001 - reported in the table
            return ComparisonRow(key, label, None, None, None, None, "", None,
                                 f"failed: {type(exc).__name__}: {exc}")
        ae, re_ = errors(v)
        try:
            n_ops = _count_ops(dfn, x)
        except Exception:  # noqa: BLE001 - the size is optional
            n_ops = None
        return ComparisonRow(key, label, v, ae, re_, n_ops, "ops", t)

    def nested_grad():
        g = f
        for _ in range(order):
            g = cr.grad(g)
        return lambda t_: g(t_, *args)

    rows.insert(0, autodiff_row("autodiff", f"autodiff (grad x{order})", nested_grad))
    rows.insert(1, autodiff_row("taylor", "autodiff (Taylor)",
                                lambda: cr.derivative(lambda t_: f(t_, *args), order)))

    # -- finite differences
    label = f"finite diff ({fd_method})"
    try:
        from .. import fd as _fd
        fd_derivative = _fd.derivative
    except (ImportError, AttributeError):
        rows.append(ComparisonRow("fd", label, None, None, None, None, "", None,
                                  "skipped: chainrule.fd not available"))
    else:
        try:
            res, t = _best_time(lambda: fd_derivative(lambda t_: f(t_, *args), x, order=order,
                                                     method=fd_method), repeat)
            v = float(res.value)
            ae, re_ = errors(v)
            est = getattr(res, "error", None)
            rows.append(ComparisonRow("fd", label, v, ae, re_, getattr(res, "nfev", None), "evals",
                                      t, "" if est is None else f"(estimated error {float(est):.1e})"))
        except (ValueError, NotImplementedError) as exc:
            rows.append(ComparisonRow("fd", label, None, None, None, None, "", None,
                                      f"skipped: {exc}"))
        except Exception as exc:  # noqa: BLE001 - reported in the table
            rows.append(ComparisonRow("fd", label, None, None, None, None, "", None,
                                      f"failed: {type(exc).__name__}: {exc}"))
    return Comparison(fname, x, order, exact, d, rows, guards)
