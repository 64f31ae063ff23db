"""The SymPy bridge: to_sympy, from_sympy and compare (chainrule.symbolic)."""
import math
import sys

import numpy as np
import pytest

sp = pytest.importorskip("sympy")

import chainrule as cr  # noqa: E402
import chainrule.numpy as cnp  # noqa: E402
from chainrule import symbolic as cs  # noqa: E402

x, y, a, b, m = sp.symbols("x y a b m")


def same(expr, expected):
    return sp.simplify(expr - expected) == 0


# ------------------------------------------------------------------ to_sympy ---

@pytest.mark.parametrize("f, expected", [
    (lambda t: 3 * t ** 2 - 2 * t + 1, 3 * x ** 2 - 2 * x + 1),
    (lambda t: (t - 1.0) * (t + 1.0) / 2.0, (x ** 2 - 1) / 2),
    (lambda t: cnp.sin(t) ** 2 + cnp.cos(t) ** 2, sp.Integer(1)),
    (lambda t: cnp.exp(cnp.sin(2.0 * t)) * cnp.log(1.0 + t * t), sp.exp(sp.sin(2 * x)) * sp.log(1 + x ** 2)),
    (lambda t: np.tanh(t) / np.sqrt(t), sp.tanh(x) / sp.sqrt(x)),          # plain NumPy calls
    (lambda t: cnp.arctan(t) + cnp.log1p(t) + cnp.expm1(t), sp.atan(x) + sp.log(1 + x) + sp.exp(x) - 1),
    (lambda t: cnp.abs(t) * cnp.sign(t), sp.Abs(x) * sp.sign(x)),
])
def test_to_sympy_matches_expected_expression(f, expected):
    assert same(cs.to_sympy(f, "x"), expected)


def test_to_sympy_keeps_exact_constants():
    expr = cs.to_sympy(lambda t: 0.5 * t ** 2 + 1.0, "x")
    assert expr == x ** 2 / 2 + 1          # 0.5 and 1.0 become exact Rationals/Integers
    assert cs.to_sympy(lambda t: np.pi * t, "x") == sp.pi * x


def test_simple_fraction_constants_and_isfinite():
    assert cs.to_sympy(lambda t: 0.1 * t + t / 3.0, "x") == x / 10 + x / 3
    assert cs.to_sympy(lambda t: t * math.sqrt(2.0), "x") == sp.Float(math.sqrt(2.0)) * x
    # symbolic expressions are read at generic points: finite
    expr = cs.to_sympy(lambda t: cnp.where(cnp.isfinite(t), t, 0.0), "x")
    assert expr == x


def test_to_sympy_through_other_transformations():
    v0, v1 = sp.symbols("v0 v1")
    H = cs.to_sympy(lambda v: cr.hessian(lambda u: cnp.sum(u ** 3) * u[0])(v), "v", shapes={"v": (2,)})
    assert H == sp.Array([[12 * v0 ** 2, 3 * v1 ** 2], [3 * v1 ** 2, 6 * v0 * v1]])
    assert same(cs.to_sympy(lambda t: cr.jvp(lambda s: cnp.exp(s) * s, (t,), (1.0,))[1], "x"),
                (x + 1) * sp.exp(x))
    box = []
    cs.to_sympy(lambda t: box.append(t) or t, "x")
    with pytest.raises(cr.LeakedTracerError):
        box[0] * 2.0


def test_parameters_left_symbolic():
    expr = cs.to_sympy(lambda t, a_, b_, m_: (a_ * t + b_) ** m_, "x", "a", "b", "m")
    assert expr == (a * x + b) ** m
    # numbers among the names are passed as constants
    fixed = cs.to_sympy(lambda t, a_, b_, m_: (a_ * t + b_) ** m_, "x", 2.0, 1.0, 10)
    assert fixed == (2 * x + 1) ** 10
    # given SymPy symbols are used as they are
    r = sp.Symbol("r", positive=True)
    assert cs.to_sympy(lambda t: cnp.sqrt(t * t), r) == r


