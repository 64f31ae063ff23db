"""The tracing interpreter of :func:`to_sympy`: `SymTracer` values under a `SymTrace`."""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..core import Trace, Tracer, new_level, shape_of
from .rules import _rules
from .values import _const, _num, _sympy, _truth


# ================================================ the tracing interpreter ===

class _NoPoint:
    """Marks an input without a numeric value (its tracers' values are placeholders)."""


class SymTracer(Tracer):
    """A traced value: its SymPy expression and its numeric value at the traced point.

    ``expr`` is a SymPy expression (a scalar) or a NumPy object array of them;
    ``primal`` is the number (or array) the function computes at the point
    given to :func:`to_sympy` -- a NaN placeholder of the right shape where no
    point was given (``known`` is then False).
    """

    __slots__ = ("primal", "expr", "known")

    def __init__(self, trace, primal, expr, known):
        self._trace = trace
        self.primal = primal
        self.expr = expr
        self.known = known

    # -- Python control flow: evaluate at the point and record the guard
    def _point(self, what):
        if self._trace.done:
            raise self._trace.leaked()
        if not self.known:
            names = ", ".join(self._trace.names) or "the inputs"
            raise TypeError(
                f"to_sympy: the function calls {what} on a traced value, so its expression "
                "depends on the path Python control flow takes; give a numeric point to trace "
                f"at, e.g. to_sympy(f, ..., {self._trace.names[0] if self._trace.names else 'x'}=0.3)"
                f" (values for: {names})")
        return self.primal

    def _scalar_expr(self):
        e = self.expr
        if isinstance(e, np.ndarray):
            if e.size != 1:
                raise ValueError("the truth value of an array with more than one element is "
                                 "ambiguous")
            e = e.reshape(())[()]
        return e

    def __bool__(self):
        sp = _sympy()
        value = bool(self._point("bool()"))
        if self._trace.symbolic:
            cond = _truth(self._scalar_expr())
            self._trace.guard(cond if value else sp.Not(cond))
        return value

    def _pin(self, value):
        """`float`/`int`/`index` fix the value: the guard is that the expression has it."""
        sp = _sympy()
        if self._trace.symbolic:
            e = _num(self._scalar_expr())
            if e.free_symbols:
                self._trace.guard(sp.Eq(e, _const(value)))
        return value

    def __float__(self):
        return self._pin(float(self._point("float()")))

    def __complex__(self):
        return self._pin(complex(self._point("complex()")))

    def __int__(self):
        sp = _sympy()
        v = self._point("int()")
        k = int(v)
        if self._trace.symbolic:
            e = _num(self._scalar_expr())
            if e.free_symbols:
                if float(v) == k:
                    self._trace.guard(sp.Eq(e, k))
                elif v > 0:      # int() truncates toward zero
                    self._trace.guard(sp.And(e >= k, e < k + 1))
                else:
                    self._trace.guard(sp.And(e > k - 1, e <= k))
        return k

    def __index__(self):
        v = self._point("an index conversion")
        return self._pin(int(np.asarray(v).__index__()))


class SymTrace(Trace):
    """The interpreter of :func:`to_sympy`: each primitive maps to its SymPy counterpart.

    With ``symbolic=False`` it only evaluates and counts the primitives that
    depend on the inputs (the operation count :func:`compare` reports).
    """

    __slots__ = ("symbolic", "guards", "n_ops", "names")

    def __init__(self, level, symbolic=True, names=()):
        super().__init__(level)
        self.symbolic = symbolic
        self.guards = []
        self.n_ops = 0
        self.names = list(names)

    def guard(self, cond):
        sp = _sympy()
        if cond == sp.true or any(cond == g for g in self.guards):
            return
        self.guards.append(cond)

    def _unwrap(self, args):
        primals, exprs, known = [], [], True
        for a in args:
            if isinstance(a, Tracer):
                if a._trace is self:
                    primals.append(a.primal)
                    exprs.append(a.expr)
                    known = known and a.known
                    continue
                if a._trace.level >= self.level:
                    raise a._trace.leaked()
                raise TypeError(
                    "to_sympy: the function uses a value traced by an enclosing transformation "
                    "(a closure over a grad/jvp argument); to_sympy can only trace functions of "
                    "its own inputs and plain constants")
            primals.append(a)
            exprs.append(_const(a) if self.symbolic else None)
        return primals, exprs, known

    def process(self, p, args, params):
        if self.done:
            raise self.leaked()
        primals, exprs, known = self._unwrap(args)
        if known:
            out = p.impl(*primals, **params)
        else:
            with np.errstate(all="ignore"):
                try:
                    out = p.impl(*primals, **params)
                except (ArithmeticError, ValueError):
                    if not self.symbolic:
                        raise
                    out = _NoPoint      # the NaN placeholders are outside its domain
        self.n_ops += 1
        if not self.symbolic:
            if p.multiple_results:
                return tuple(SymTracer(self, o, None, known) for o in out)
            return SymTracer(self, out, None, known)
        rule = _rules().get(p)
        if rule is None:
            raise NotImplementedError(
                f"to_sympy: primitive '{p.name}' has no SymPy counterpart (supported: "
                "chainrule.symbolic.supported_primitives())")
        res = rule(*exprs, **params)
        if out is _NoPoint:             # placeholders shaped like the expressions
            out = tuple(map(_placeholder, res)) if p.multiple_results else _placeholder(res)
        if p.multiple_results:
            return tuple(SymTracer(self, o, _check_shape(p, e, o), known) for o, e in zip(out, res))
        return SymTracer(self, out, _check_shape(p, res, out), known)

    # custom_jvp / custom_vjp functions: the base Trace runs their bodies, which is the
    # function's value (the custom rule only changes its derivative)


