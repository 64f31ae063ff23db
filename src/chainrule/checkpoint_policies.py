"""What `checkpoint(f, policy=...)` saves for reverse mode, as in JAX.

A policy is a function ``policy(prim, *args, **params) -> bool``: True saves the output of
that primitive for the backward pass, False recomputes it there.  `nothing_saveable` is
checkpoint's default (everything recomputed); `everything_saveable` recomputes nothing (f
is differentiated as if it were not checkpointed); `dots_saveable` (also
`checkpoint_dots`) saves matrix products (`matmul`, `einsum`) and recomputes the rest.

Saving works on the primitives `f` binds directly: a loop's body is recomputed whole, and
a custom_jvp/custom_vjp function inside `f` keeps its own rule.
"""
from __future__ import annotations

from .core import Trace, Tracer, bind, new_level, dtype_of
from .rules import vjp_rules, vjp_fwd_rules
from .ops.linalg import matmul_p, einsum_p
from .tree_util import tree_flatten, tree_unflatten, tree_map

__all__ = ["everything_saveable", "nothing_saveable", "dots_saveable", "checkpoint_dots"]


def everything_saveable(prim, *args, **params):
    """Save every value: no recomputation."""
    return True


def nothing_saveable(prim, *args, **params):
    """Save only the inputs: recompute everything (checkpoint's default)."""
    return False


def dots_saveable(prim, *args, **params):
    """Save the results of matrix products (matmul, einsum); recompute the rest."""
    return prim is matmul_p or prim is einsum_p


checkpoint_dots = dots_saveable

NAMES = ("everything_saveable", "nothing_saveable", "dots_saveable", "checkpoint_dots")


def check(policy, what):
    """`policy`, or a TypeError naming the policies there are."""
    if policy is None or callable(policy):
        return policy
    names = ", ".join(f"chainrule.checkpoint_policies.{n}" for n in NAMES)
    raise TypeError(f"{what}: unknown policy {policy!r}; pass one of {names}, or a function "
                    "policy(prim, *args, **params) -> bool that says which results to save")


# ------------------------------------------------ running f under a policy ---

class _TapTracer(Tracer):
    __slots__ = ("primal",)

    def __init__(self, trace, primal):
        self._trace, self.primal = trace, primal


class _Tap(Trace):
    """Runs a function unchanged while the results `policy` names are saved (`saved` is
    None) or taken from `reuse`, in the order they were saved."""

    __slots__ = ("policy", "saved", "reuse")

    def __init__(self, level, policy, reuse=None):
        super().__init__(level)
        self.policy, self.reuse = policy, None if reuse is None else list(reversed(reuse))
        self.saved = [] if reuse is None else None

    def unwrap(self, a):
        if isinstance(a, _TapTracer) and a._trace is self:
            return a.primal
        if isinstance(a, Tracer) and a._trace.level >= self.level:
            raise a._trace.leaked()
        return a

    def wrap(self, x):
        return _TapTracer(self, x) if not isinstance(x, (str, type(None))) else x

    def _saveable(self, p, vals, params):
        return not (p.nondiff or p.multiple_results or p in vjp_fwd_rules
                    or vjp_rules.get(p) is None) and bool(self.policy(p, *vals, **params))

    def process(self, p, args, params):
        if self.done:
            raise self.leaked()
        vals = [self.unwrap(a) for a in args]
        if self._saveable(p, vals, params):
            if self.saved is not None:
                out = bind(p, *vals, **params)
                self.saved.append(out)
            elif self.reuse:
                out = _reused(p, params)(self.reuse.pop(), *vals)
            else:                                 # pragma: no cover - f took another path
                out = bind(p, *vals, **params)
        else:
            out = bind(p, *vals, **params)
        return tuple(map(self.wrap, out)) if p.multiple_results else self.wrap(out)

    def process_custom_jvp(self, custom, args):      # the function keeps its own rule
        leaves, tree = tree_flatten(list(args))
        out = custom(*tree_unflatten(tree, [self.unwrap(a) for a in leaves]))
        return tree_map(self.wrap, out)

    process_custom_vjp = process_custom_jvp


def _reused(p, params):
    """``f(ans, *args)``: the saved result `ans` of ``p(*args)``, with cotangents for args
    from p's VJP rule (`ans` is an argument, not a closure: a staged loop body or region may
    record the call as one equation)."""
    from .api import custom_vjp
    fn = custom_vjp(lambda ans, *xs: ans)

    def bwd(res, g):
        ans, xs = res
        nums = [i for i, x in enumerate(xs) if dtype_of(x).kind in "fc"]
        cts = vjp_rules[p](g, ans, list(xs), params, nums) if nums else []
        out = [None] * len(xs)
        for i, c in zip(nums, cts):
            out[i] = c
        return (None, *out)
    fn.defvjp(lambda ans, *xs: (ans, (ans, xs)), bwd)
    return fn


def run(f, args, policy, reuse=None):
    """(f(*args), the results `policy` saves) or, given `reuse`, f(*args) with those
    results taken from `reuse` instead of recomputed."""
    with new_level() as level:
        trace = _Tap(level, policy, reuse)
        try:
            out = f(*tree_map(trace.wrap, list(args)))
            out = tree_map(trace.unwrap, out)
        finally:
            trace.done = True
    return out, trace.saved
