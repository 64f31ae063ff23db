"""A bridge to SymPy: trace chainrule code into expressions, and expressions into code.

Three entry points (SymPy is an optional dependency, ``pip install chainrule[symbolic]``,
imported only when one of them runs):

:func:`to_sympy`
    Runs a numerical function on symbolic tracers and returns the SymPy
    expression of what it computed.  The expression follows the path that
    Python control flow took at the traced point; the conditions that chose
    that path (the *guards*) can be returned too.
:func:`from_sympy`
    Turns a SymPy expression into a chainrule function (built from
    `chainrule.numpy` calls), which can be differentiated to any order,
    evaluated on arrays elementwise, and transformed like any other
    chainrule code.
:func:`compare`
    The n-th derivative of a scalar function at a point by automatic
    differentiation, by SymPy and by finite differences: values, errors
    against SymPy's exact value, sizes and times, as a small table.

Example::

    >>> import chainrule.symbolic as cs
    >>> cs.to_sympy(lambda x, a, b, m: (a * x + b) ** m, "x", "a", "b", "m")
    (a*x + b)**m
    >>> print(cs.compare(lambda x: (2 * x + 1) ** 10, 0.3, order=6))   # doctest: +SKIP
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from .core import Trace, Tracer, bind, new_level, shape_of
from .ops import elementwise as E, reductions as R, shape as S, linalg as L, decompositions as D
from .ops import special as P
from .rules import scalar_forms

__all__ = ["to_sympy", "from_sympy", "compare", "Comparison", "ComparisonRow",
           "SUPPORTED_SYMPY_FUNCTIONS", "SUPPORTED_PRIMITIVES", "supported_primitives"]


def _sympy():
    """The sympy module, or an ImportError that says how to get it."""
    try:
        import sympy
    except ImportError as exc:  # pragma: no cover - exercised only without sympy
        raise ImportError(
            "chainrule.symbolic needs SymPy, which is not installed; install the extra with "
            "`pip install chainrule[symbolic]` (or `pip install sympy`)") from exc
    return sympy


# ============================================================ constants ===

def _const(v):
    """A SymPy value for a plain Python / NumPy constant (arrays: object arrays).

    Integral floats become Integers, and a float that is exactly a fraction
    with denominator up to 10000 (0.5, 0.25) or is the float nearest one (0.1,
    1/3, 1/6) becomes that Rational, so that constants such as 1.0, 0.5 or
    1/6 read as the exact numbers they stand for; other floats become SymPy
    Floats holding the float's exact binary value.  ``math.pi`` and
    ``math.e`` become ``pi`` and ``E``.
    """
    sp = _sympy()
    if isinstance(v, sp.Basic):
        return v
    if isinstance(v, np.ndarray):
        if v.ndim == 0:
            return _const(v[()])
        out = np.empty(v.shape, dtype=object)
        for idx, item in np.ndenumerate(v):
            out[idx] = _const(item)
        return out
    if isinstance(v, (bool, np.bool_)):
        return sp.true if v else sp.false
    if isinstance(v, (int, np.integer)):
        return sp.Integer(int(v))
    if isinstance(v, (float, np.floating)):
        return _float_const(float(v))
    if isinstance(v, (complex, np.complexfloating)):
        v = complex(v)
        return _float_const(v.real) + sp.I * _float_const(v.imag)
    if isinstance(v, (list, tuple)):
        return _const(np.asarray(v))
    raise TypeError(f"to_sympy: cannot turn a constant of type {type(v).__name__} into a SymPy value")


def _float_const(v: float):
    sp = _sympy()
    if math.isnan(v):
        return sp.nan
    if math.isinf(v):
        return sp.oo if v > 0 else -sp.oo
    if v == math.pi:
        return sp.pi
    if v == math.e:
        return sp.E
    if abs(v) >= 2.0 ** 53:
        return sp.Float(v)
    fr = Fraction(v)
    if fr.denominator > 1024:
        # the float nearest a simple fraction (0.1, 1/3, 1/6) stands for that fraction
        simple = fr.limit_denominator(_MAX_DENOMINATOR)
        if float(simple) == v and abs(simple.numerator) < 2 ** 53:
            fr = simple
    if fr.denominator <= _MAX_DENOMINATOR:
        return sp.Rational(fr.numerator, fr.denominator)
    return sp.Float(v)


_MAX_DENOMINATOR = 10000


def _is_bool(e):
    """A SymPy truth value (relational, And/Or/Not, true/false), not a number."""
    sp = _sympy()
    return isinstance(e, sp.logic.boolalg.Boolean) and not isinstance(e, sp.Expr)


def _num(e):
    """Truth values used as numbers (``(x > 0) * 1.0``) read as 1 or 0."""
    sp = _sympy()
    if _is_bool(e):
        if e == sp.true:
            return sp.Integer(1)
        if e == sp.false:
            return sp.Integer(0)
        return sp.Piecewise((sp.Integer(1), e), (sp.Integer(0), True))
    return e


def _truth(e):
    """Numbers used as truth values read as ``e != 0``."""
    sp = _sympy()
    if _is_bool(e):
        return e
    return sp.Ne(e, 0)


# ============================================== element-wise application ===

def _obj0(a):
    """A 0-d object array around a scalar expression (so NumPy never looks inside it)."""
    if isinstance(a, np.ndarray):
        return a if a.dtype == object else _const(a)
    out = np.empty((), dtype=object)
    out[()] = a
    return out


def _unwrap0(a):
    if isinstance(a, np.ndarray):
        if a.ndim == 0:
            return a[()]
        if a.dtype != object:
            return _const(a)
    return a


def _elementwise(fn):
    """Apply a scalar SymPy function elementwise, broadcasting like NumPy."""
    def rule(*args, **params):
        if not any(isinstance(a, np.ndarray) for a in args):
            return fn(*args, **params)
        ufunc = np.frompyfunc(lambda *xs: fn(*xs, **params), len(args), 1)
        return _unwrap0(ufunc(*[_obj0(a) for a in args]))
    return rule


def _arith(fn):
    """An arithmetic rule: truth-valued operands count as 1/0."""
    return _elementwise(lambda *xs, **params: fn(*[_num(x) for x in xs], **params))


def _logic(fn):
    return _elementwise(lambda *xs: fn(*[_truth(x) for x in xs]))


# ======================================================= the rule table ===

def _reduce(x, axes, keepdims, combine, convert=None):
    """Reduce an object array over `axes` with an n-ary SymPy constructor."""
    convert = convert or _num
    x = _obj0(x)
    keep = [i for i in range(x.ndim) if i not in axes]
    moved = np.transpose(x, keep + list(axes))
    lead = tuple(x.shape[i] for i in keep)
    flat = moved.reshape(lead + (-1,))
    out = np.empty(lead, dtype=object)
    for idx in np.ndindex(*lead):
        out[idx] = combine(*[convert(v) for v in flat[idx]])
    if keepdims:
        out = out.reshape(tuple(1 if i in axes else n for i, n in enumerate(x.shape)))
    return _unwrap0(out)


def _cumulative(x, axis, combine):
    x = _obj0(x)
    moved = np.moveaxis(x, axis, -1)
    out = np.empty(moved.shape, dtype=object)
    for idx in np.ndindex(*moved.shape[:-1]):
        acc = None
        for k in range(moved.shape[-1]):
            v = _num(moved[idx + (k,)])
            acc = v if acc is None else combine(acc, v)
            out[idx + (k,)] = acc
    return np.moveaxis(out, -1, axis)


def _einsum(*ops, spec):
    """Explicit-form einsum on object arrays: sums of products, written out."""
    sp = _sympy()
    ins, out = spec.split("->")
    ins = ins.split(",")
    ops = [_obj0(o) for o in ops]
    sizes = {}
    for sub, o in zip(ins, ops):
        for c, n in zip(sub, o.shape):
            sizes[c] = n
    summed = [c for c in dict.fromkeys("".join(ins)) if c not in out]
    res = np.empty(tuple(sizes[c] for c in out), dtype=object)
    for oidx in np.ndindex(*res.shape):
        env = dict(zip(out, oidx))
        terms = []
        for sidx in np.ndindex(*[sizes[c] for c in summed]):
            env.update(zip(summed, sidx))
            terms.append(sp.Mul(*[_num(o[tuple(env[c] for c in sub)]) for sub, o in zip(ins, ops)]))
        res[oidx] = sp.Add(*terms)
    return _unwrap0(res)


def _matmul(a, b):
    sp = _sympy()
    a, b = _obj0(a), _obj0(b)
    a1, b1 = a.ndim == 1, b.ndim == 1
    if a1:
        a = a[None, :]
    if b1:
        b = b[:, None]
    shape = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = np.broadcast_to(a, shape + a.shape[-2:])
    b = np.broadcast_to(b, shape + b.shape[-2:])
    n, k, m = a.shape[-2], a.shape[-1], b.shape[-1]
    out = np.empty(shape + (n, m), dtype=object)
    for bidx in np.ndindex(*shape):
        for i in range(n):
            for j in range(m):
                out[bidx + (i, j)] = sp.Add(*[_num(a[bidx + (i, t)]) * _num(b[bidx + (t, j)])
                                              for t in range(k)])
    if a1:
        out = out[..., 0, :]
    if b1:
        out = out[..., 0]
    return _unwrap0(out)


def _batched_matrix(fn, *mats):
    """Apply fn(*sympy Matrices) over the leading (batch) axes of object arrays."""
    sp = _sympy()
    mats = [_obj0(m) for m in mats]
    batch = mats[0].shape[:-2]
    results = {}
    for bidx in np.ndindex(*batch):
        results[bidx] = fn(*[sp.Matrix(m[bidx].tolist()) for m in mats])
    return batch, results


def _stack_batch(batch, results, conv):
    first = conv(results[next(iter(results))]) if results else np.empty(0, dtype=object)
    out = np.empty(batch + np.shape(first), dtype=object)
    for bidx, r in results.items():
        out[bidx] = conv(r)
    return _unwrap0(out)


def _as_obj(m):
    return np.array(m.tolist(), dtype=object)


def _det(a):
    batch, res = _batched_matrix(lambda m: m.det(), a)
    return _stack_batch(batch, res, lambda d: d)


def _inv(a):
    batch, res = _batched_matrix(lambda m: m.inv(), a)
    return _stack_batch(batch, res, _as_obj)


def _solve(a, b):
    batch, res = _batched_matrix(lambda m, r: m.LUsolve(r), a, b)
    return _stack_batch(batch, res, _as_obj)


def _cholesky(a):
    """The lower Cholesky factor, from the lower triangle (as NumPy reads it)."""
    sp = _sympy()

    def chol(m):
        n = m.shape[0]
        L = sp.zeros(n, n)
        for j in range(n):
            L[j, j] = sp.sqrt(m[j, j] - sum((L[j, k] ** 2 for k in range(j)), sp.Integer(0)))
            for i in range(j + 1, n):
                L[i, j] = (m[i, j] - sum((L[i, k] * L[j, k] for k in range(j)), sp.Integer(0))) / L[j, j]
        return L
    batch, res = _batched_matrix(chol, a)
    return _stack_batch(batch, res, _as_obj)


def _slogdet(a):
    sp = _sympy()
    d = _det(a)
    return _elementwise(sp.sign)(d), _elementwise(lambda e: sp.log(sp.Abs(e)))(d)


def _getitem(x, idx):
    return _unwrap0(_obj0(x)[idx])


def _index_add(x, y, idx):
    out = np.array(_obj0(x), dtype=object, copy=True)
    y = _obj0(y)
    np.add.at(out, idx, y)
    return out


def _index_set(x, y, idx):
    out = np.array(_obj0(x), dtype=object, copy=True)
    out[idx] = _obj0(y)
    return out


def _pad(x, widths):
    sp = _sympy()
    return np.pad(_obj0(x), widths, mode="constant", constant_values=sp.Integer(0))


def _convert(x, dtype):
    sp = _sympy()
    dtype = np.dtype(dtype)

    def one(e):
        if dtype.kind == "b":
            return _truth(e)
        e = _num(e)
        if dtype.kind in "iu":
            return sp.Piecewise((sp.floor(e), e >= 0), (sp.ceiling(e), True))
        return e
    return _elementwise(one)(x)


def _finite(e):
    """isfinite: decided for numbers; an expression in symbols is taken to be finite.

    A symbolic expression stands for its values at generic points, where it is
    finite (``log(x)`` is finite for every x but one) -- the same reading under
    which ``isnan`` is False and ``isinf`` False.
    """
    sp = _sympy()
    e = _num(e)
    if e.is_number:
        return sp.true if e.is_finite else sp.false
    return sp.true


def _isnan(e):
    sp = _sympy()
    return sp.true if _num(e) is sp.nan else sp.false


def _isinf(e):
    sp = _sympy()
    return sp.false if _finite(e) == sp.true or _num(e) is sp.nan else sp.true


def _select(c, x, y):
    return _sympy().Piecewise((x, _truth(c)), (y, True))


def _reduction(combine, convert=None):
    """A reduce_* rule folding with the n-ary SymPy constructor named `combine` (Add, Max, ...)."""
    return lambda x, axes, keepdims: _reduce(x, axes, keepdims, getattr(_sympy(), combine), convert)


# The rules of the primitives that are not elementwise, or whose SymPy form needs more than a
# scalar function (truth values, casts), keyed by primitive.  The elementwise primitives' rules
# come from their declarations, ``rules.scalar_forms[p].sympy`` (see `_declared_rule`); a
# declaration takes precedence over an entry here.  Each rule imports SymPy only when it runs,
# so this table (and SUPPORTED_PRIMITIVES) exists without SymPy.
_PRIMITIVE_RULES = {
    E.isfinite_p: _elementwise(_finite),
    E.isnan_p: _elementwise(_isnan),
    E.isinf_p: _elementwise(_isinf),
    E.select_p: _elementwise(_select),
    S.convert_p: _convert,
    R.reduce_sum_p: _reduction("Add"),
    R.reduce_prod_p: _reduction("Mul"),
    R.reduce_max_p: _reduction("Max"),
    R.reduce_min_p: _reduction("Min"),
    R.any_p: _reduction("Or", _truth),
    R.all_p: _reduction("And", _truth),
    R.cumsum_p: lambda x, axis: _cumulative(x, axis, lambda a, b: a + b),
    R.cumprod_p: lambda x, axis: _cumulative(x, axis, lambda a, b: a * b),
    S.reshape_p: lambda x, shape: _unwrap0(np.reshape(_obj0(x), shape)),
    S.transpose_p: lambda x, axes: np.transpose(_obj0(x), axes),
    S.broadcast_to_p: lambda x, shape: _unwrap0(np.array(np.broadcast_to(_obj0(x), shape))),
    S.concatenate_p: lambda *xs, axis: np.concatenate([_obj0(x) for x in xs], axis=axis),
    S.getitem_p: _getitem,
    S.index_add_p: _index_add,
    S.index_set_p: _index_set,
    S.pad_p: _pad,
    L.matmul_p: _matmul,
    L.einsum_p: _einsum,
    D.det_p: _det,
    D.inv_p: _inv,
    D.solve_p: _solve,
    D.slogdet_p: _slogdet,
    D.cholesky_p: _cholesky,
}

# Elementwise primitives whose operands are truth values (numbers read as ``x != 0``).
_LOGICAL = (E.and_p, E.or_p, E.xor_p, E.logical_not_p)


def _declared_function(form):
    """The SymPy function of a declared form: SymPy's function name, or ``fn(sympy, *args)``."""
    if isinstance(form, str):
        return lambda *args, **params: getattr(_sympy(), form)(*args, **params)
    return lambda *args, **params: form(_sympy(), *args, **params)


