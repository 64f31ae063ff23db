"""The tour: the blog post "High-performance derivative calculation techniques
for scientific computing", reproduced with chainrule.

    python -m chainrule tour [--out DIR] [--quick] [--no-figures] [--only 1,3,5]

Six sections, each printing a short table (and, when matplotlib is installed,
writing a PNG figure):

1. exp(2x): its exact derivative against forward differences, gamma = 0.5,
   0.1, 0.01.
2. Error against step of forward, central, complex-step and Richardson
   differences (the log-log V), autodiff's error drawn as a line.
3. The 6th derivative of (a x + b)^m: SymPy, nested ``grad``, Taylor mode.
4. f(x) = sin(x) - 2 cos(3x) exp(-x^2): f, f', Df (gamma = 0.1), grad f.
5. Python control flow under ``vmap(grad(f))``.
6. What each technique costs and how accurate it is on these examples.

Every printed number that has a closed form is compared with it; the tour
lists the comparisons that failed and exits with status 1 if there are any.
:func:`run` returns everything it computed as a dict, for tests.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import traceback
from fractions import Fraction

import numpy as np

import chainrule as cr

EPS = float(np.finfo(np.float64).eps)
SECTIONS = (1, 2, 3, 4, 5, 6)
DEFAULT_OUT = "tour-out"

# --------------------------------------------------------------------------
# The post's functions and their closed forms
# --------------------------------------------------------------------------


def exp2x(x):
    return np.exp(2 * x)


def exp2x_prime(x):
    return 2 * np.exp(2 * x)


def simple(x):
    """The post's simple example."""
    return np.sin(x) - 2 * np.cos(3 * x) * np.exp(-x**2)


def simple_prime(x):
    return np.cos(x) + 6 * np.sin(3 * x) * np.exp(-x**2) + 4 * x * np.cos(3 * x) * np.exp(-x**2)


def control_flow(x):
    """The post's control-flow example, Python `if` and `for` as written."""
    if x < 0:
        for i in range(3):
            x = x * 1.5 + 0.1 * i
        return x**2
    else:
        return sum(x**i + i for i in range(3))


# Unrolled by hand: x<0 -> (1.5 (1.5 (1.5 x) + 0.1) + 0.2)^2 = (3.375 x + 0.35)^2;
# x>=0 -> (1 + 0) + (x + 1) + (x^2 + 2) = x^2 + x + 4.
def control_flow_exact(x):
    x = np.asarray(x, dtype=float)
    return np.where(x < 0, (3.375 * x + 0.35) ** 2, x**2 + x + 4)


def control_flow_prime(x):
    x = np.asarray(x, dtype=float)
    return np.where(x < 0, 6.75 * (3.375 * x + 0.35), 2 * x + 1)


# (a x + b)^m and its n-th derivative m!/(m-n)! a^n (a x + b)^(m-n), in exact
# rational arithmetic.
POW_A, POW_B, POW_M, POW_X, POW_N = 2, 1, 10, Fraction(3, 10), 6


def power(x):
    return (POW_A * x + POW_B) ** POW_M


def power_nth_exact(n, a=POW_A, b=POW_B, m=POW_M, x=POW_X):
    if n > m:
        return Fraction(0)
    return Fraction(math.factorial(m), math.factorial(m - n)) * Fraction(a) ** n * (a * Fraction(x) + b) ** (m - n)


# --------------------------------------------------------------------------
# Small helpers: printing, checking, timing
# --------------------------------------------------------------------------


def _g(v, digits=4):
    """A number in a short, stable format."""
    if v is None:
        return "-"
    v = float(v)
    if v == 0:
        return "0"
    if 1e-3 <= abs(v) < 1e6:
        return f"{v:.{digits}g}"
    return f"{v:.{max(digits - 2, 1)}e}"


def _us(seconds):
    if seconds is None:
        return "-"
    us = seconds * 1e6
    if us < 10:
        return f"{us:.2f} us"
    if us < 10_000:
        return f"{us:.0f} us"
    return f"{us / 1000:.1f} ms"


def _table(rows, header, out):
    cols = [header] + [[str(c) for c in r] for r in rows]
    width = [max(len(r[i]) for r in cols) for i in range(len(header))]
    line = lambda r: "  " + "  ".join(c.ljust(w) for c, w in zip(r, width)).rstrip()  # noqa: E731
    out(line(header))
    out("  " + "  ".join("-" * w for w in width))
    for r in cols[1:]:
        out(line(r))