def test_guards_follow_the_branch_taken():
    def f(t):
        if t < 0:
            return -t * 2.0
        return t ** 2

    expr, guards = cs.to_sympy(f, "x", x=0.3, return_guards=True)
    assert expr == x ** 2 and guards == [x >= 0]
    expr, guards = cs.to_sympy(f, "x", x=-0.3, return_guards=True)
    assert expr == -2 * x and guards == [x < 0]
    assert cs.to_sympy(f, "x", x=0.3) == x ** 2          # guards only on request


def test_guards_of_loops_and_float_conversion():
    def f(t):
        s = t
        while s < 10:                   # three doublings from 1.5
            s = s * 2.0
        return s + math.sin(float(t))   # float() pins t: recorded as an equality guard

    expr, guards = cs.to_sympy(f, "x", x=1.5, return_guards=True)
    assert expr.coeff(x) == 8 and float(expr - 8 * x) == math.sin(1.5)   # sin(float) is a number
    assert (8 * x >= 10) in guards and sp.Eq(x, sp.Rational(3, 2)) in guards


def test_control_flow_needs_a_point():
    with pytest.raises(TypeError, match="numeric point"):
        cs.to_sympy(lambda t: t if t > 0 else -t, "x")
    with pytest.raises(TypeError, match="not among the symbol names"):
        cs.to_sympy(lambda t: t, "x", z=1.0)


def test_where_maximum_become_piecewise_and_max():
    expr = cs.to_sympy(lambda t: cnp.where(t > 1.0, t ** 2, -t) + cnp.maximum(t, 0.0), "x")
    assert same(expr, sp.Piecewise((x ** 2, x > 1), (-x, True)) + sp.Max(x, 0))
    assert expr.subs(x, 2) == 6 and expr.subs(x, -1) == 1


def test_vector_arguments_and_reductions():
    x0, x1, x2 = sp.symbols("x0:3")
    expr = cs.to_sympy(lambda v: cnp.sum(v ** 2) + v[0] * v[2], "x", shapes={"x": (3,)})
    assert same(expr, x0 ** 2 + x1 ** 2 + x2 ** 2 + x0 * x2)
    W = np.array([[1.0, 2.0, 0.0], [0.0, -1.0, 3.0]])
    out = cs.to_sympy(lambda v: cnp.tanh(W @ v), "x", x=np.array([0.1, 0.2, 0.3]))
    assert isinstance(out, sp.Array) and out.shape == (2,)
    assert same(out[0], sp.tanh(x0 + 2 * x1)) and same(out[1], sp.tanh(-x1 + 3 * x2))
    e = cs.to_sympy(lambda v: cnp.einsum("i,i->", v, v) - cnp.prod(v), "x", shapes={"x": (3,)})
    assert same(e, x0 ** 2 + x1 ** 2 + x2 ** 2 - x0 * x1 * x2)
    d = cs.to_sympy(lambda A: cnp.linalg.det(A), "A", shapes={"A": (2, 2)})
    A00, A01, A10, A11 = sp.symbols("A0_0 A0_1 A1_0 A1_1")
    assert same(d, A00 * A11 - A01 * A10)
    inv00 = cs.to_sympy(lambda A: cnp.linalg.inv(A)[0, 0], "A", shapes={"A": (2, 2)})
    assert same(inv00, A11 / (A00 * A11 - A01 * A10))


def test_to_sympy_of_grad_is_the_derivative():
    f = lambda t: cnp.sin(t) * t ** 3 + cnp.exp(-t * t)  # noqa: E731
    expected = sp.sin(x) * x ** 3 + sp.exp(-x ** 2)
    assert same(cs.to_sympy(cr.grad(f), "x"), sp.diff(expected, x))
    assert same(cs.to_sympy(cr.grad(cr.grad(f)), "x"), sp.diff(expected, x, 2))


def test_unsupported_primitive_names_itself():
    with pytest.raises(NotImplementedError, match="argmax"):
        cs.to_sympy(lambda v: cnp.argmax(v) * 1.0, "x", shapes={"x": (3,)})
    assert set(cs.supported_primitives()) == set(cs.SUPPORTED_PRIMITIVES)