def _declared_rule(p, form):
    fn = _declared_function(form)
    return _logic(fn) if p in _LOGICAL else _arith(fn)


_RULES: dict = {}
_RULES_FROM: list = [None]       # the declarations _RULES was built from


def _rules():
    """primitive -> SymPy rule: `_PRIMITIVE_RULES` and the declared elementwise forms.

    Rebuilt when the declarations change (a primitive registered later), so it always
    matches `rules.scalar_forms`; building it does not import SymPy.
    """
    declared = {p: f.sympy for p, f in scalar_forms.items() if f.sympy is not None}
    if _RULES_FROM[0] != declared:
        table = dict(_PRIMITIVE_RULES)
        table.update({p: _declared_rule(p, form) for p, form in declared.items()})
        _RULES.clear()
        _RULES.update(table)
        _RULES_FROM[0] = declared
    return _RULES


def supported_primitives():
    """The names of the chainrule primitives that :func:`to_sympy` can translate."""
    return sorted(p.name for p in _rules())


#: Names of the chainrule primitives with a SymPy counterpart in :func:`to_sympy`
#: (:func:`supported_primitives` at import; derived from the rule table, without importing SymPy).
SUPPORTED_PRIMITIVES = tuple(supported_primitives())


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
            from .tree_util import tree_flatten, tree_unflatten
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
# that SymPy function becomes.  Declared forms that SymPy never keeps as a node of that name
# are left out (sqrt(x) is Pow(x, 1/2), translated with Pow).
_NOT_FUNCTION_NODES = (E.sqrt_p,)
# relations and And/Or/Not/Xor are translated from their declarations too, but documented apart
_RELATIONS = (E.lt_p, E.le_p, E.gt_p, E.ge_p, E.eq_p, E.ne_p)


