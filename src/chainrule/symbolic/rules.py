"""The SymPy rule of each chainrule primitive: primitive -> function of SymPy values.

Elementwise primitives take their rules from their declared forms (``rules.scalar_forms``);
the others (reductions, shape operations, linear algebra, casts, truth values) are in
`_PRIMITIVE_RULES`.  Nothing here imports SymPy until a rule runs.
"""
from __future__ import annotations

import numpy as np

from ..ops import elementwise as E, reductions as R, shape as S, linalg as L, decompositions as D
from ..rules import scalar_forms
from .values import _const, _num, _sympy, _truth


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