def _at(expr, point):
    """expr at x = point, exactly; a removable singularity there (sinc at 0) by its limit."""
    v = expr.subs(x, sp.Rational(point))
    if v.has(sp.nan, sp.zoo) or not v.is_finite:
        v = sp.limit(expr, x, sp.Rational(point))
    return float(v)


def test_sinc_and_its_derivatives_match_chainrule():
    expr = cs.to_sympy(cnp.sinc, "x")             # NumPy's normalised sinc: sin(pi x) / (pi x)
    traced_grad = cs.to_sympy(cr.grad(cnp.sinc), "x")     # the primitive sinc(x, n=1)
    assert same(traced_grad, sp.diff(expr, x))
    g1, g2 = cr.grad(cnp.sinc), cr.grad(cr.grad(cnp.sinc))
    for t in (0.0, 0.25, -1.3, 2.0, 3.7):
        assert _at(expr, t) == pytest.approx(float(cnp.sinc(t)), rel=1e-13, abs=1e-15)
        assert _at(sp.diff(expr, x), t) == pytest.approx(g1(t), rel=1e-11, abs=1e-13)
        assert _at(traced_grad, t) == pytest.approx(g1(t), rel=1e-11, abs=1e-13)
        assert _at(sp.diff(expr, x, 2), t) == pytest.approx(g2(t), rel=1e-11, abs=1e-12)
    # traced at an expression that is exactly 0: the limits, sinc(0) = 1, sinc'(0) = 0, sinc''(0) = -pi^2/3
    assert cs.to_sympy(lambda t: cnp.sinc(t - t), "x") == 1
    assert cs.to_sympy(lambda t: cr.grad(cnp.sinc)(t * 0.0), "x") == 0
    assert same(cs.to_sympy(lambda t: cr.grad(cr.grad(cnp.sinc))(t * 0.0), "x"), -sp.pi ** 2 / 3)
    # through from_sympy and back
    h = cs.from_sympy(expr, [x])
    for t in (0.25, -1.3, 3.7):
        assert h(t) == pytest.approx(float(cnp.sinc(t)), rel=1e-14)
        assert cr.grad(h)(t) == pytest.approx(g1(t), rel=1e-10)


def test_rules_are_those_of_the_declared_primitives():
    from chainrule import rules
    from chainrule.core import primitives
    declared = {p.name for p, f in rules.scalar_forms.items() if f.sympy is not None}
    assert declared <= set(cs.SUPPORTED_PRIMITIVES)
    assert set(cs.SUPPORTED_PRIMITIVES) <= set(primitives)        # only names of real primitives
    assert {"sin", "add", "less", "logical_and", "reduce_sum", "matmul", "sinc"} <= set(cs.SUPPORTED_PRIMITIVES)
    # the inverse direction comes from the same declarations: n-ary Max, And, Xor, relations
    expr = sp.Piecewise((sp.Max(x, y, 2 * x - 1), sp.And(x > 0, y < 1, sp.Ne(x, y))),
                        (sp.Min(x, -y, 0), sp.Xor(x < -1, y > 0, x > 5)), (x * y, True))
    g = cs.from_sympy(expr, [x, y])
    for pt in [(0.5, 0.25), (3.0, 0.5), (-2.0, 0.5), (-2.0, -0.5), (0.5, 2.0), (7.0, 2.0)]:
        assert float(g(*pt)) == pytest.approx(float(expr.subs({x: pt[0], y: pt[1]})), rel=1e-15)


def test_missing_sympy_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "sympy", None)
    with pytest.raises(ImportError, match=r"pip install chainrule\[symbolic\]"):
        cs.to_sympy(lambda t: t, "x")


# ---------------------------------------------------------------- from_sympy ---

ROUND_TRIP = [
    lambda t: cnp.sin(t) * cnp.exp(-t * t) + cnp.log(1.0 + t * t),
    lambda t: t ** 3 / (1.0 + t ** 2) - cnp.sqrt(2.0 + cnp.cos(t)),
    lambda t: cnp.tanh(3.0 * t) * cnp.arctan(t) / cnp.cosh(t),
    lambda t: (2.0 * t + 1.0) ** 10,
]