def _heaviside(x, h0=0.5):
    return E.select(E.greater(x, 0.0), 1.0, E.select(E.less(x, 0.0), 0.0, h0))


def _gamma(x):
    from .scipy import special
    return special.gamma(x)


# SymPy functions that are no primitive's declared form, keyed by SymPy's function name:
# (description, chainrule code).
_EXTRA_SYMPY_FUNCTIONS = {
    "cot": ("1 / cnp.tan", lambda x: 1.0 / E.tan(x)),
    "sec": ("1 / cnp.cos", lambda x: 1.0 / E.cos(x)),
    "csc": ("1 / cnp.sin", lambda x: 1.0 / E.sin(x)),
    "acot": ("cnp.arctan(1 / x)", lambda x: E.arctan(1.0 / x)),
    "coth": ("1 / cnp.tanh", lambda x: 1.0 / E.tanh(x)),
    "sech": ("1 / cnp.cosh", lambda x: 1.0 / E.cosh(x)),
    "csch": ("1 / cnp.sinh", lambda x: 1.0 / E.sinh(x)),
    "acoth": ("cnp.arctanh(1 / x)", lambda x: E.arctanh(1.0 / x)),
    "Heaviside": ("cnp.where(x > 0, 1, where(x < 0, 0, H0))", _heaviside),
    "sinc": ("cnp.sinc(x / pi) (SymPy's sinc is unnormalised)", lambda x: P.sinc(x / math.pi)),
    "digamma": ("chainrule.scipy.special.digamma", P.digamma),
    "gamma": ("chainrule.scipy.special.gamma", _gamma),
}
_STRUCTURAL_SYMPY_FUNCTIONS = {"Piecewise": "cnp.where (nested; NaN where no condition holds)"}


