"""Partial evaluation: split a program into what is known early and what must wait.

A loop's reverse mode stages one step's joint forward-and-backward program.  Its
equations that read only the step's primal inputs can run in the forward loop, which
then saves the values the backward part reads (the *residuals*) instead of recomputing
them from the saved carries.  Inputs come in three kinds:

- SHARED: available to both parts (a loop's constants); equations reading only these
  are recomputed wherever they are needed (they are loop-invariant);
- KNOWN: available to the first part only (a step's carries and per-step inputs);
- LATER: available to the second part only (the cotangents).
"""
from __future__ import annotations

from .program import Var, Program

SHARED, KNOWN, LATER = 0, 1, 2


def partial_eval(prog, kinds, n_first):
    """(first, second, residuals) for `prog` whose inputs have `kinds`.

    first:  SHARED and KNOWN inputs -> the first `n_first` outputs of `prog`, then the
            residuals (KNOWN-dependent values the second part reads);
    second: SHARED inputs, the residuals, LATER inputs -> the other outputs.
    `residuals` are the variables of `prog` that first passes to second.  The first
    `n_first` outputs must not depend on LATER inputs.
    """
    kind = {v.id: k for v, k in zip(prog.invars, kinds)}
    eqn_kind = []
    for e in prog.eqns:
        k = max([kind[a.id] for a in e.invars if type(a) is Var], default=SHARED)
        eqn_kind.append(k)
        for o in e.outvars:
            kind[o.id] = k
    first_outs, second_outs = prog.outvars[:n_first], prog.outvars[n_first:]
    if any(type(v) is Var and kind[v.id] == LATER for v in first_outs):
        raise ValueError("partial_eval: a first-part output depends on a later input")

    # the second part: LATER equations, and the SHARED ones they need (recomputed)
    need = {v.id for v in second_outs if type(v) is Var}
    keep = [False] * len(prog.eqns)
    for i in range(len(prog.eqns) - 1, -1, -1):
        e, k = prog.eqns[i], eqn_kind[i]
        if k == KNOWN or not any(o.id in need for o in e.outvars):
            continue
        keep[i] = True
        need.update(a.id for a in e.invars if type(a) is Var)
    residuals = [v for v in _known_values(prog, kind) if v.id in need]
    shared_in = [v for v, k in zip(prog.invars, kinds) if k == SHARED]
    later_in = [v for v, k in zip(prog.invars, kinds) if k == LATER]
    first = Program([v for v, k in zip(prog.invars, kinds) if k != LATER],
                    [e for e, k in zip(prog.eqns, eqn_kind) if k != LATER],
                    list(first_outs) + residuals, [])
    second = Program(shared_in + residuals + later_in,
                     [e for e, m in zip(prog.eqns, keep) if m], list(second_outs), [])
    return first, second, residuals


def _known_values(prog, kind):
    """The KNOWN variables (inputs, then equation results, in program order)."""
    out = [v for v in prog.invars if kind[v.id] == KNOWN]
    for e in prog.eqns:
        out.extend(o for o in e.outvars if kind[o.id] == KNOWN)
    return out


__all__ = ["partial_eval", "SHARED", "KNOWN", "LATER"]
