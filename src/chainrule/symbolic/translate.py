"""SymPy -> chainrule: :func:`from_sympy`, its translator and its SymPy-function tables."""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..core import Tracer, bind, shape_of
from ..ops import elementwise as E
from ..ops import special as P
from ..rules import scalar_forms
from .rules import _LOGICAL
from .values import _sympy


_NOT_FUNCTION_NODES = (E.sqrt_p,)
# relations and And/Or/Not/Xor are translated from their declarations too, but documented apart
_RELATIONS = (E.lt_p, E.le_p, E.gt_p, E.ge_p, E.eq_p, E.ne_p)


def _heaviside(x, h0=0.5):
    return E.select(E.greater(x, 0.0), 1.0, E.select(E.less(x, 0.0), 0.0, h0))


def _gamma(x):
    from ..scipy import special
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
    from .. import numpy as cnp
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
        from .. import numpy as cnp
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
    erf, erfc, erfinv, loggamma, gamma, digamma, polygamma, zeta.  Any other function (or an
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
            from .. import numpy as cnp
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