def _declared_inverses():
    """{SymPy function name: primitive} for the forms declared as SymPy's function name."""
    out = {}
    for p, form in scalar_forms.items():
        if isinstance(form.sympy, str) and p not in _NOT_FUNCTION_NODES:
            out.setdefault(form.sympy, p)
    return out


def _chainrule_function(p):
    """The public function that applies primitive `p` (its module's wrapper of that name, which
    may normalise arguments, as polygamma's order), else `p` bound directly."""
    for mod in (E, P):
        fn = getattr(mod, p.name, None)
        if callable(fn) and getattr(fn, "__module__", None) == mod.__name__:
            return fn
    return lambda *args: bind(p, *args)


def _describe(p):
    from . import numpy as cnp
    if callable(getattr(cnp, p.name, None)):
        return f"cnp.{p.name}"
    if callable(getattr(P, p.name, None)):
        return f"chainrule.scipy.special.{p.name}"
    return f"the primitive {p.name}"


def _folding(fn):
    """fn, left-folded over more than two arguments (SymPy's Max, And, ... are n-ary)."""
    def call(*args):
        if len(args) <= 2:
            return fn(*args)
        out = fn(args[0], args[1])
        for a in args[2:]:
            out = fn(out, a)
        return out
    return call


#: SymPy functions :func:`from_sympy` translates, and the chainrule code each becomes
#: (derived from the primitives' declared SymPy forms, plus the functions in
#: `_EXTRA_SYMPY_FUNCTIONS`).  Beyond these functions: Add, Mul, Pow -- including sqrt as
#: Pow(., 1/2) --, Integer/Rational/Float and the constants pi, E, EulerGamma, ... are always
#: handled, as are the relations Lt/Le/Gt/Ge/Eq/Ne and And/Or/Not/Xor.
SUPPORTED_SYMPY_FUNCTIONS = dict(sorted(
    [(name, _describe(p)) for name, p in _declared_inverses().items()
     if p not in _RELATIONS and p not in _LOGICAL]
    + [(name, desc) for name, (desc, _) in _EXTRA_SYMPY_FUNCTIONS.items()]
    + list(_STRUCTURAL_SYMPY_FUNCTIONS.items()), key=lambda kv: kv[0].lower()))

