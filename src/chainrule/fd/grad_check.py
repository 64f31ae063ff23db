"""`check_grads`: chainrule's JVP against central differences and its VJP against the JVP
(the dot-product test), at every order up to the one asked for. The only part of
`chainrule.fd` that uses the AD engine (imported when it runs)."""

from __future__ import annotations

import numpy as np

from .stencils import stencil_weights



def check_grads(f, args, order=2, modes=("fwd", "rev"), eps=1e-3, atol=1e-6, rtol=1e-6, seed=0):
    """Check chainrule's derivatives of `f` at `args` up to `order`; raise AssertionError if wrong.

    "fwd": the JVP along random directions against a 4th-order central
    difference (the stencil of `stencil_weights`); "rev": the VJP against the
    JVP by the dot-product test <u, J v> == <J^T u, v>.  For order > 1 the same
    checks run on the JVP (and VJP) functions themselves, so mixed modes of
    every order up to `order` are covered.  Arguments may be pytrees of floats.
    """
    from .. import api
    from ..tree_util import tree_flatten, tree_unflatten

    modes = (modes,) if isinstance(modes, str) else tuple(modes)
    bad = [m for m in modes if m not in ("fwd", "rev")]
    if bad or not modes:
        raise ValueError(f"check_grads: modes must be among ('fwd', 'rev'), got {modes}")
    if order < 1:
        raise ValueError(f"check_grads: order must be >= 1, got {order}")
    rng = np.random.default_rng(seed)
    args = tuple(args)
    offsets = (-2, -1, 1, 2)
    weights = stencil_weights(offsets, 1)

    def rand_like(tree):
        leaves, tdef = tree_flatten(tree)
        new = []
        for x in leaves:
            a = np.asarray(x)
            r = rng.standard_normal(a.shape)
            if np.iscomplexobj(a):
                r = r + 1j * rng.standard_normal(a.shape)
            new.append(r.astype(a.dtype) if a.shape else a.dtype.type(r))
        return tree_unflatten(tdef, new)

    def flat(tree):
        leaves = tree_flatten(tree)[0]
        return np.concatenate([np.ravel(np.asarray(x, dtype=complex if np.iscomplexobj(x) else float))
                               for x in leaves]) if leaves else np.zeros(0)

    def shifted(a, v, t):
        la, ta = tree_flatten(a)
        lv = tree_flatten(v)[0]
        return tree_unflatten(ta, [x + t * d for x, d in zip(la, lv)])

    def close(got, want, what):
        if not np.allclose(got, want, atol=atol, rtol=rtol):
            err = np.max(np.abs(np.asarray(got) - np.asarray(want))) if np.size(want) else 0.0
            raise AssertionError(f"check_grads: {what} disagree (max abs difference {err:.3g}):\n"
                                 f"  chainrule: {np.asarray(got)}\n  expected:  {np.asarray(want)}")

    def check(fun, a, k):
        v = rand_like(a)
        out, tan = api.jvp(fun, a, v)
        if "fwd" in modes:
            fd = sum(w * flat(fun(*shifted(a, v, o * eps))) for w, o in zip(weights, offsets)) / eps
            close(flat(tan), fd, f"order-{k} JVP and central differences")
        if "rev" in modes:
            u = rand_like(out)
            _, pullback = api.vjp(fun, *a)
            ct = pullback(u)
            lhs = np.vdot(flat(u), flat(tan)).real
            rhs = np.vdot(flat(ct), flat(v)).real
            close(lhs, rhs, f"order-{k} VJP and JVP (dot-product test)")
        if k < order:
            check(lambda *b: api.jvp(fun, b, v)[1], a, k + 1)
            if "rev" in modes:
                u = rand_like(out)
                check(lambda *b: api.vjp(fun, *b)[1](u), a, k + 1)
    check(f, args, 1)
