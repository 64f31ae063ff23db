"""W7, Hessians and Hessian-vector products of the Rosenbrock function against its
banded closed form."""

from __future__ import annotations

import numpy as np

from ..checks import close_check
from ..rows import FD, HAND, Row


def w7_rosen(x, m):
    return m.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def w7_hess_bands(x):
    """(diagonal, off-diagonal) of the Rosenbrock Hessian."""
    d = np.zeros_like(x)
    d[:-1] += 1200 * x[:-1] ** 2 - 400 * x[1:] + 2
    d[1:] += 200
    return d, -400 * x[:-1]


def w7_hessian(x):
    d, o = w7_hess_bands(x)
    return np.diag(d) + np.diag(o, 1) + np.diag(o, -1)


def w7_hvp(x, v):
    d, o = w7_hess_bands(x)
    hv = d * v
    hv[:-1] += o * v[1:]
    hv[1:] += o * v[:-1]
    return hv


def _cr_hvp(cr, f, x, v):
    """cr.hvp, whichever of the two usual signatures it has."""
    try:
        r = cr.hvp(f, (x,), (v,))
    except TypeError:
        return cr.hvp(f)(x, v)
    if isinstance(r, tuple) and len(r) == 2:
        return r[1]
    return r


def W7(b):
    wl = "W7"
    sizes = (20, 100) if b.quick else (100, 1000)
    nh = 10 ** 4 if b.quick else 10 ** 5
    rng = np.random.default_rng(0)
    J = b.want("jax", wl)
    T = b.want("torch", wl)
    AG = b.want("autograd", wl)
    ND = b.want("numdifftools", wl)
    NP = b.want("numpy", wl)
    cr, cnp = b.cr, b.cnp
    for n in sizes:
        x = rng.uniform(-1, 1, n)
        chk = close_check(w7_hessian(x), rtol=1e-10, atol=1e-12)
        H, JH = f"hessian n={n}", f"hessian n={n} jit"
        b.case(wl, H, "chainrule", lambda: (lambda h: lambda: h(x))(
            cr.hessian(lambda v: w7_rosen(v, cnp))), chk)
        b.case(wl, JH, "chainrule", lambda: (lambda h: lambda: h(x))(
            cr.jit(cr.hessian(lambda v: w7_rosen(v, cnp)))), chk, jit=True)
        if J:
            jax, jnp = J.jax, J.jnp
            b.case(wl, H, "jax", lambda: (lambda h: lambda: h(x).block_until_ready())(
                jax.hessian(lambda v: w7_rosen(v, jnp))), chk)
            b.case(wl, JH, "jax", lambda: (lambda h: lambda: h(x).block_until_ready())(
                jax.jit(jax.hessian(lambda v: w7_rosen(v, jnp)))), chk, jit=True)
        if T:
            torch = T.torch
            xt = torch.tensor(x)
            b.case(wl, H, "torch", lambda: lambda: torch.autograd.functional.hessian(
                lambda v: w7_rosen(v, torch), xt, vectorize=True), chk,
                note="autograd.functional, vectorize")
            if T.func:
                b.case(wl, H, "torch.func", lambda: (lambda h: lambda: h(xt))(
                    T.func.hessian(lambda v: w7_rosen(v, torch))), chk)
        if AG:
            b.case(wl, H, "autograd", lambda: (lambda h: lambda: h(x))(
                AG.ag.hessian(lambda v: w7_rosen(v, AG.anp))), chk)
        if ND:
            if n <= 100:
                b.case(wl, H, "numdifftools", lambda: (lambda h: lambda: h(x))(
                    ND.Hessian(lambda v: w7_rosen(v, np))),
                    close_check(w7_hessian(x), rtol=1e-5, atol=1e-5), kind=FD)
            else:
                b.rows.append(Row(wl, H, "numdifftools", kind=FD,
                                  status="skipped (cost: O(n^2) evaluations)"))
        if NP is not None:
            b.case(wl, H, "numpy", lambda: lambda: w7_hessian(x), chk, kind=HAND,
                   note="closed form (the floor)")

    x = rng.uniform(-1, 1, nh)
    v = rng.standard_normal(nh)
    chk = close_check(w7_hvp(x, v), rtol=1e-10, atol=1e-12)
    P, JP = f"hvp n={nh}", f"hvp n={nh} jit"
    b.case(wl, P, "chainrule", lambda: lambda: _cr_hvp(
        cr, lambda u: w7_rosen(u, cnp), x, v), chk)
    b.case(wl, JP, "chainrule", lambda: (lambda h: lambda: h(x, v))(cr.jit(
        lambda a, t: _cr_hvp(cr, lambda u: w7_rosen(u, cnp), a, t))), chk, jit=True)
    if J:
        jax, jnp = J.jax, J.jnp
        fj = lambda u: w7_rosen(u, jnp)      # noqa: E731
        hv = lambda a, t: jax.jvp(jax.grad(fj), (a,), (t,))[1]   # noqa: E731
        xj, vj = jnp.asarray(x), jnp.asarray(v)
        b.case(wl, P, "jax", lambda: lambda: hv(xj, vj).block_until_ready(), chk,
               note="jvp of grad")
        b.case(wl, JP, "jax", lambda: (lambda h: lambda: h(xj, vj).block_until_ready())(
            jax.jit(lambda a, t: jax.jvp(jax.grad(lambda u: w7_rosen(u, jnp)),
                                         (a,), (t,))[1])), chk, jit=True)
    if T:
        torch = T.torch
        xt, vt = torch.tensor(x), torch.tensor(v)
        ft = lambda u: w7_rosen(u, torch)    # noqa: E731
        b.case(wl, P, "torch", lambda: lambda: torch.autograd.functional.hvp(
            ft, xt, vt)[1], chk, note="autograd.functional.hvp (double backward)")
        if T.func:
            b.case(wl, P, "torch.func", lambda: lambda: T.func.jvp(
                T.func.grad(ft), (xt,), (vt,))[1], chk, note="jvp of grad")
    if AG:
        b.case(wl, P, "autograd", lambda: (lambda h: lambda: h(x, v))(
            AG.ag.hessian_vector_product(lambda u: w7_rosen(u, AG.anp))), chk)
    if NP is not None:
        b.case(wl, P, "numpy", lambda: lambda: w7_hvp(x, v), chk, kind=HAND,
               note="closed form (the floor)")