_INVERSE: dict = {}
_INVERSE_FROM: list = [None]


def _inverse_table(sp):
    """SymPy function (class) -> chainrule callable, rebuilt when the declarations change."""
    declared = _declared_inverses()
    if _INVERSE_FROM[0] != declared:
        table = {getattr(sp, name): fn for name, (_, fn) in _EXTRA_SYMPY_FUNCTIONS.items()}
        for name, p in declared.items():
            f = getattr(sp, name, None)
            if f is not None:
                table[f] = _folding(_chainrule_function(p))
        _INVERSE.clear()
        _INVERSE.update(table)
        _INVERSE_FROM[0] = declared
    return _INVERSE


def _check_supported(sp, expr):
    """Raise NotImplementedError naming the first SymPy node from_sympy cannot translate."""
    from sympy.core.function import AppliedUndef
    table = _inverse_table(sp)
    for node in sp.preorder_traversal(expr):
        if isinstance(node, AppliedUndef):
            raise NotImplementedError(
                f"from_sympy: '{node.func}' is an undefined SymPy function; define it in terms "
                "of supported functions")
        if isinstance(node, (sp.Symbol, sp.Number, sp.NumberSymbol, sp.Add, sp.Mul, sp.Pow,
                             sp.Piecewise, sp.logic.boolalg.BooleanAtom, sp.core.numbers.ImaginaryUnit)):
            continue
        if type(node).__name__ == "ExprCondPair":
            continue
        if getattr(node, "func", None) in table:
            continue
        if isinstance(node, sp.core.function.Application):
            raise NotImplementedError(
                f"from_sympy: SymPy function '{type(node).__name__}' is not supported (supported: "
                f"{', '.join(SUPPORTED_SYMPY_FUNCTIONS)})")
        raise NotImplementedError(f"from_sympy: SymPy object of type '{type(node).__name__}' "
                                  f"({node}) is not supported")


class _Translator:
    """Evaluates a SymPy expression tree with chainrule.numpy, memoising shared subtrees."""

    def __init__(self, sp, env):
        from . import numpy as cnp
        self.sp, self.env, self.memo, self.cnp = sp, env, {}, cnp
        self.functions = _inverse_table(sp)

    def __call__(self, e):
        try:
            return self.memo[e]
        except KeyError:
            pass
        v = self._eval(e)
        self.memo[e] = v
        return v

    def _eval(self, e):
        sp = self.sp
        if isinstance(e, sp.Symbol):
            return self.env[e]
        if e is sp.true or e is sp.false:
            return bool(e)
        if isinstance(e, sp.core.numbers.ImaginaryUnit):
            return 1j
        if e is sp.zoo:
            raise ValueError("from_sympy: complex infinity (zoo) has no numeric value")
        if isinstance(e, (sp.Number, sp.NumberSymbol)):
            return float(e)
        if isinstance(e, sp.Add):
            out = None
            for a in e.args:
                v = self(a)
                out = v if out is None else out + v
            return out
        if isinstance(e, sp.Mul):
            return self._mul(e)
        if isinstance(e, sp.Pow):
            return self._pow(*e.args)
        if isinstance(e, sp.Piecewise):
            return self._piecewise(e)
        fn = self.functions.get(e.func)
        if fn is not None:          # functions, relations and And/Or/Not/Xor
            return fn(*[self(a) for a in e.args])
        raise NotImplementedError(f"from_sympy: cannot translate {type(e).__name__} ({e})")

    def _mul(self, e):
        sp = self.sp
        coeff, factors = e.as_coeff_mul()
        num, den = [], []
        for f in factors:
            if isinstance(f, sp.Pow) and f.exp.is_Number and f.exp < 0:
                den.append(f.base if f.exp == -1 else sp.Pow(f.base, -f.exp, evaluate=False))
            else:
                num.append(f)
        out = None
        for f in num:
            v = self(f)
            out = v if out is None else out * v
        c = float(coeff)
        if out is None:
            out = c
        elif c == -1.0:
            out = -out
        elif c != 1.0:
            out = c * out
        if den:
            d = None
            for f in den:
                v = self(f)
                d = v if d is None else d * v
            out = out / d
        return out

    def _pow(self, base, ex):
        sp, cnp = self.sp, self.cnp
        if ex == sp.Rational(1, 2):
            return cnp.sqrt(self(base))
        if ex == sp.Rational(-1, 2):
            return 1.0 / cnp.sqrt(self(base))
        if ex == -1:
            return 1.0 / self(base)
        if ex == 1:
            return self(base)
        if base is sp.E:
            return cnp.exp(self(ex))
        if ex == 2:
            b = self(base)
            return b * b
        return cnp.power(self(base), self(ex))

    def _piecewise(self, e):
        cnp = self.cnp
        pieces = list(e.args)
        if pieces and pieces[-1].cond == self.sp.true:
            out = self(pieces[-1].expr)
            pieces = pieces[:-1]
        else:
            out = math.nan
        for piece in reversed(pieces):
            out = cnp.where(self(piece.cond), self(piece.expr), out)
        return out


