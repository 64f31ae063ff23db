"""Converting a differentiated value to a Python or NumPy number raises (issue 12, section 1).

Control flow (`if x < 0:`, bool, int, an index) still reads the value; stop_gradient makes a
constant on purpose.  Every expected derivative below is written in closed form.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.core import TracerConversionError

X0 = 0.7

# one conversion per line: the error must name exactly this line
CONVERSIONS = {
    "float": lambda x: float(x) * x,
    "complex": lambda x: complex(x).real * x,
    "math.sin": lambda x: math.sin(x) * x,
    "math.lgamma": lambda x: math.lgamma(x) + x,
    "np.float64": lambda x: np.float64(x) * x,
    "item": lambda x: x.item() * x,
    "tolist": lambda x: cnp.stack([x, 2 * x]).tolist()[1] * x,
    "sum-tolist": lambda x: sum(cnp.stack([x, 2 * x]).tolist()) * x,
}

# fixes the message must name, per conversion
FIXES = {"math.sin": "np.sin", "math.lgamma": "chainrule.scipy.special.gammaln"}


def _vec(f):
    return lambda v: cnp.sum(cr.vmap(f)(v))


TRANSFORMS = {
    "grad": lambda f: cr.grad(f)(X0),
    "jvp": lambda f: cr.jvp(f, (X0,), (1.0,)),
    "vjp": lambda f: cr.vjp(f, X0),
    "jacfwd": lambda f: cr.jacfwd(f)(X0),
    "jacrev": lambda f: cr.jacrev(f)(X0),
    "hessian": lambda f: cr.hessian(f)(X0),
    "derivative": lambda f: cr.derivative(f, 2)(X0),
    "jet": lambda f: cr.jet(f, (X0,), ((1.0, 0.0),)),
    "jit(grad)": lambda f: cr.jit(cr.grad(f))(X0),
    "grad(jit)": lambda f: cr.grad(cr.jit(f))(X0),
    "vmap(grad)": lambda f: cr.vmap(cr.grad(f))(np.array([X0, 0.8])),
    "grad(vmap)": lambda f: cr.grad(_vec(f))(np.array([X0, 0.8])),
}


@pytest.mark.parametrize("transform", list(TRANSFORMS))
@pytest.mark.parametrize("conversion", list(CONVERSIONS))
def test_conversion_of_a_differentiated_value_raises(conversion, transform):
    f = CONVERSIONS[conversion]
    where = f"{f.__code__.co_filename}:{f.__code__.co_firstlineno}"
    with pytest.raises(TracerConversionError, match=re.escape(where)) as info:
        TRANSFORMS[transform](f)
    msg = str(info.value)
    assert "derivative" in msg and "chainrule.stop_gradient(x)" in msg
    assert FIXES.get(conversion, "stop_gradient") in msg
    assert isinstance(info.value, TypeError)


def test_storing_a_differentiated_value_into_a_numpy_array_raises():
    def f(x):
        a = np.zeros(2)
        a[0] = x                                   # calls float(x)
        return cnp.sum(a * x)
    # NumPy re-raises it as "setting an array element with a sequence", caused by ours
    with pytest.raises((TracerConversionError, ValueError)) as info:
        cr.grad(f)(X0)
    err = info.value if isinstance(info.value, TracerConversionError) else info.value.__cause__
    assert isinstance(err, TracerConversionError) and "a.at[i].set(x)" in str(err)


def test_every_math_function_is_refused():
    for fn in (math.exp, math.sqrt, math.floor, math.isfinite):
        with pytest.raises(TracerConversionError, match="np.sin"):
            cr.grad(lambda x: fn(x) * x)(X0)


LOOP_BODIES = {
    "cond": lambda x: cr.cond(x > 0, lambda y: float(y) * y, lambda y: y, x),
    "switch": lambda x: cr.switch(1, [lambda y: y, lambda y: math.sin(y) * y], x),
    "while_loop": lambda x: cr.while_loop(lambda c: c[0] < 2, lambda c: (c[0] + 1, c[1] * float(c[1])),
                                          (0, x))[1],
    "fori_loop": lambda x: cr.fori_loop(0, 2, lambda i, c: c * float(c), x),
    "scan": lambda x: cr.scan(lambda c, _: (c * float(c), None), x, None, length=2)[0],
}


@pytest.mark.parametrize("transform", ["grad", "jvp", "derivative", "jit(grad)"])
@pytest.mark.parametrize("primitive", list(LOOP_BODIES))
def test_conversion_inside_control_flow_primitives_raises(primitive, transform):
    f = LOOP_BODIES[primitive]
    where = f"{f.__code__.co_filename}:{f.__code__.co_firstlineno}"
    with pytest.raises(TracerConversionError, match=re.escape(where)):
        TRANSFORMS[transform](f)


# ------------------------------------------------- control flow still reads ---

def _branch(x):
    if x < 0:
        return -x ** 3
    return x ** 2


def _bool_of_comparison(x):
    return x ** 2 if bool(x > 0) else -x ** 3


def _bool_of_value(x):
    return x ** 2 if x else 3.0 * x


def _loop_bound(x):                 # int(x) as a loop bound: x ** (int(x) + 1)
    y = x
    for _ in range(int(x)):
        y = y * x
    return y


def _index(x):                      # int(x) as an index: (int(x) + 1) * x
    return cnp.stack([x, 2 * x, 3 * x, 4 * x])[int(x)]


def _int_factor(x):                 # int(x) is piecewise constant: d/dx = int(x)
    return int(x) * x


def _int_of_integer_value(x):       # an integer-valued tracer converts freely
    return x * x.astype(int).item()


# f, point, f'(point), f''(point)
CONTROL_FLOW = {
    "if-negative": (_branch, -0.5, -3 * 0.25, -6 * -0.5),
    "if-positive": (_branch, 0.7, 1.4, 2.0),
    "bool(x > 0)": (_bool_of_comparison, 0.7, 1.4, 2.0),
    "bool(x)": (_bool_of_value, 0.7, 1.4, 2.0),
    "loop-bound": (_loop_bound, 2.5, 3 * 2.5 ** 2, 6 * 2.5),
    "index": (_index, 2.5, 3.0, 0.0),
    "int(x)": (_int_factor, 2.5, 2.0, 0.0),
    "astype(int).item()": (_int_of_integer_value, 2.5, 2.0, 0.0),
}


@pytest.mark.parametrize("case", list(CONTROL_FLOW))
def test_control_flow_reads_keep_the_right_derivative(case):
    f, x, d1, d2 = CONTROL_FLOW[case]
    assert cr.grad(f)(x) == pytest.approx(d1)
    assert cr.jvp(f, (x,), (1.0,))[1] == pytest.approx(d1)
    assert cr.jacfwd(f)(x) == pytest.approx(d1)
    assert cr.jacrev(f)(x) == pytest.approx(d1)
    assert cr.derivative(f, 1)(x) == pytest.approx(d1)
    assert cr.hessian(f)(x) == pytest.approx(d2)
    assert cr.derivative(f, 2)(x) == pytest.approx(d2)
    jg = cr.jit(cr.grad(f))
    assert jg(x) == pytest.approx(d1) and jg(x) == pytest.approx(d1)
    assert cr.vmap(cr.grad(f))(np.array([x, x])) == pytest.approx([d1, d1])


# ------------------------------------------------------ stop_gradient path ---

def _scaled_by_constant(x):         # c * x with c = value of x: f' = x0, f'' = 0
    return float(cr.stop_gradient(x)) * x


def _math_of_constant(x):           # sin(c) * x: f' = sin(x0)
    return math.sin(cr.stop_gradient(x)) * x


@pytest.mark.parametrize("f, d1", [(_scaled_by_constant, lambda x: x),
                                   (_math_of_constant, math.sin)])
def test_stop_gradient_gives_the_value_and_the_rest_is_differentiated(f, d1):
    assert cr.grad(f)(X0) == pytest.approx(d1(X0))
    assert cr.jvp(f, (X0,), (1.0,)) == pytest.approx((X0 * d1(X0), d1(X0)))
    assert cr.jacfwd(f)(X0) == pytest.approx(d1(X0))
    assert cr.derivative(f, 1)(X0) == pytest.approx(d1(X0))
    assert cr.hessian(f)(X0) == pytest.approx(0.0)
    jg = cr.jit(cr.grad(f))
    assert jg(X0) == pytest.approx(d1(X0))
    assert jg(0.9) == pytest.approx(d1(0.9))        # the guard re-stages at a new value
    assert cr.vmap(cr.grad(f))(np.array([X0, 0.9])) == pytest.approx([d1(X0), d1(0.9)])


def test_stop_gradient_tolist_and_item_inside_grad():
    def f(v):
        c = cr.stop_gradient(v)
        return cnp.sum(v * sum(c.tolist())) * c[0].item()   # sum(v) * s * c0, s and c0 constant
    v = np.array([1.0, 2.0])
    assert cr.grad(f)(v) == pytest.approx([3.0, 3.0])


# -------------------------------------------- no derivative: unchanged ---

def test_jit_without_differentiation_keeps_conversions_as_guards():
    f = cr.jit(lambda x: x * float(x) + math.sin(x))
    assert f(2.0) == pytest.approx(4.0 + math.sin(2.0))
    assert f(3.0) == pytest.approx(9.0 + math.sin(3.0))
    g = cr.jit(lambda v: v * sum(v.tolist()))
    assert g(np.array([1.0, 2.0])) == pytest.approx([3.0, 6.0])
    assert g(np.array([1.0, 3.0])) == pytest.approx([4.0, 12.0])


def test_vmap_without_differentiation_keeps_conversions():
    out = cr.vmap(lambda x: x * float(x))(np.array([1.0, 2.0, 3.0]))
    assert out == pytest.approx([1.0, 4.0, 9.0])
