"""W3, n-th derivatives of (a x + b)^m: Taylor mode and nested grad up to order 40, each
tool's higher orders skipped once their cost (predicted from two orders) is too high."""

from __future__ import annotations

import math

from ..checks import close_check, to_numpy
from ..rows import AD, CR, FD, SYM, Row, log


W3_A, W3_B, W3_M, W3_X = 2.0, 1.0, 10, 0.3


def w3_g(x):
    return (W3_A * x + W3_B) ** W3_M


def w3_exact(n):
    m = W3_M
    if n > m:
        return 0.0
    return math.factorial(m) / math.factorial(m - n) * W3_A ** n * \
        (W3_A * W3_X + W3_B) ** (m - n)


def _nested(grad, f, n):
    for _ in range(n):
        f = grad(f)
    return f


def W3(b):
    wl = "W3"
    orders = (1, 4, 10, 20) if b.quick else (1, 2, 4, 6, 8, 10, 20, 40)
    x = W3_X
    # nested grad: its cost grows with the order; skip the higher orders of a
    # tool once one order takes longer than this
    limit_us = 2e5 if b.quick else 2e6
    slow = {}

    hist, order = {}, [0]

    def skip(case, tool, kind, why):
        b.rows.append(Row(wl, case, tool, kind=CR if tool.startswith(
            "chainrule") else kind, status=f"skipped (cost: {why})"))
        log(f"  {wl} | {case} | {tool}: skipped (cost: {why})")

    def run(case, tool, make, chk, **kw):
        n = order[0]
        key = (tool, kw.get("jit", False))
        if key in slow:
            return skip(case, tool, kw.get("kind", AD), slow[key])
        h = hist.setdefault(key, [])
        if len(h) >= 2:          # cost grows geometrically with the order
            (n1, t1), (n2, t2) = h[-2:]
            pred = t2 * (max(t2, 1e-3) / max(t1, 1e-3)) ** ((n - n2) / (n2 - n1))
            if pred > 5 * limit_us:
                return skip(case, tool, kw.get("kind", AD),
                            f"predicted {pred / 1e6:.3g} s from orders {n1}, {n2}")
        n0 = len(b.rows)
        b.case(wl, case, tool, make, chk, **kw)
        worst = max((r.median_us or 0) for r in b.rows[n0:])
        h.append((n, worst))
        if worst > limit_us:
            slow[key] = f"order {n} took {worst / 1e6:.2g} s"

    J = b.want("jax", wl)
    T = b.want("torch", wl)
    AG = b.want("autograd", wl)
    SY = b.want("sympy", wl)
    ND = b.want("numdifftools", wl)
    cr = b.cr

    for n in orders:
        order[0] = n
        exact = w3_exact(n)
        chk = close_check(exact, rtol=1e-10, atol=1e-12)
        E, Jt = f"order {n}", f"order {n} jit"
        series = [1.0] + [0.0] * (n - 1)

        def jet_check(r, n=n, exact=exact):
            """chainrule.jet: accept derivative or Taylor-coefficient series."""
            v = float(to_numpy(r))
            if exact == 0:
                return abs(v) < 1e-6, f"value {v:.3e}"
            for conv, e in (("derivatives", exact),
                            ("Taylor coeffs", exact / math.factorial(n))):
                if abs(v - e) <= 1e-10 * abs(e):
                    return True, f"convention: {conv}"
            return False, f"value {v:.6e} != {exact:.6e}"

        def cr_jet(series=series):
            jet = cr.jet
            return lambda: jet(w3_g, (x,), (series,))[1][-1]

        run(E, "chainrule", lambda n=n: (lambda d: lambda: d(x))(
            cr.derivative(w3_g, order=n)), chk)
        run(E, "chainrule jet", cr_jet, jet_check)
        run(E, "chainrule nested grad", lambda n=n: (lambda d: lambda: d(x))(
            _nested(cr.grad, w3_g, n)), chk)
        run(Jt, "chainrule", lambda n=n: (lambda d: lambda: d(x))(
            cr.jit(cr.derivative(lambda y: w3_g(y), order=n))), chk, jit=True)
        if J:
            jax = J.jax
            if J.jet:
                jetf = lambda s: J.jet.jet(w3_g, (s,), (series,))[1][-1]
                run(E, "jax jet", lambda: lambda: jetf(x).block_until_ready(), chk)
                run(Jt, "jax jet", lambda: (lambda jf: lambda: jf(x).block_until_ready())(
                    jax.jit(lambda s: J.jet.jet(lambda y: w3_g(y), (s,),
                                                (series,))[1][-1])), chk, jit=True)
            run(E, "jax nested grad", lambda n=n: (lambda d: lambda: float(d(x)))(
                _nested(jax.grad, w3_g, n)), chk)
            run(Jt, "jax nested grad", lambda n=n: (
                lambda d: lambda: d(x).block_until_ready())(
                jax.jit(_nested(jax.grad, lambda y: w3_g(y), n))), chk, jit=True)
        if T:
            torch = T.torch

            def tnested(n=n):
                t = torch.tensor(x, requires_grad=True)
                y = w3_g(t)
                for _ in range(n):
                    if not y.requires_grad:      # derivative became constant
                        return torch.zeros(())
                    y, = torch.autograd.grad(y, t, create_graph=True)
                return y
            run(E, "torch nested grad", lambda: tnested, chk)
            if T.func:
                run(E, "torch.func nested grad", lambda n=n: (
                    lambda d: lambda: d(torch.tensor(x)))(
                    _nested(T.func.grad, w3_g, n)), chk)
        if AG:
            run(E, "autograd nested grad", lambda n=n: (lambda d: lambda: d(x))(
                _nested(AG.ag.grad, w3_g, n)), chk)
        if SY:
            sp = SY
            s = sp.Symbol("x")
            expr = (sp.Integer(2) * s + 1) ** W3_M

            def sym(n=n):
                return sp.lambdify(s, sp.diff(expr, s, n), "math")(x)
            run(E, "sympy", lambda: sym, chk, kind=SYM,
                note="diff + lambdify + evaluate")
            run(Jt, "sympy", lambda n=n: (lambda fl: lambda: fl(x))(
                sp.lambdify(s, sp.diff(expr, s, n), "math")), chk, kind=SYM,
                jit=True, note="lambdified derivative, evaluate")
        if ND and n <= 10:
            run(E, "numdifftools", lambda n=n: (lambda d: lambda: d(x))(
                ND.Derivative(w3_g, n=n)), close_check(exact, rtol=1e-6, atol=1e-8),
                kind=FD)