def _as_expr(sp, e):
    """`e` as a SymPy object, never by parsing text: `sympify` of a string evaluates it."""
    if isinstance(e, str):
        raise TypeError("from_sympy takes a SymPy expression, not a string: parsing text "
                        "runs it as Python code. If you trust the text, pass "
                        "sympy.sympify(text) yourself")
    try:
        return sp.sympify(e, strict=True)     # numbers and SymPy objects only
    except sp.SympifyError:
        raise TypeError(f"from_sympy takes SymPy expressions (or numbers), got an object of "
                        f"type {type(e).__name__}") from None


def from_sympy(expr, symbols) -> Callable:
    """A chainrule function computing the SymPy expression `expr`.

    ``from_sympy(expr, [x, y])`` returns ``fn(x_value, y_value)``: its
    positional arguments are bound to `symbols` in order (SymPy Symbols, or
    their names as strings; an entry may also be a list/array of symbols, for
    an array argument whose elements they name).  `expr` may be a SymPy
    expression, a ``Matrix`` / ``Array`` (the result is an array of that
    shape) or a tuple / list of expressions.  Text is refused (TypeError):
    SymPy parses a string by evaluating it, so only ``sympy.sympify(text)``
    of text you trust, called by you, turns it into an expression.

    The function is plain `chainrule.numpy` code: it evaluates elementwise on
    arrays, and `chainrule.grad`, `jvp`, `jacfwd`, nested derivatives (and
    `vmap`) apply to it.  ``Piecewise`` becomes nested ``where`` (so only the
    chosen piece contributes to derivatives), ``Max``/``Min`` ``maximum``/``minimum``.

    Translated: ``Add``, ``Mul`` (a product over a product: negative powers
    divide), ``Pow`` (``sqrt`` is ``Pow(x, 1/2)``), numbers (``Integer``,
    ``Rational``, ``Float``) and constants (``pi``, ``E``, ...), the relations
    ``Lt, Le, Gt, Ge, Eq, Ne``, ``And, Or, Not, Xor`` and these functions
    (:data:`SUPPORTED_SYMPY_FUNCTIONS`): sin, cos, tan, cot, sec, csc, asin,
    acos, atan, acot, atan2, sinh, cosh, tanh, coth, sech, csch, asinh, acosh,
    atanh, acoth, exp, log, Abs, sign, floor, ceiling, Max, Min, Piecewise,
    Heaviside, Mod, sinc, re, im, conjugate, and through ``chainrule.scipy.special``
    erf, erfc, erfinv, loggamma, gamma, digamma, polygamma.  Any other function (or an
    undefined one, or a free symbol missing from `symbols`) raises
    NotImplementedError / ValueError naming it, when ``from_sympy`` is called.
    """
    sp = _sympy()
    if isinstance(symbols, (sp.Symbol, str)):
        symbols = [symbols]
    shape = None
    if isinstance(expr, (sp.MatrixBase, sp.NDimArray)):
        shape = tuple(expr.shape)
        roots = [_as_expr(sp, e) for e in np.array(expr.tolist(), dtype=object).ravel()]
        structure = "array"
    elif isinstance(expr, (list, tuple)):
        roots = [_as_expr(sp, e) for e in expr]
        structure = type(expr)
    else:
        roots = [_as_expr(sp, expr)]
        structure = "scalar"
    free = set().union(*[r.free_symbols for r in roots]) if roots else set()

    specs = []      # per argument: ("scalar", Symbol) or ("array", object array of Symbols)
    for s in symbols:
        if isinstance(s, str):
            matches = [f for f in free if f.name == s]
            specs.append(("scalar", matches[0] if matches else sp.Symbol(s)))
        elif isinstance(s, sp.Symbol):
            specs.append(("scalar", s))
        elif isinstance(s, (list, tuple, np.ndarray, sp.NDimArray, sp.MatrixBase)):
            arr = np.array(list(s) if isinstance(s, (sp.NDimArray, sp.MatrixBase)) else s, dtype=object)
            if isinstance(s, (sp.NDimArray, sp.MatrixBase)):
                arr = arr.reshape(s.shape)
            specs.append(("array", arr))
        else:
            raise TypeError(f"from_sympy: symbols entries must be Symbols, names or arrays of "
                            f"Symbols, got {s!r}")
    bound = set()
    for kind, s in specs:
        bound.update([s] if kind == "scalar" else list(s.ravel()))
    missing = free - bound
    if missing:
        raise ValueError(f"from_sympy: the expression has free symbols "
                         f"{sorted(map(str, missing))} that are not in symbols")
    for r in roots:
        _check_supported(sp, r)

    def fn(*args):
        if len(args) != len(specs):
            raise TypeError(f"this function (from_sympy) takes {len(specs)} positional "
                            f"arguments, got {len(args)}")
        env = {}
        for (kind, s), a in zip(specs, args):
            if kind == "scalar":
                env[s] = a
            else:
                if tuple(shape_of(a)) != s.shape:
                    raise ValueError(f"from_sympy: argument for {s.shape}-shaped symbols has "
                                     f"shape {shape_of(a)}")
                for idx in np.ndindex(*s.shape):
                    env[s[idx]] = a[idx]
        tr = _Translator(sp, env)
        scalar_args = [a for (kind, _), a in zip(specs, args) if kind == "scalar"]
        outs = [_as_output(tr(r), scalar_args) for r in roots]
        if structure == "scalar":
            return outs[0]
        if structure == "array":
            from . import numpy as cnp
            return cnp.reshape(cnp.stack([cnp.asarray(o) for o in outs]), shape)
        return structure(outs)

    fn.expr = expr
    fn.symbols = list(symbols)
    fn.__name__ = "from_sympy_fn"
    fn.__doc__ = f"chainrule function of {', '.join(map(str, symbols))} computing {expr}"
    return fn


