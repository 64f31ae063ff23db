"""`custom_call`: a `custom_jvp`/`custom_vjp` function kept as one equation of a staged program.

Eagerly, and under jit (whose programs are only evaluated), such a function is handled
by the innermost transformation as it is called.  In a program that will itself be
differentiated -- a loop body, or a region reverse mode stages under jit -- inlining its
body would differentiate the body instead of the rule (and an `implicit_solve` body has
no derivative at all).  There the call is staged as this primitive; each of its rules runs
the function under the same transformation (`interpreters/programs.py`), which then uses
the custom rule.
"""
from __future__ import annotations

import weakref

from .core import Primitive, Tracer
from .rules import jvp_rules, vjp_rules, batch_rules, taylor_by_jvp
from .interpreters.programs import jvp_program, vjp_program, vmap_program
from .interpreters.staging import StagingTrace
from .tree_util import tree_flatten, tree_unflatten


class _OutTree:
    """The output structure of a custom function for one input structure, found by its
    first run (the same object for every call, so a rolled loop sees equal parameters)."""

    __slots__ = ("tree",)

    def __init__(self):
        self.tree = None


_out_trees = weakref.WeakKeyDictionary()     # custom function -> {input structure: _OutTree}


def _flat(custom, in_tree, out=None):
    def run(leaves):
        leaves, tree = tree_flatten(custom(*tree_unflatten(in_tree, list(leaves))))
        if out is not None:
            out.tree = tree
        return leaves
    return run


def _impl(*leaves, custom, in_tree, out_tree):
    return tuple(_flat(custom, in_tree, out_tree)(leaves))


custom_call_p = Primitive("custom_call", _impl, multiple_results=True)
jvp_rules[custom_call_p] = lambda primals, tangents, params: tuple(
    jvp_program(_flat(params["custom"], params["in_tree"]), list(primals), list(tangents)))
vjp_rules[custom_call_p] = lambda g, ans, primals, params, argnums: [
    vjp_program(_flat(params["custom"], params["in_tree"]), list(primals),
                [i in argnums for i in range(len(primals))], list(g))[i] for i in argnums]


def _batch(args, bdims, custom, in_tree, out_tree):
    size = next(a.shape[d] for a, d in zip(args, bdims) if d is not None)
    outs = vmap_program(_flat(custom, in_tree, out_tree), list(args), list(bdims), size)
    return outs, [0] * len(outs)


batch_rules[custom_call_p] = _batch
taylor_by_jvp.add(custom_call_p)      # nested forward mode through the custom JVP rule


def _closes_over_tracer(custom):
    """Does one of the function's (or its rules') closure cells hold a traced value?  Such a
    function cannot be called later, outside the trace: it is inlined instead."""
    owners = getattr(custom, "closure_owners", None)     # nondiff_argnums: the user's functions
    for fn in owners or (custom.fun, getattr(custom, "jvp", None), getattr(custom, "fwd", None),
                         getattr(custom, "bwd", None)):
        for cell in getattr(fn, "__closure__", None) or ():
            try:
                if isinstance(cell.cell_contents, Tracer):
                    return True
            except ValueError:          # an empty cell
                pass
    return False


def stage_custom(trace, custom, args):
    """The call ``custom(*args)`` recorded by staging trace `trace` as one equation (inlined
    when the function closes over a traced value)."""
    if _closes_over_tracer(custom):
        return custom.fun(*args)
    leaves, in_tree = tree_flatten(list(args))
    out = _out_trees.setdefault(custom, {}).setdefault(in_tree, _OutTree())
    outs = trace.process(custom_call_p, leaves, dict(custom=custom, in_tree=in_tree, out_tree=out))
    return tree_unflatten(out.tree, list(outs))


StagingTrace.stage_custom = staticmethod(stage_custom)     # for the traces that stage custom calls