class Checks:
    """Comparisons of computed numbers with their closed forms."""

    def __init__(self):
        self.items = []
        self.section = 0

    def _add(self, name, ok, got, want, detail):
        self.items.append({"section": self.section, "name": name, "ok": bool(ok),
                           "got": got, "want": want, "detail": detail})
        return bool(ok)

    def close(self, name, got, want, rtol=1e-12, atol=0.0):
        """|got - want| <= atol + rtol |want|, elementwise; records the worst miss."""
        g = np.asarray(got, dtype=float)
        w = np.asarray(want, dtype=float)
        if g.shape != w.shape:
            return self._add(name, False, got, want, f"shape {g.shape} != {w.shape}")
        with np.errstate(invalid="ignore"):
            miss = np.abs(g - w) - (atol + rtol * np.abs(w))
        ok = bool(np.all(np.isfinite(g))) and bool(np.all(miss <= 0))
        detail = f"rtol={rtol:g}, atol={atol:g}"
        if not ok and g.size:
            k = int(np.nanargmax(np.where(np.isfinite(miss), miss, np.inf)))
            detail += f"; worst: got {g.flat[k]!r}, want {w.flat[k]!r}"
        return self._add(name, ok, _scalar(got), _scalar(want), detail)

    def below(self, name, got, bound):
        ok = bool(np.all(np.asarray(got, dtype=float) <= bound))
        return self._add(name, ok, _scalar(got), bound, f"<= {bound:g}")

    def that(self, name, ok, detail=""):
        return self._add(name, ok, None, None, detail)

    @property
    def failed(self):
        return [c for c in self.items if not c["ok"]]

    def mark(self, *oks):
        return "ok" if all(oks) else "FAILED"


def _scalar(v):
    a = np.asarray(v)
    return float(a) if a.ndim == 0 and a.dtype.kind in "biuf" else None


def _timeit(fn, quick, budget=None):
    """Median wall time of one call of fn (seconds): at least 3 calls, more
    while the budget lasts."""
    budget = (0.03 if quick else 0.3) if budget is None else budget
    times = []
    stop = time.perf_counter() + budget
    while len(times) < 3 or (time.perf_counter() < stop and len(times) < 200):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _grad_on_grid(f, xs, checks, label):
    """grad f at every point of xs, the way the post does it: vmap(grad(f)).

    Returns (values, how).  While vmap raises NotImplementedError this falls
    back to a Python loop of grad(f); it switches to vmap on its own once vmap
    works.  Any other error from vmap is a failed check (never hidden), and
    the loop still draws the figure.
    """
    g = cr.grad(f)
    try:
        vals = np.asarray(cr.vmap(g)(xs), dtype=float)
        if vals.shape != xs.shape:
            raise ValueError(f"vmap(grad(f)) returned shape {vals.shape}, expected {xs.shape}")
        return vals, "vmap(grad(f))"
    except NotImplementedError:
        how = f"Python loop of grad(f), {xs.size} calls (vmap: not available yet)"
    except Exception as exc:  # a real vmap bug: report it, keep going
        checks.that(f"{label}: vmap(grad(f)) runs", False, f"{type(exc).__name__}: {exc}")
        how = f"Python loop of grad(f), {xs.size} calls (vmap FAILED: {type(exc).__name__})"
    return np.array([float(g(float(x))) for x in xs]), how