def _as_output(v, scalar_args):
    """Results that do not depend on the (elementwise) scalar arguments broadcast to their shape.

    ``from_sympy(3, [x])(np.arange(3.))`` gives ``[3., 3., 3.]``, as elementwise code would.
    """
    if isinstance(v, Tracer):
        return v
    if isinstance(v, (bool, np.bool_)):
        v = float(v)
    shapes = [shape_of(a) for a in scalar_args]
    shape = np.broadcast_shapes(*shapes) if shapes else ()
    if np.shape(v) == shape:
        return v if np.ndim(v) else float(v)
    return np.broadcast_to(np.asarray(v, dtype=float), np.broadcast_shapes(shape, np.shape(v))).copy()


# =============================================================== compare ===

@dataclass
class ComparisonRow:
    """One technique's result in a :class:`Comparison`."""

    key: str                 # "autodiff", "taylor", "sympy", "fd"
    method: str              # human-readable label
    value: float | None      # None: the technique did not run (see `note`)
    abs_error: float | None  # |value - exact|
    rel_error: float | None  # abs_error / |exact|
    size: int | None         # see size_unit
    size_unit: str
    seconds: float | None
    note: str = ""


@dataclass
class Comparison:
    """The result of :func:`compare`; ``str()`` gives an aligned table."""

    function: str
    x: float
    order: int
    exact: Any                       # SymPy's value (a 30-digit SymPy Float)
    derivative: Any                  # SymPy's expression of the derivative
    rows: list = field(default_factory=list)
    guards: list = field(default_factory=list)

    def __getitem__(self, key):
        for r in self.rows:
            if r.key == key:
                return r
        raise KeyError(key)

    def __str__(self):
        def fmt(v, spec):
            return "-" if v is None else format(v, spec)

        def fmt_err(r):
            if r.value is None or r.abs_error is None:
                return "-"
            return "0 (exact)" if r.key == "sympy" else format(r.abs_error, ".2e")

        head = (f"{_ordinal(self.order)} derivative of {self.function} at x = {self.x!r}; "
                f"exact (SymPy) = {_exact_str(self.exact)}")
        cols = ["method", "value", "abs error", "rel error", "size", "time"]
        body = []
        for r in self.rows:
            size = "-" if r.size is None else f"{r.size} {r.size_unit}"
            t = "-" if r.seconds is None else _fmt_time(r.seconds)
            rel = "-" if r.value is None or r.rel_error is None else (
                "0" if r.key == "sympy" else format(r.rel_error, ".1e"))
            body.append([r.method, fmt(r.value, ".16g"), fmt_err(r), rel, size, t, r.note])
        widths = [max(len(c), *(len(b[i]) for b in body)) for i, c in enumerate(cols)]
        header = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cols, widths))]
        lines = [head, "  ".join(header),
                 "  ".join("-" * w for w in widths)]
        for b in body:
            cells = [b[i].ljust(widths[i]) if i == 0 else b[i].rjust(widths[i]) for i in range(6)]
            line = "  ".join(cells)
            if b[6]:
                line += "  " + b[6]
            lines.append(line)
        if self.guards:
            lines.append("SymPy's expression holds where: " + ", ".join(map(str, self.guards)))
        lines.append("size: autodiff = primitive operations evaluated on values that depend on x; "
                     "SymPy = count_ops of the derivative; FD = evaluations of f")
        return "\n".join(lines)


def _exact_str(v):
    try:
        return str(_sympy().N(v, 20))
    except (TypeError, ValueError):  # pragma: no cover
        return str(v)


def _ordinal(n):
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _fmt_time(s):
    if s < 1e-3:
        return f"{s * 1e6:.0f} us"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def _best_time(fn, repeat):
    best, out = None, None
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return out, best