def _placeholder(expr):
    return np.full(expr.shape, np.nan) if isinstance(expr, np.ndarray) else math.nan


def _check_shape(p, expr, out):
    es, os_ = np.shape(expr) if isinstance(expr, np.ndarray) else (), shape_of(out)
    if tuple(es) != tuple(os_):
        raise AssertionError(f"to_sympy: internal error: the SymPy rule of '{p.name}' gave shape "
                             f"{es}, the primitive {os_}")
    return expr


def _symbol_array(sp, name, shape, assumptions):
    arr = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        suffix = "_".join(str(i) for i in idx) if len(shape) > 1 else str(idx[0])
        arr[idx] = sp.Symbol(f"{name}{suffix}", **assumptions)
    return arr


def _to_output(sp, leaf, trace):
    if isinstance(leaf, SymTracer) and leaf._trace is trace:
        e = leaf.expr
    elif isinstance(leaf, Tracer):
        raise TypeError("to_sympy: the function returned a value traced by another transformation")
    else:
        e = _const(leaf)
    if isinstance(e, np.ndarray):
        return sp.Array(e.tolist(), e.shape) if e.ndim else e[()]
    return e


def to_sympy(f: Callable, *names, shapes: dict | None = None, return_guards: bool = False,
             real: bool = False, **values):
    """Trace ``f`` into a SymPy expression.

    Each entry of `names` gives one positional argument of ``f``:

    * a string: a new SymPy symbol of that name (``real=True`` makes the
      symbols real).  With ``shapes={"x": (3,)}``, or with a value
      ``x=np.array([...])``, the argument is an array of symbols named
      ``x0, x1, x2`` (``x0_0, x0_1, ...`` for more dimensions);
    * a SymPy ``Symbol`` (or an array / list of them): used as given;
    * anything else (a number, a NumPy array): passed to ``f`` as a constant.

    So ``to_sympy(lambda x, a, b, m: (a*x + b)**m, "x", "a", "b", "m")`` leaves
    a, b and m symbolic, while ``to_sympy(g, "x", 2.0, 1.0, 10)`` fixes them.

    **Control flow.**  The expression follows the path that Python control
    flow took at the traced point: where ``f`` calls ``bool()`` (an ``if``,
    a ``while``, ``and``/``or``, ``min``/``max`` on traced values),
    ``float()`` or ``int()`` on a traced value, that value is computed at the
    numeric point given by the keyword `values` (``to_sympy(f, "x", x=0.3)``)
    and the condition that held there is recorded as a *guard*: ``x < 0``
    taken as False is recorded as ``x >= 0``, ``float(y)`` as ``Eq(y, value)``.
    The expression equals ``f`` only where all guards hold.  Without a point,
    such a call raises a TypeError.  With ``return_guards=True`` the result
    is ``(expression, guards)`` with the guards as a list of SymPy
    relationals / boolean expressions.  (``jnp.where``-style selects need no
    point: they become ``Piecewise``.)

    **Result.**  A SymPy expression for a scalar output, a ``sympy.Array`` for
    an array output, the same structure of them for a tuple/list/dict output.

    Every chainrule primitive in :data:`SUPPORTED_PRIMITIVES` has a SymPy
    counterpart (``select`` -> ``Piecewise``, ``maximum`` -> ``Max``,
    reductions over object arrays of expressions, ``matmul``, ``einsum``,
    ...); others raise NotImplementedError naming the primitive.  ``isfinite``
    is True (``isnan``, ``isinf`` False) for expressions in symbols: they are
    read at generic points, where they are finite.  Constants
    that are integral floats, simple fractions (0.5) and the floats nearest simple
    fractions (0.1, 1/3: denominators up to 10000) become exact SymPy numbers;
    other floats become SymPy Floats.  Functions built with
    ``chainrule.grad`` and friends trace too: ``to_sympy(chainrule.grad(f),
    "x")`` is the expression autodiff evaluates.
    """
    sp = _sympy()
    shapes = dict(shapes or {})
    assumptions = {"real": True} if real else {}
    args, sym_names = [], []
    used_values = set()
    for entry in names:
        if isinstance(entry, str) or isinstance(entry, sp.Symbol):
            name = entry if isinstance(entry, str) else entry.name
            sym_names.append(name)
            point = values.get(name, _NoPoint)
            if point is not _NoPoint:
                used_values.add(name)
            shape = shapes.get(name)
            if shape is None:
                shape = () if point is _NoPoint else tuple(np.shape(point))
            shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(shape)
            if point is not _NoPoint and tuple(np.shape(point)) != shape:
                raise ValueError(f"to_sympy: value of {name!r} has shape {np.shape(point)}, "
                                 f"but shapes gives {shape}")
            if isinstance(entry, sp.Symbol):
                if shape:
                    raise ValueError(f"to_sympy: {name!r} is a single Symbol; pass an array of "
                                     "symbols (or its name as a string) for an array argument")
                expr = entry
            else:
                expr = _symbol_array(sp, name, shape, assumptions) if shape else \
                    sp.Symbol(name, **assumptions)
            args.append(("sym", expr, point, shape))
        elif _is_symbol_collection(sp, entry):
            arr = np.array(entry, dtype=object)
            if isinstance(entry, (sp.NDimArray, sp.MatrixBase)):
                arr = np.array(entry.tolist(), dtype=object).reshape(entry.shape)
            args.append(("sym", arr, _NoPoint, arr.shape))
        else:
            args.append(("const", entry, None, None))
    unknown = set(values) - used_values
    if unknown:
        raise TypeError(f"to_sympy: values given for {sorted(unknown)}, which are not among the "
                        f"symbol names {sym_names}")

    with new_level() as level:
        trace = SymTrace(level, symbolic=True, names=sym_names)
        try:
            call_args = []
            for kind, expr, point, shape in args:
                if kind == "const":
                    call_args.append(expr)
                    continue
                if point is _NoPoint:
                    primal = np.full(shape, np.nan) if shape else math.nan
                    known = False
                else:
                    primal = point if not shape else np.asarray(point)
                    known = True
                call_args.append(SymTracer(trace, primal, expr, known))
            out = f(*call_args)
            from ..tree_util import tree_flatten, tree_unflatten
            leaves, tree = tree_flatten(out)
            result = tree_unflatten(tree, [_to_output(sp, leaf, trace) for leaf in leaves])
            guards = list(trace.guards)
        finally:
            trace.done = True
    return (result, guards) if return_guards else result


def _is_symbol_collection(sp, entry):
    if isinstance(entry, (sp.NDimArray, sp.MatrixBase)):
        return all(isinstance(e, sp.Symbol) for e in entry)
    if isinstance(entry, (list, tuple, np.ndarray)) and np.size(entry):
        flat = np.array(entry, dtype=object).ravel()
        return all(isinstance(e, sp.Symbol) for e in flat)
    return False


def _count_ops(f, *args):
    """Number of primitive operations `f` applies to values that depend on `args`."""
    with new_level() as level:
        trace = SymTrace(level, symbolic=False)
        try:
            f(*[SymTracer(trace, a, None, True) for a in args])
        finally:
            trace.done = True
    return trace.n_ops


# ============================================================ from_sympy ===

# The SymPy -> chainrule direction is the inverse of the same declarations: a primitive whose
# declared form is SymPy's function name (``"sin"``, ``"Max"``, ``"Lt"``, ``"And"``) is what