def _matplotlib():
    """matplotlib's Figure class, or None.  Uses no pyplot state, so it is
    headless (Agg) and does not disturb an interactive session."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    return Figure


class _Tour:
    def __init__(self, out_dir, quick, figures, stream):
        self.out_dir = out_dir
        self.quick = quick
        self.stream = stream
        self.Figure = _matplotlib() if figures else None
        self.files = []
        self.checks = Checks()
        self.results = {}

    def say(self, text=""):
        print(text, file=self.stream, flush=True)

    def save(self, fig, name):
        os.makedirs(self.out_dir, exist_ok=True)
        path = os.path.join(self.out_dir, name)
        fig.savefig(path, dpi=80 if self.quick else 120)
        self.files.append(path)
        self.say(f"  figure: {path}")
        return path

    # ------------------------------------------------------------------ 1
    def section1(self):
        from chainrule import fd

        c, say = self.checks, self.say
        xs = np.linspace(-1.0, 1.0, 41 if self.quick else 201)
        exact = exp2x_prime(xs)
        ad = np.array([float(cr.grad(exp2x)(float(x))) for x in xs])
        ad_rel = float(np.max(np.abs(ad - exact) / np.abs(exact)))
        say("  Df(x) = (f(x + gamma) - f(x)) / gamma  against  f'(x) = 2 exp(2x),  x in [-1, 1]")
        say("  closed form: Df(x) / f'(x) - 1 = (exp(2 gamma) - 1) / (2 gamma) - 1 for every x")
        rows, res = [], {"x": xs, "exact": exact, "grad": ad, "Df": {}, "max_abs_error": {},
                         "rel_error": {}, "rel_error_exact": {}}
        for gamma in (0.5, 0.1, 0.01):
            r = fd.derivative(exp2x, xs, method="forward", accuracy=1, step=gamma)
            df = np.asarray(r.value, dtype=float)
            rel = float(np.max(np.abs(df - exact) / np.abs(exact)))
            rel_exact = math.expm1(2 * gamma) / (2 * gamma) - 1
            abs_err = float(np.max(np.abs(df - exact)))
            abs_exact = math.exp(2.0) * 2 * rel_exact  # largest at x = 1
            ok = (c.close(f"exp(2x): Df/f' - 1 at gamma={gamma}", rel, rel_exact, rtol=1e-6),
                  c.close(f"exp(2x): max|Df - f'| at gamma={gamma}", abs_err, abs_exact, rtol=1e-6),
                  c.close(f"exp(2x): Df at gamma={gamma} is the forward difference",
                          df, (exp2x(xs + gamma) - exp2x(xs)) / gamma, rtol=1e-9))
            rows.append([f"Df, gamma = {gamma}", _g(abs_err, 6), _g(abs_exact, 6), _g(rel, 6),
                         _g(rel_exact, 6), c.mark(*ok)])
            res["Df"][gamma] = df
            res["max_abs_error"][gamma] = abs_err
            res["rel_error"][gamma] = rel
            res["rel_error_exact"][gamma] = rel_exact
        ok = c.below("exp(2x): grad rel. error <= 2 eps", ad_rel, 2 * EPS)
        rows.append(["grad f (chainrule)", _g(np.max(np.abs(ad - exact)), 6), "0", _g(ad_rel, 6), "0",
                     c.mark(ok)])
        _table(rows, ["derivative", "max|error|", "closed form", "rel. error", "closed form", "check"], say)
        say(f"  (grad f is exact up to round-off: relative error <= 2 eps = {_g(2 * EPS, 2)})")
        res["grad_rel_error"] = ad_rel
        self.results["exp2x"] = res

        if self.Figure:
            fig = self.Figure(figsize=(7, 4.5))
            ax = fig.subplots()
            ax.plot(xs, exact, color="black", lw=2.5, label="f'(x) = 2 exp(2x) (exact)")
            for gamma, color in zip((0.5, 0.1, 0.01), ("tab:red", "tab:orange", "tab:green")):
                ax.plot(xs, res["Df"][gamma], "--", color=color, lw=1.6, label=f"Df, gamma = {gamma}")
            ax.plot(xs[::4], ad[::4], "o", ms=4, color="navy", label="grad f (chainrule)")
            ax.set(xlabel="x", ylabel="derivative", title="Finite differences are not autodiff: f(x) = exp(2x)")
            ax.grid(alpha=0.3)
            ax.legend()
            fig.tight_layout()
            self.save(fig, "1_exp2x_forward_differences.png")

    # ------------------------------------------------------------------ 2
    def section2(self):
        from chainrule import fd

        c, say = self.checks, self.say
        x0 = 0.5
        exact = float(exp2x_prime(x0))
        ad = float(cr.grad(exp2x)(x0))
        ad_err = abs(ad - exact)
        steps = np.logspace(-16, 0, 33 if self.quick else 65)
        say(f"  f(x) = exp(2x) at x = {x0}, exact f'(x) = {_g(exact, 12)}; {steps.size} steps from 1e-16 to 1")
        # Closed forms of each difference of exp(2x) at step h, relative to f(x) = e^(2x):
        # forward (e^(2h) - 1)/h, central sinh(2h)/h, complex step sin(2h)/h, and
        # Richardson on central differences with h, h/2, h/4: (64 D(h/4) - 20 D(h/2) + D(h)) / 45.
        D = lambda h: np.sinh(2 * h) / h  # noqa: E731
        closed = {
            "forward": lambda h: np.expm1(2 * h) / h,
            "central": D,
            "complex": lambda h: np.sin(2 * h) / h,
            "richardson": lambda h: (64 * D(h / 4) - 20 * D(h / 2) + D(h)) / 45,
        }
        # where truncation dominates round-off by orders of magnitude, so the
        # measured error equals the closed form's
        trunc_from = {"forward": 1e-3, "central": 1e-2, "complex": 1e-3, "richardson": 0.1}
        rows, res = [], {"x0": x0, "exact": exact, "grad": ad, "grad_error": ad_err, "steps": steps,
                         "errors": {}, "best_step": {}, "min_error": {}}
        expected_min = {"forward": 1e-6, "central": 1e-9, "complex": 4 * EPS * abs(exact),
                        "richardson": 1e-11}
        for method in ("forward", "central", "complex", "richardson"):
            h, err = fd.step_error_curve(exp2x, x0, exact, steps=steps, method=method)
            h, err = np.asarray(h, dtype=float), np.asarray(err, dtype=float)
            k = int(np.argmin(err))
            big = h >= trunc_from[method]
            closed_err = np.abs(math.exp(2 * x0) * closed[method](h[big]) - exact)
            ok = (c.close(f"step error of {method} = closed form for h >= {trunc_from[method]:g}",
                          err[big], closed_err, rtol=1e-5),
                  c.below(f"smallest {method} error", err[k], expected_min[method]))
            res["errors"][method] = err
            res["best_step"][method] = float(h[k])
            res["min_error"][method] = float(err[k])
            rows.append([method, _g(h[k], 2), _g(err[k], 3), _g(err[-1], 3), c.mark(*ok)])
        ok = c.below("autodiff error at x0 <= 2 ulp", ad_err, 2 * np.spacing(exact))
        rows.append(["autodiff (grad)", "no step", _g(ad_err, 3), "-", c.mark(ok)])
        _table(rows, ["method", "best step", "smallest |error|", "|error| at h = 1", "check"], say)
        say("  (|error| for large h matches each method's closed form; see the V in the figure)")
        self.results["fd_steps"] = res

        if self.Figure:
            fig = self.Figure(figsize=(7, 4.8))
            ax = fig.subplots()
            styles = {"forward": ("tab:red", "o"), "central": ("tab:orange", "s"),
                      "complex": ("tab:green", "^"), "richardson": ("tab:purple", "D")}
            for method, err in res["errors"].items():
                color, marker = styles[method]
                shown = np.where(err > 0, err, np.nan)  # exact hits have no logarithm
                label = method + (" (|error| = 0 at some steps: not drawn)" if np.any(err == 0) else "")
                ax.loglog(steps, shown, marker=marker, ms=3.5, lw=1.2, color=color, label=label)
            line = max(ad_err, EPS * abs(exact))
            note = f"{ad_err:.1e}" if ad_err > 0 else "0, drawn at eps |f'|"
            ax.axhline(line, color="navy", lw=2, label=f"autodiff (|error| = {note})")
            ax.set(xlabel="step h", ylabel="|error|", ylim=(1e-17 * abs(exact), 1e2 * abs(exact)),
                   title="Finite-difference error against step: exp(2x) at x = 0.5")
            ax.grid(alpha=0.3, which="both")
            ax.legend(loc="upper center", fontsize=8, framealpha=0.9)
            fig.tight_layout()
            self.save(fig, "2_fd_error_vs_step.png")

    # ------------------------------------------------------------------ 3
    def section3(self):
        c, say = self.checks, self.say
        n, x0 = POW_N, float(POW_X)
        exact_q = power_nth_exact(n)
        exact = float(exact_q)
        res = {"order": n, "x": x0, "exact": exact, "exact_fraction": exact_q}
        say(f"  g(x) = (a x + b)^m, a={POW_A}, b={POW_B}, m={POW_M}: d^{n}g/dx^{n} at x = {x0}")
        say(f"  exact  m!/(m-n)! a^n (a x + b)^(m-n) = {exact_q} = {exact:.12g}")

        # SymPy, as in the post: m, a, b symbolic.
        try:
            import sympy
        except ImportError:
            sympy = None
            say("  SymPy: not installed, skipped (pip install 'chainrule[tour]')")
        if sympy is not None:
            def symbolic():
                sympy.core.cache.clear_cache()  # time a cold computation every time
                m, a, b, x = sympy.symbols("m a b x")
                return (a * x + b) ** m, sympy.diff((a * x + b) ** m, (x, n)), (m, a, b, x)
            t_diff = _timeit(symbolic, self.quick, budget=0.2 if self.quick else 1.0)
            _, expr, (m, a, b, x) = symbolic()
            ops = int(sympy.count_ops(expr))
            subs = {m: POW_M, a: POW_A, b: POW_B, x: sympy.Rational(POW_X.numerator, POW_X.denominator)}
            t_eval = _timeit(lambda: expr.subs(subs), self.quick)
            value_q = expr.subs(subs)
            value_ok = c.that("SymPy 6th derivative = closed form (exact rational)",
                              Fraction(int(value_q.p), int(value_q.q)) == exact_q, str(value_q))
            res["sympy"] = {"expr": str(expr), "ops": ops, "seconds": t_diff, "eval_seconds": t_eval,
                            "value": float(value_q)}
            say(f"  SymPy: diff((a*x + b)**m, (x, {n})) =")
            say(f"      {expr}")
            say(f"    count_ops = {ops}; diff took {_us(t_diff)}, exact evaluation {_us(t_eval)}")
            say(f"    value = {float(value_q):.12g}  {c.mark(value_ok)}")

        rows = []
        if "sympy" in res:
            s = res["sympy"]
            rows.append(["SymPy diff + subs", f"{s['value']:.12g}", _g(abs(s["value"] - exact) / exact, 2),
                         _us(s["seconds"] + s["eval_seconds"]), c.mark(value_ok)])

        nested = power
        for _ in range(n):
            nested = cr.grad(nested)
        value = float(nested(x0))
        t_nested = _timeit(lambda: nested(x0), self.quick)
        ok = c.close("nested grad: 6th derivative", value, exact, rtol=1e-13)
        res["nested_grad"] = {"value": value, "seconds": t_nested}
        rows.append([f"nested grad x{n}", f"{value:.12g}", _g(abs(value - exact) / exact, 2),
                     _us(t_nested), c.mark(ok)])

        try:
            dn = cr.derivative(power, order=n)
            tvalue = float(dn(x0))
        except NotImplementedError:
            res["taylor"] = None
            res["taylor_note"] = "Taylor mode: not available yet"
            rows.append(["Taylor mode", "-", "-", "-", "n/a"])
        else:
            t_taylor = _timeit(lambda: dn(x0), self.quick)
            ok = c.close("Taylor mode: 6th derivative", tvalue, exact, rtol=1e-13)
            res["taylor"] = {"value": tvalue, "seconds": t_taylor}
            res["taylor_note"] = "Taylor mode: cr.derivative(g, order=6)"
            rows.append(["Taylor mode", f"{tvalue:.12g}", _g(abs(tvalue - exact) / exact, 2),
                         _us(t_taylor), c.mark(ok)])
        _table(rows, ["technique", "value", "rel. error", "time", "check"], say)
        if res["taylor"] is None:
            say("  Taylor mode: not available yet")
        self.results["nth"] = res

    # ------------------------------------------------------------------ 4
    def section4(self):
        from chainrule import fd

        c, say = self.checks, self.say
        xs = np.linspace(-5.0, 5.0, 100 if self.quick else 400)
        fx, exact = simple(xs), simple_prime(xs)
        r = fd.derivative(simple, xs, method="forward", accuracy=1, step=0.1)
        df = np.asarray(r.value, dtype=float)
        grads, how = _grad_on_grid(simple, xs, c, "simple example")
        scale = np.maximum(1.0, np.abs(exact))
        grad_err = float(np.max(np.abs(grads - exact)))
        df_err = float(np.max(np.abs(df - exact)))
        ok_df = c.close("simple: Df (gamma=0.1) is the forward difference", df,
                        (simple(xs + 0.1) - simple(xs)) / 0.1, rtol=1e-9, atol=1e-12)
        ok_grad = c.close("simple: grad f = exact f' on [-5, 5]", grads, exact, rtol=0, atol=1e-13 * scale.max())
        say("  f(x) = sin(x) - 2 cos(3x) exp(-x^2)")
        say("  f'(x) = cos(x) + 6 sin(3x) exp(-x^2) + 4x cos(3x) exp(-x^2)")
        say(f"  grad f over {xs.size} points in [-5, 5]: {how}")
        rows = []
        for x in (-2.0, -0.5, 0.5, 2.0):
            g = float(cr.grad(simple)(x))
            d = float(fd.derivative(simple, x, method="forward", accuracy=1, step=0.1).value)
            e = float(simple_prime(x))
            ok = (c.close(f"simple: grad f({x}) = f'({x})", g, e, rtol=1e-14, atol=1e-15),
                  c.close(f"simple: Df({x}) = (f(x + 0.1) - f(x)) / 0.1", d,
                          (simple(x + 0.1) - simple(x)) / 0.1, rtol=1e-9, atol=1e-12))
            rows.append([_g(x), f"{e:.12g}", f"{g:.12g}", f"{d:.6g}", c.mark(*ok)])
        _table(rows, ["x", "exact f'(x)", "grad f(x)", "Df, gamma = 0.1", "check"], say)
        say(f"  over the grid: max|grad f - f'| = {_g(grad_err, 2)} {c.mark(ok_grad)};"
            f"  max|Df - f'| = {_g(df_err, 3)} (Df matches its formula: {c.mark(ok_df)})")
        self.results["simple"] = {"x": xs, "f": fx, "exact": exact, "Df": df, "grad": grads, "how": how,
                                  "max_grad_error": grad_err, "max_fd_error": df_err}

        if self.Figure:
            fig = self.Figure(figsize=(7.5, 4.5))
            ax = fig.subplots()
            ax.plot(xs, fx, color="gray", lw=2, label="f(x)")
            ax.plot(xs, exact, color="black", lw=2.5, label="f'(x), exact")
            ax.plot(xs, df, "--", color="tab:orange", lw=1.6, label="Df, gamma = 0.1")
            ax.plot(xs, grads, ":", color="navy", lw=2.2, label="grad f (chainrule)")
            ax.set(xlabel="x", title="f(x) = sin(x) - 2 cos(3x) exp(-x^2)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=9)
            fig.tight_layout()
            self.save(fig, "4_simple_example.png")

    # ------------------------------------------------------------------ 5
    def section5(self):
        c, say = self.checks, self.say
        xs = np.linspace(-5.0, 5.0, 100)
        fx = np.array([float(control_flow(float(x))) for x in xs])
        grads, how = _grad_on_grid(control_flow, xs, c, "control flow")
        want_f, want_g = control_flow_exact(xs), control_flow_prime(xs)
        ok_f = c.close("control flow: f = closed form", fx, want_f, rtol=1e-14, atol=1e-14)
        ok_g = c.close("control flow: grad f = closed form", grads, want_g, rtol=1e-14, atol=1e-14)
        say("  def f(x):")
        say("      if x < 0:")
        say("          for i in range(3):")
        say("              x = x * 1.5 + 0.1 * i")
        say("          return x**2")
        say("      else:")
        say("          return sum(x**i + i for i in range(3))")
        say("  closed form: f = (3.375x + 0.35)^2 for x < 0, x^2 + x + 4 otherwise")
        say(f"  gradient at 100 points in [-5, 5]: {how}")
        rows = []
        for x in (-1.0, 2.0):
            v, g = float(control_flow(x)), float(cr.grad(control_flow)(x))
            e = float(control_flow_prime(x))
            ok = (c.close(f"control flow: f({x})", v, float(control_flow_exact(x)), rtol=1e-14),
                  c.close(f"control flow: grad f({x})", g, e, rtol=1e-14))
            rows.append([_g(x), f"{v:.10g}", f"{float(control_flow_exact(x)):.10g}", f"{g:.10g}", f"{e:.10g}",
                         c.mark(*ok)])
        _table(rows, ["x", "f(x)", "closed form", "grad f(x)", "closed form", "check"], say)
        say(f"  over the grid: max|f - closed form| = {_g(np.max(np.abs(fx - want_f)), 2)} {c.mark(ok_f)};"
            f"  max|grad f - closed form| = {_g(np.max(np.abs(grads - want_g)), 2)} {c.mark(ok_g)}")
        self.results["control_flow"] = {"x": xs, "f": fx, "grad": grads, "how": how}

        if self.Figure:
            fig = self.Figure(figsize=(7, 4.5))
            ax = fig.subplots()
            ax.plot(xs, fx, color="gray", lw=2.5, label="f(x)")
            ax.plot(xs, grads, color="navy", lw=2.5, label="grad f(x)")
            ax.axvline(0, color="black", lw=0.6, alpha=0.5)
            ax.set(xlabel="x", title="Differentiating through Python control flow")
            ax.grid(alpha=0.3)
            ax.legend()
            fig.tight_layout()
            self.save(fig, "5_control_flow.png")

    # ------------------------------------------------------------------ 6
    def section6(self):
        from chainrule import fd

        c, say = self.checks, self.say
        xs = np.linspace(-5.0, 5.0, 100 if self.quick else 400)
        exact = simple_prime(xs)
        say(f"  f'(x) of sin(x) - 2 cos(3x) exp(-x^2) at {xs.size} points in [-5, 5]; time per derivative")
        rows, summary = [], []

        def add(name, evals, seconds, err, ok=None, note=""):
            summary.append({"technique": name, "evals": evals, "seconds": seconds, "max_error": err})
            rows.append([name, evals, _us(seconds), _g(err, 2), note if ok is None else c.mark(ok)])

        fd_cases = [("forward difference, gamma = 0.1", dict(method="forward", accuracy=1, step=0.1)),
                    ("forward difference, best step", dict(method="forward", accuracy=1)),
                    ("central difference, best step", dict(method="central")),
                    ("complex step", dict(method="complex")),
                    ("Richardson (3 levels)", dict(method="richardson"))]
        for name, kw in fd_cases:
            f = (lambda z: np.sin(z) - 2 * np.cos(3 * z) * np.exp(-z**2)) if kw["method"] == "complex" else simple
            r = fd.derivative(f, xs, **kw)
            err = float(np.max(np.abs(np.asarray(r.value) - exact)))
            t = _timeit(lambda: fd.derivative(f, xs, **kw), self.quick) / xs.size
            ok = c.below("complex step accurate to round-off", err, 1e-13) if kw["method"] == "complex" else None
            kind = " complex" if kw["method"] == "complex" else ""
            add(name, f"{r.nfev / xs.size:g}{kind} f", t, err, ok, "approximate")

        g = cr.grad(simple)
        rev = np.array([float(g(float(x))) for x in xs])
        t = _timeit(lambda: [g(float(x)) for x in xs[:20]], self.quick) / 20
        err = float(np.max(np.abs(rev - exact)))
        add("reverse mode, grad", "1 fwd + 1 bwd sweep", t, err, c.below("grad exact to round-off", err, 1e-13))

        # The transformations that are landing: used when they work, listed when not.
        def batched():
            vg = cr.vmap(g)
            return (lambda: np.asarray(vg(xs), dtype=float)), xs.size

        def compiled():
            jg = cr.jit(g)
            jg(float(xs[0]))  # compile once, outside the timing
            return (lambda: np.array([float(jg(float(x))) for x in xs])), xs.size

        for name, evals, make in (("reverse mode, vmap(grad)", "1 batched fwd + bwd", batched),
                                  ("reverse mode, jit(grad)", "compiled, 1 call", compiled)):
            try:
                fn, per = make()
                vals = fn()
            except (NotImplementedError, AttributeError):
                summary.append({"technique": name, "evals": None, "seconds": None, "max_error": None})
                rows.append([name, "-", "-", "-", "not available yet"])
                continue
            except Exception as exc:
                c.that(f"{name} runs", False, f"{type(exc).__name__}: {exc}")
                rows.append([name, "-", "-", "-", f"FAILED: {type(exc).__name__}"])
                continue
            err = float(np.max(np.abs(vals - exact)))
            add(name, evals, _timeit(fn, self.quick) / per, err, c.below(f"{name} exact to round-off", err, 1e-13))

        fwd = np.array([float(cr.jvp(simple, (float(x),), (1.0,))[1]) for x in xs])
        t = _timeit(lambda: [cr.jvp(simple, (float(x),), (1.0,)) for x in xs[:20]], self.quick) / 20
        err = float(np.max(np.abs(fwd - exact)))
        add("forward mode, jvp", "1 fwd sweep", t, err, c.below("jvp exact to round-off", err, 1e-13))

        nth = self.results.get("nth")
        if nth:
            say("  and the 6th derivative of (2x + 1)^10 at x = 0.3 (relative error):")
            ex = nth["exact"]
            if nth.get("sympy"):
                s = nth["sympy"]
                add("6th deriv.: SymPy diff + subs", f"{s['ops']} ops expr", s["seconds"] + s["eval_seconds"],
                    abs(s["value"] - ex) / ex, None, "exact (rational)")
            ng = nth["nested_grad"]
            add("6th deriv.: nested grad x6", "6 nested sweeps", ng["seconds"], abs(ng["value"] - ex) / ex,
                None, "round-off only")
            if nth.get("taylor"):
                tm = nth["taylor"]
                add("6th deriv.: Taylor mode", "1 sweep, 7 coeffs", tm["seconds"], abs(tm["value"] - ex) / ex,
                    None, "round-off only")
            else:
                summary.append({"technique": "6th deriv.: Taylor mode", "evals": None, "seconds": None,
                                "max_error": None})
                rows.append(["6th deriv.: Taylor mode", "-", "-", "-", "not available yet"])
        _table(rows, ["technique", "cost per derivative", "time", "max |error|", "check / note"], say)
        say("  Finite differences call f once on all points (NumPy-vectorised); the evaluation counts")
        say("  include fd's error-estimate points.  grad, jit(grad) and jvp rows: one Python call per point.")
        self.results["summary"] = summary


def run(out_dir=DEFAULT_OUT, quick=False, figures=True, sections=SECTIONS, stream=None):
    """Run the tour; return a dict of everything it computed.

    Keys: one per section that ran ("exp2x", "fd_steps", "nth", "simple",
    "control_flow", "summary"), plus "checks" (every comparison with a closed
    form), "failed" (those that failed), "files" (figures written),
    "figures" (whether figures were drawn), "seconds" and "ok".
    """
    stream = sys.stdout if stream is None else stream
    tour = _Tour(out_dir, quick, figures, stream)
    say = tour.say
    titles = {
        1: "Finite differences are not autodiff: f(x) = exp(2x)",
        2: "Finite-difference error against step (the V), autodiff as a line",
        3: "Symbolic calculus is not autodiff: 6th derivative of (a x + b)^m",
        4: "Simple example: f(x) = sin(x) - 2 cos(3x) exp(-x^2)",
        5: "Differentiating through control flow",
        6: "What each technique costs, and how accurate it is",
    }
    say(f"chainrule {cr.__version__} tour{' (quick)' if quick else ''}: "
        "the post's examples, every closed-form number checked")
    if figures and tour.Figure is None:
        say("matplotlib is not installed: figures skipped, tables only (pip install 'chainrule[tour]')")
    elif not figures:
        say("figures: off (--no-figures)")
    t_start = time.perf_counter()
    todo = [s for s in SECTIONS if s in set(sections)]
    for k, s in enumerate(todo, 1):
        say()
        say(f"[{k}/{len(todo)}] {titles[s]}")
        tour.checks.section = s
        t0 = time.perf_counter()
        try:
            getattr(tour, f"section{s}")()
        except Exception as exc:
            tour.checks.that(f"section {s} runs", False, f"{type(exc).__name__}: {exc}")
            say(f"  section {s} FAILED: {type(exc).__name__}: {exc}")
            say("  " + "".join(traceback.format_exc()).replace("\n", "\n  ").rstrip())
        say(f"  ({time.perf_counter() - t0:.2f} s)")

    seconds = time.perf_counter() - t_start
    checks = tour.checks
    say()
    say(f"Checks against closed forms: {len(checks.items) - len(checks.failed)} passed, "
        f"{len(checks.failed)} failed ({seconds:.1f} s)")
    for f in checks.failed:
        say(f"  FAILED [{f['section']}] {f['name']}: {f['detail']}")
    if tour.files:
        say("Files written:")
        for p in tour.files:
            say(f"  {p}")
    else:
        say("Files written: none" + (" (figures skipped)" if tour.Figure is None else ""))
    res = tour.results
    res.update(checks=checks.items, failed=checks.failed, files=list(tour.files),
               figures=tour.Figure is not None, seconds=seconds, ok=not checks.failed)
    return res


def _sections(text):
    try:
        picked = sorted({int(s) for s in text.split(",") if s.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"--only takes section numbers like 1,3,5; got {text!r}") from None
    bad = [s for s in picked if s not in SECTIONS]
    if bad or not picked:
        raise argparse.ArgumentTypeError(f"sections are 1..6; got {text!r}")
    return picked


def main(argv=None, prog="chainrule tour"):
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Reproduce the post's examples: finite differences vs autodiff, the V of "
                    "finite-difference errors, SymPy vs nested grad vs Taylor mode, Python control "
                    "flow. Prints tables, writes PNG figures, checks every number with a closed form; "
                    "exits with status 1 if a check fails.")
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                        help=f"folder for the figures (default: ./{DEFAULT_OUT})")
    parser.add_argument("--quick", action="store_true", help="fewer points and timing repeats (~ a few seconds)")
    parser.add_argument("--no-figures", action="store_true", help="print the tables only")
    parser.add_argument("--only", type=_sections, default=list(SECTIONS), metavar="1,2,..",
                        help="run only these sections")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    res = run(args.out, quick=args.quick, figures=not args.no_figures, sections=args.only)
    return 0 if res["ok"] else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