@pytest.mark.parametrize("f", ROUND_TRIP)
def test_round_trip_gradients_agree(f):
    g = cs.from_sympy(cs.to_sympy(f, "x"), [x])
    for t in (-1.3, -0.2, 0.3, 0.9, 2.1):
        assert g(t) == pytest.approx(f(t), rel=1e-13, abs=1e-13)
        assert cr.grad(g)(t) == pytest.approx(cr.grad(f)(t), rel=1e-12, abs=1e-12)
        assert cr.grad(cr.grad(g))(t) == pytest.approx(cr.grad(cr.grad(f))(t), rel=1e-11, abs=1e-11)


def test_round_trip_with_parameters_and_vectors():
    f = lambda t, a_, b_: (a_ * t + b_) ** 3 * cnp.sin(b_)  # noqa: E731
    g = cs.from_sympy(cs.to_sympy(f, "x", "a", "b"), [x, a, b])
    for args in [(0.3, 2.0, 1.0), (-0.7, 0.5, 2.5)]:
        for k in range(3):
            assert cr.grad(g, k)(*args) == pytest.approx(cr.grad(f, k)(*args), rel=1e-12)
    xs = sp.symbols("x0:3")
    h = lambda v: cnp.sum(cnp.exp(v) * v[::-1])  # noqa: E731
    hg = cs.from_sympy(cs.to_sympy(h, "x", shapes={"x": (3,)}), [list(xs)])
    v = np.array([0.1, -0.4, 0.7])
    np.testing.assert_allclose(cr.grad(hg)(v), cr.grad(h)(v), rtol=1e-13)


def _central(f, t, h=1e-6):
    return (f(t + h) - f(t - h)) / (2 * h)


def test_from_sympy_piecewise_abs_max_derivatives():
    expr = sp.Piecewise((x ** 2 * y, x < 1), (sp.Abs(x - 3) + sp.Max(x, 2 * x - 1) * y, True))
    g = cs.from_sympy(expr, [x, y])
    for t in (0.5, 1.5, 2.5, 3.5):            # away from the kinks at 1 and 3
        fd_x = _central(lambda s: g(s, 0.7), t)
        fd_y = _central(lambda s: g(t, s), 0.7)
        assert cr.grad(g, 0)(t, 0.7) == pytest.approx(fd_x, rel=1e-7)
        assert cr.grad(g, 1)(t, 0.7) == pytest.approx(fd_y, rel=1e-7)
        assert float(g(t, 0.7)) == pytest.approx(float(expr.subs({x: t, y: 0.7})), rel=1e-14)
    # elementwise on arrays, matching the scalar calls
    ts = np.array([0.5, 1.5, 2.5, 3.5])
    np.testing.assert_allclose(g(ts, 0.7), [g(t, 0.7) for t in ts], rtol=1e-15)


def test_from_sympy_higher_derivatives_match_sympy():
    expr = sp.exp(-x) * sp.sin(3 * x) / (1 + x ** 2) + sp.atan2(x, 2) + sp.cot(x + 1)
    g = cs.from_sympy(expr, "x")
    d = g
    for n in range(1, 5):
        d = cr.grad(d)
        exact = float(sp.diff(expr, x, n).subs(x, sp.Rational(3, 10)))
        assert d(0.3) == pytest.approx(exact, rel=1e-11)


def test_from_sympy_special_functions():
    pytest.importorskip("chainrule.scipy.special")
    expr = sp.erf(x) * sp.loggamma(x + 1) + sp.erfc(x / 2)
    g = cs.from_sympy(expr, [x])
    assert g(1.3) == pytest.approx(float(expr.subs(x, 1.3)), rel=1e-13)
    assert cr.grad(g)(1.3) == pytest.approx(float(sp.diff(expr, x).subs(x, 1.3)), rel=1e-12)
    from chainrule.scipy import special
    assert same(cs.to_sympy(lambda t: special.erf(t) + special.gammaln(t), "x"),
                sp.erf(x) + sp.loggamma(x))


