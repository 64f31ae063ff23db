"""W4, Jacobians of tanh(W x + b), square, wide and tall, in forward, reverse and automatic
mode."""

from __future__ import annotations

import numpy as np

from ..checks import close_check
from ..rows import FD


def w4_problem(m, n):
    rng = np.random.default_rng(0)
    W = rng.standard_normal((m, n)) / np.sqrt(n)
    bias = rng.standard_normal(m) * 0.1
    x = rng.standard_normal(n)
    J = (1 - np.tanh(W @ x + bias) ** 2)[:, None] * W
    return W, bias, x, J


def W4(b):
    wl = "W4"
    shapes = ((20, 20), (5, 50), (50, 5)) if b.quick else \
        ((100, 100), (10, 1000), (1000, 10))
    J_ = b.want("jax", wl)
    T = b.want("torch", wl)
    AG = b.want("autograd", wl)
    ND = b.want("numdifftools", wl)
    NP = b.want("numpy", wl)
    cr, cnp = b.cr, b.cnp
    for (m, n) in shapes:
        W, bias, x, Jx = w4_problem(m, n)
        chk = close_check(Jx, rtol=1e-10, atol=1e-12)
        fdchk = close_check(Jx, rtol=1e-6, atol=1e-6)
        s = f"{m}x{n}"
        modes = (("fwd", "jacfwd"), ("rev", "jacrev"), ("auto", "jacobian"))
        f_cr = lambda v: cnp.tanh(W @ v + bias)
        for mode, name in modes:
            b.case(wl, f"{s} {mode}", "chainrule", lambda name=name: (
                lambda j: lambda: j(x))(getattr(cr, name)(f_cr)), chk)
            b.case(wl, f"{s} {mode} jit", "chainrule", lambda name=name: (
                lambda j: lambda: j(x))(cr.jit(getattr(cr, name)(
                    lambda v: cnp.tanh(W @ v + bias)))), chk, jit=True)
        if J_:
            jax, jnp = J_.jax, J_.jnp
            Wj, bj = jnp.asarray(W), jnp.asarray(bias)
            for mode, name in modes:
                tr = getattr(jax, name)
                b.case(wl, f"{s} {mode}", "jax", lambda tr=tr: (
                    lambda j: lambda: j(x).block_until_ready())(
                    tr(lambda v: jnp.tanh(Wj @ v + bj))), chk,
                    note="jax.jacobian = jacrev" if mode == "auto" else "")
                b.case(wl, f"{s} {mode} jit", "jax", lambda tr=tr: (
                    lambda j: lambda: j(x).block_until_ready())(
                    jax.jit(tr(lambda v: jnp.tanh(Wj @ v + bj)))), chk, jit=True)
        if T:
            torch = T.torch
            Wt, bt, xt = torch.tensor(W), torch.tensor(bias), torch.tensor(x)
            ft = lambda v: torch.tanh(Wt @ v + bt)
            AF = torch.autograd.functional
            b.case(wl, f"{s} fwd", "torch", lambda: lambda: AF.jacobian(
                ft, xt, vectorize=True, strategy="forward-mode"), chk,
                note="autograd.functional, forward-mode, vectorize")
            b.case(wl, f"{s} rev", "torch", lambda: lambda: AF.jacobian(
                ft, xt, vectorize=True), chk,
                note="autograd.functional, vectorize")
            b.case(wl, f"{s} auto", "torch", lambda: lambda: AF.jacobian(ft, xt),
                   chk, note="autograd.functional.jacobian default (row loop)")
            if T.func:
                b.case(wl, f"{s} fwd", "torch.func", lambda: (
                    lambda j: lambda: j(xt))(T.func.jacfwd(ft)), chk)
                b.case(wl, f"{s} rev", "torch.func", lambda: (
                    lambda j: lambda: j(xt))(T.func.jacrev(ft)), chk)
        if AG:
            fa = lambda v: AG.anp.tanh(W @ v + bias)   # noqa: E731
            b.case(wl, f"{s} rev", "autograd", lambda: (
                lambda j: lambda: j(x))(AG.ag.jacobian(fa)), chk)
            b.case(wl, f"{s} auto", "autograd", lambda: (
                lambda j: lambda: j(x))(AG.ag.jacobian(fa)), chk,
                note="autograd.jacobian (reverse, row loop)")
        if ND:
            b.case(wl, f"{s} auto", "numdifftools", lambda: (
                lambda j: lambda: j(x))(ND.Jacobian(lambda v: np.tanh(W @ v + bias))),
                fdchk, kind=FD)
        if NP is not None:
            def fdjac():
                h = np.cbrt(np.finfo(float).eps) * np.maximum(1.0, np.abs(x))
                X = x[:, None] + np.diag(h)           # all perturbations at once
                return (np.tanh(W @ X + bias[:, None]) -
                        np.tanh(W @ (x[:, None] - np.diag(h)) + bias[:, None])) / (2 * h)
            b.case(wl, f"{s} auto", "numpy fd", lambda: fdjac, fdchk, kind=FD,
                   note="central, vectorised")
