"""Forward mode: a tracer carries a primal and its tangent (None: a zero tangent)."""
from __future__ import annotations

from ..core import Trace, Tracer, bind, check_like, missing_rule
from ..rules import jvp_rules


class JVPTracer(Tracer):
    __slots__ = ("primal", "tangent")
    _carries_derivative = True

    def __init__(self, trace, primal, tangent):
        self._trace = trace
        self.primal = primal
        self.tangent = tangent


class JVPTrace(Trace):
    __slots__ = ()

    def unwrap(self, args):
        primals, tangents = [], []
        for a in args:
            if isinstance(a, Tracer) and a._trace is self:
                primals.append(a.primal)
                tangents.append(a.tangent)
            else:
                if isinstance(a, Tracer) and a._trace.level >= self.level:
                    raise a._trace.leaked()
                primals.append(a)
                tangents.append(None)
        return primals, tangents

    def process(self, p, args, params):
        if self.done:
            raise self.leaked()
        primals, tangents = self.unwrap(args)
        if p.nondiff:
            return bind(p, *primals, **params)
        rule = jvp_rules.get(p)
        if rule is None:
            raise missing_rule(p, "jvp")
        out, out_t = rule(primals, tangents, params)
        if p.multiple_results:
            if out_t is None:
                out_t = [None] * len(out)
            return tuple(JVPTracer(self, o, t) for o, t in zip(out, out_t))
        return JVPTracer(self, out, out_t)

    def process_custom_jvp(self, custom, args):
        from ..numpy import zeros_like
        from ..tree_util import tree_flatten, tree_unflatten
        leaves, tree = tree_flatten(list(args))
        primals, tangents = self.unwrap(leaves)
        if all(t is None for t in tangents):
            return custom(*tree_unflatten(tree, primals))
        tangents = [zeros_like(x) if t is None else t for x, t in zip(primals, tangents)]
        out, out_t = custom.jvp(tuple(tree_unflatten(tree, primals)), tuple(tree_unflatten(tree, tangents)))
        out_leaves, out_tree = tree_flatten(out)
        t_leaves, t_tree = tree_flatten(out_t)
        if t_tree != out_tree:
            raise TypeError(f"custom_jvp rule returned tangents of structure {t_tree}, "
                            f"but primal outputs of structure {out_tree}")
        check_like("custom_jvp rule: tangent output", t_leaves, out_leaves)
        return tree_unflatten(out_tree, [JVPTracer(self, o, t) for o, t in zip(out_leaves, t_leaves)])