def test_from_sympy_matrix_output_constants_and_transforms():
    h = cs.from_sympy(sp.Matrix([[x * y, x + y], [sp.pi, sp.E * x]]), [x, y])
    np.testing.assert_allclose(h(2.0, 3.0), [[6.0, 5.0], [math.pi, 2 * math.e]])
    np.testing.assert_allclose(cr.jacfwd(h)(2.0, 3.0), [[3.0, 1.0], [0.0, math.e]])
    const = cs.from_sympy(sp.Rational(1, 3), [x])
    np.testing.assert_allclose(const(np.zeros(3)), np.full(3, 1 / 3))
    assert cr.grad(const)(1.0) == 0.0
    g = cs.from_sympy(sp.sin(x) * y ** 2, [x, y])
    ts = np.linspace(-1, 1, 5)
    expected = np.cos(ts) * 4.0
    if hasattr(cr, "vmap"):
        try:
            np.testing.assert_allclose(cr.vmap(cr.grad(g), in_axes=(0, None))(ts, 2.0), expected)
        except NotImplementedError:
            pass
    if hasattr(cr, "jit"):
        try:
            assert cr.jit(cr.grad(g))(0.4, 2.0) == pytest.approx(math.cos(0.4) * 4.0, rel=1e-14)
        except NotImplementedError:
            pass


def test_from_sympy_errors_name_the_problem():
    with pytest.raises(NotImplementedError, match="besselj"):
        cs.from_sympy(sp.besselj(0, x), [x])
    with pytest.raises(NotImplementedError, match="'h'"):
        cs.from_sympy(sp.Function("h")(x), [x])
    with pytest.raises(ValueError, match="free symbols"):
        cs.from_sympy(x * y, [x])
    for name in cs.SUPPORTED_SYMPY_FUNCTIONS:
        assert name in cs.from_sympy.__doc__


# -------------------------------------------------------------- swell, compare ---

def test_expression_size_growth_matches_sympy():
    f = lambda t, a_, b_, m_: (a_ * t + b_) ** m_  # noqa: E731
    traced = cs.to_sympy(f, "x", "a", "b", "m")
    direct = (a * x + b) ** m
    sizes = [sp.count_ops(sp.diff(traced, x, n)) for n in range(1, 7)]
    assert sizes == [sp.count_ops(sp.diff(direct, x, n)) for n in range(1, 7)]
    assert all(s2 > s1 for s1, s2 in zip(sizes, sizes[1:]))      # it swells with n


def test_compare_post_example():
    n, m_, a_, b_, t = 6, 10, 2.0, 1.0, 0.3
    exact = math.factorial(m_) / math.factorial(m_ - n) * a_ ** n * (a_ * t + b_) ** (m_ - n)
    assert exact == pytest.approx(10 * 9 * 8 * 7 * 6 * 5 * 64 * 1.6 ** 4, rel=1e-15)
    res = cs.compare(lambda s, a_, b_, m_: (a_ * s + b_) ** m_, t, order=n,
                     names=("x", "a", "b", "m"), args=(a_, b_, m_))
    for key in ("autodiff", "sympy"):
        assert res[key].value == pytest.approx(exact, rel=1e-9)
    assert res["sympy"].size == sp.count_ops(sp.diff((a * x + b) ** m, x, n))
    assert res["autodiff"].size > 0 and res["autodiff"].seconds > 0
    text = str(res)
    assert "6th derivative" in text and "SymPy" in text and "autodiff" in text
    assert len({len(line) for line in text.splitlines()[1:3]}) == 1     # aligned header


def test_compare_with_finite_differences_at_low_order():
    res = cs.compare(lambda s: cnp.sin(s) * cnp.exp(-s * s), 0.3, order=2)
    exact = float(sp.diff(sp.sin(x) * sp.exp(-x ** 2), x, 2).subs(x, sp.Rational(3, 10)))
    assert res["autodiff"].rel_error < 1e-13
    assert res["sympy"].value == pytest.approx(exact, rel=1e-14)
    fd = res["fd"]
    if fd.value is not None:                   # chainrule.fd present
        assert fd.rel_error < 1e-6 and fd.size > 0
    assert "finite diff" in str(res)
