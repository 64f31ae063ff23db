"""`chainrule.debug.print`: print traced values when the program runs, as jax.debug.print.

A Python ``print`` inside `jit` runs once, while the function is staged.  `print` here is
a primitive with no results whose `effect` flag keeps it in the staged program: the
optimiser never removes it, the loop roller never folds it into a loop, staging does not
run it, and the generated code calls it with each call's values.
"""
from __future__ import annotations

import builtins

import numpy as np

from .core import Primitive, Tracer, bind
from .compile import loop_kernel
from .rules import batch_rules, defnondiff
from .tree_util import tree_flatten, tree_unflatten

__all__ = ["print"]


class EffectPrimitive(Primitive):
    """A primitive run for its effect: it has no results, and staged programs keep it
    (`ir/optimize.py`, `compile/roll.py`, `interpreters/staging.py` read `effect`)."""

    __slots__ = ()
    effect = True

    def __init__(self, name, impl):
        super().__init__(name, impl, multiple_results=True)


def _print_impl(*leaves, fmt, tree):
    if getattr(loop_kernel._staging, "on", False):   # jit's staging run evaluates loops:
        return ()                                      # their prints belong to the calls
    args, kwargs = tree_unflatten(tree, list(leaves))
    builtins.print(fmt.format(*args, **kwargs), flush=True)
    return ()


debug_print_p = EffectPrimitive("debug_print", _print_impl)
defnondiff(debug_print_p, "prints its arguments: no results, so nothing to differentiate "
                          "(under grad and jvp it prints the primal values)")


def _batch_print(args, bdims, fmt, tree):
    from .numpy import moveaxis
    vals = [a if d in (None, 0) else moveaxis(a, d, 0) for a, d in zip(args, bdims)]
    return bind(debug_print_p, *vals, fmt=fmt, tree=tree), []


batch_rules[debug_print_p] = _batch_print


def print(fmt, *args, **kwargs):
    """Print ``fmt.format(*args, **kwargs)`` with the values of this call.

    Eagerly it prints at once.  Under `jit` it prints on every call of the compiled
    function, with that call's values (never while staging).  Under grad, jvp and the
    other derivative transformations it prints the primal values (nothing of the
    backward pass).  Under `vmap` it prints once per call with the whole batch: each
    mapped argument is shown batched, its mapped axis first.  A print of constants only
    (no traced argument) runs when Python reaches it: under jit, only while staging.
    """
    if not isinstance(fmt, str):
        raise TypeError(f"debug.print: the format must be a str, got {type(fmt).__name__}; "
                        "call debug.print('x = {}', x)")
    leaves, tree = tree_flatten((args, kwargs))
    if not any(isinstance(x, Tracer) for x in leaves):
        builtins.print(fmt.format(*args, **kwargs), flush=True)
        return
    leaves = [np.asarray(x) if isinstance(x, (list, tuple)) else x for x in leaves]
    bind(debug_print_p, *leaves, fmt=fmt, tree=tree)