def compare(f: Callable, x, order: int = 1, names=None, args: Sequence = (),
            repeat: int = 3, fd_method: str = "richardson") -> Comparison:
    """The `order`-th derivative of scalar ``f(x, *args)`` at `x`, three ways.

    * **autodiff**: ``chainrule.grad`` nested `order` times (and Taylor mode,
      ``chainrule.derivative(f, order)``, where it is implemented); size = the
      number of primitive operations evaluated on values that depend on x;
    * **SymPy**: :func:`to_sympy`, ``sympy.diff`` `order` times, then exact
      evaluation at x (the float x's exact binary value) to 30 digits -- the
      reference value; size = ``sympy.count_ops`` of the derivative;
    * **finite differences**: ``chainrule.fd.derivative(..., method=fd_method)``
      where ``chainrule.fd`` supports the order (skipped otherwise); size = the
      number of function evaluations.

    `names` names the arguments for SymPy: by default ``("x",)`` with `args`
    passed as numbers; ``names=("x", "a", "b", "m")`` keeps the extra
    arguments symbolic while SymPy differentiates (they are substituted only
    to evaluate), which is what makes a symbolic derivative swell.  Times are
    the best of `repeat` runs for autodiff and FD, one run for SymPy (trace,
    differentiate, evaluate).  Returns a :class:`Comparison`; print it for
    the table.
    """
    import chainrule as cr
    sp = _sympy()
    order = int(order)
    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    x = float(x)
    args = tuple(args)
    if names is None:
        names = ("x",)
    elif isinstance(names, str):
        names = (names,)
    names = tuple(names)
    if not 1 <= len(names) <= 1 + len(args):
        raise ValueError(f"compare: names {names} must name x and at most the {len(args)} extra args")
    fname = getattr(f, "__name__", "f")
    fname = "f" if fname == "<lambda>" else fname
    rows = []

    # -- SymPy (the reference)
    t0 = time.perf_counter()
    sym_names = list(names) + list(args[len(names) - 1:])
    point = {n: v for n, v in zip(names, (x,) + args)}
    expr, guards = to_sympy(f, *sym_names, return_guards=True, **point)
    xs = sp.Symbol(names[0])
    d = sp.diff(expr, xs, order)
    subs = {sp.Symbol(n): (sp.Rational(Fraction(v)) if isinstance(v, float) else _const(v))
            for n, v in point.items()}
    exact = sp.N(d.subs(subs), 30)
    t_sym = time.perf_counter() - t0
    try:
        exact_f = float(exact)
    except TypeError:
        exact_f = math.nan
    if len(str(expr)) <= 40:
        fname = str(expr)
    rows.append(ComparisonRow("sympy", "SymPy (diff)", exact_f, 0.0, 0.0, int(sp.count_ops(d)),
                              "ops", t_sym))

    def errors(v):
        if v is None or not math.isfinite(exact_f):
            return None, None
        ae = abs(float(sp.Float(v, 30) - exact))
        return ae, (ae / abs(exact_f) if exact_f else None)

    # -- autodiff: nested grad
    def autodiff_row(key, label, make):
        try:
            dfn = make()
            v, t = _best_time(lambda: float(dfn(x)), repeat)
        except NotImplementedError as exc:
            return ComparisonRow(key, label, None, None, None, None, "", None, f"skipped: {exc}")
        except Exception as exc:  # noqa: BLE001 - reported in the table
            return ComparisonRow(key, label, None, None, None, None, "", None,
                                 f"failed: {type(exc).__name__}: {exc}")
        ae, re_ = errors(v)
        try:
            n_ops = _count_ops(dfn, x)
        except Exception:  # noqa: BLE001 - the size is optional
            n_ops = None
        return ComparisonRow(key, label, v, ae, re_, n_ops, "ops", t)

    def nested_grad():
        g = f
        for _ in range(order):
            g = cr.grad(g)
        return lambda t_: g(t_, *args)

    rows.insert(0, autodiff_row("autodiff", f"autodiff (grad x{order})", nested_grad))
    rows.insert(1, autodiff_row("taylor", "autodiff (Taylor)",
                                lambda: cr.derivative(lambda t_: f(t_, *args), order)))

    # -- finite differences
    label = f"finite diff ({fd_method})"
    try:
        from . import fd as _fd
        fd_derivative = _fd.derivative
    except (ImportError, AttributeError):
        rows.append(ComparisonRow("fd", label, None, None, None, None, "", None,
                                  "skipped: chainrule.fd not available"))
    else:
        try:
            res, t = _best_time(lambda: fd_derivative(lambda t_: f(t_, *args), x, order=order,
                                                     method=fd_method), repeat)
            v = float(res.value)
            ae, re_ = errors(v)
            est = getattr(res, "error", None)
            rows.append(ComparisonRow("fd", label, v, ae, re_, getattr(res, "nfev", None), "evals",
                                      t, "" if est is None else f"(estimated error {float(est):.1e})"))
        except (ValueError, NotImplementedError) as exc:
            rows.append(ComparisonRow("fd", label, None, None, None, None, "", None,
                                      f"skipped: {exc}"))
        except Exception as exc:  # noqa: BLE001 - reported in the table
            rows.append(ComparisonRow("fd", label, None, None, None, None, "", None,
                                      f"failed: {type(exc).__name__}: {exc}"))
    return Comparison(fname, x, order, exact, d, rows, guards)
