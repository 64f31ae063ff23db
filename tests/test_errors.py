"""Bad input gets a clear error, never a wrong number; no tracing state survives an error."""
from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.core import TracerConversionError, current_depth


@pytest.fixture(autouse=True)
def _depth_is_zero_around_each_test():
    assert current_depth() == 0
    yield
    assert current_depth() == 0


# ------------------------------------------------ integer / bool input ---

def scale(x, count):
    return x * count


@pytest.mark.parametrize("bad", [3, True, np.int64(3), np.arange(3), np.array([True, False]),
                                 np.arange(3, dtype=np.int32)])
def test_int_or_bool_argument_to_grad_names_it(bad):
    with pytest.raises(TypeError) as e:
        cr.grad(lambda x, count: cnp.sum(x * count), argnums=1)(1.0, bad)
    msg = str(e.value)
    assert "count" in msg and "argument 1" in msg
    assert str(np.asarray(bad).dtype) in msg


@pytest.mark.parametrize("transform", ["grad", "value_and_grad", "jacfwd", "jacrev", "jacobian",
                                       "hessian", "vjp", "jvp"])
def test_int_argument_every_transformation(transform):
    f = lambda n_items: n_items * 2.0
    with pytest.raises(TypeError) as e:
        if transform == "vjp":
            cr.vjp(f, 4)
        elif transform == "jvp":
            cr.jvp(f, (4,), (1,))
        else:
            getattr(cr, transform)(f)(4)
    assert "n_items" in str(e.value) and "int" in str(e.value)


def test_int_argument_not_differentiated_is_fine():
    # an int in a non-differentiated position is a constant
    assert cr.grad(scale)(2.0, 3) == pytest.approx(3.0)
    assert cr.grad(lambda x, idx: x[idx] ** 2)(np.array([1.0, 5.0]), 1)[1] == pytest.approx(10.0)


# ------------------------------------------------------ non-scalar ---

@pytest.mark.parametrize("shape", [(3,), (2, 3), (1,)])
def test_grad_of_non_scalar_output_states_shape(shape):
    with pytest.raises(TypeError) as e:
        cr.grad(lambda x: x * 2.0)(np.ones(shape))
    assert str(shape) in str(e.value)


def test_grad_of_integer_output_is_error():
    with pytest.raises(TypeError):
        cr.grad(lambda x: cnp.argmax(x))(np.array([1.0, 2.0]))


# --------------------------------------------- tangent / cotangent ---

@pytest.mark.parametrize("tangent", [np.ones(2), np.ones((3, 1)), 1.0])
def test_tangent_wrong_shape(tangent):
    with pytest.raises(ValueError, match="shape"):
        cr.jvp(lambda x: x * 2.0, (np.ones(3),), (tangent,))


@pytest.mark.parametrize("tangent", [np.ones(3, np.float32), np.ones(3, np.int64), np.ones(3, complex),
                                     np.ones(3, bool)])
def test_tangent_wrong_dtype(tangent):
    with pytest.raises(ValueError, match="dtype"):
        cr.jvp(lambda x: x * 2.0, (np.ones(3),), (tangent,))


def test_tangent_wrong_structure_or_count():
    with pytest.raises(ValueError):
        cr.jvp(lambda x, y: x * y, (1.0, 2.0), (1.0, (1.0,)))
    with pytest.raises((ValueError, TypeError)):
        cr.jvp(lambda x, y: x * y, (1.0, 2.0), (1.0,))


@pytest.mark.parametrize("ct", [np.ones(2), np.ones((3, 1)), np.ones(3, np.float32), np.ones(3, complex),
                                np.ones(3, np.int64)])
def test_cotangent_wrong_shape_or_dtype(ct):
    _, pullback = cr.vjp(lambda x: cnp.sin(x), np.ones(3))
    with pytest.raises(ValueError, match="shape|dtype"):
        pullback(ct)
    # the pullback still works afterwards
    np.testing.assert_allclose(pullback(np.ones(3))[0], np.cos(np.ones(3)))


def test_cotangent_wrong_structure():
    _, pullback = cr.vjp(lambda x: (x, 2.0 * x), 1.0)
    with pytest.raises(ValueError, match="structure"):
        pullback(1.0)
    assert pullback((1.0, 1.0))[0] == pytest.approx(3.0)


# ------------------------------------------------------ leaked tracers ---

def test_leaked_tracer_from_grad():
    leak = []

    def f(x):
        leak.append(x)
        return x * 2.0
    assert cr.grad(f)(1.0) == pytest.approx(2.0)
    with pytest.raises(cr.LeakedTracerError):
        leak[0] * 3.0
    with pytest.raises(cr.LeakedTracerError):
        cnp.sin(leak[0])
    with pytest.raises(cr.LeakedTracerError):
        cr.grad(lambda y: leak[0] * y)(1.0)        # a new transformation at the same level
    with pytest.raises(cr.LeakedTracerError):
        cr.jvp(lambda y: y + leak[0], (1.0,), (1.0,))


def test_leaked_tracer_from_jvp_and_nested():
    leak = []
    cr.jvp(lambda x: (leak.append(x), x * 2.0)[1], (1.0,), (1.0,))
    with pytest.raises(cr.LeakedTracerError):
        leak[0] + 1.0
    inner = []
    cr.grad(lambda x: cr.grad(lambda y: (inner.append(y), x * y)[1])(x))(1.5)
    with pytest.raises(cr.LeakedTracerError):
        inner[0] * 2.0


def test_leaked_tracer_returned_through_outer():
    # an inner tracer stored and then used inside the *outer* transformation
    store = []

    def outer(x):
        cr.grad(lambda y: (store.append(y), y * x)[1])(x)
        return store[0] * x
    with pytest.raises(cr.LeakedTracerError):
        cr.grad(outer)(2.0)


def test_leaked_tracer_error_is_runtime_error():
    assert issubclass(cr.LeakedTracerError, RuntimeError)


# --------------------------------------------- state after exceptions ---

class Boom(Exception):
    pass


def _raise_inside(x):
    y = cnp.sin(x) * 2.0
    if True:
        raise Boom("inside f")
    return y


@pytest.mark.parametrize("runner", [
    lambda: cr.grad(_raise_inside)(1.0),
    lambda: cr.jvp(_raise_inside, (1.0,), (1.0,)),
    lambda: cr.vjp(_raise_inside, 1.0),
    lambda: cr.grad(lambda x: cr.grad(_raise_inside)(x))(1.0),
    lambda: cr.grad(lambda x: cr.grad(lambda y: cr.grad(_raise_inside)(y * x))(x))(1.0),
    lambda: cr.jvp(cr.grad(_raise_inside), (1.0,), (1.0,)),
    lambda: cr.jacfwd(_raise_inside)(np.ones(2)),
    lambda: cr.jacrev(_raise_inside)(np.ones(2)),
    lambda: cr.hessian(_raise_inside)(np.ones(2)),
], ids=["grad", "jvp", "vjp", "grad-grad", "grad3", "jvp-grad", "jacfwd", "jacrev", "hessian"])
def test_no_state_left_after_exception(runner):
    with pytest.raises(Boom):
        runner()
    assert current_depth() == 0
    assert cr.grad(lambda x: x ** 3)(2.0) == pytest.approx(12.0)
    assert cr.grad(cr.grad(lambda x: x ** 3))(2.0) == pytest.approx(12.0)
    assert cr.jvp(lambda x: cnp.exp(x), (0.0,), (1.0,))[1] == pytest.approx(1.0)


def test_no_state_left_after_exception_in_backward_pass():
    @cr.custom_vjp
    def f(x):
        return x * 2.0

    def bwd(res, g):
        raise Boom("in bwd")
    f.defvjp(lambda x: (x * 2.0, None), bwd)
    with pytest.raises(Boom):
        cr.grad(lambda x: f(x) * x)(1.0)
    with pytest.raises(Boom):
        cr.grad(cr.grad(lambda x: f(x) * x))(1.0)
    assert current_depth() == 0
    assert cr.grad(lambda x: cnp.sin(x))(0.0) == pytest.approx(1.0)


def test_no_state_left_after_exception_in_custom_jvp_rule():
    @cr.custom_jvp
    def f(x):
        return x

    @f.defjvp
    def _(p, t):
        raise Boom("in jvp rule")
    with pytest.raises(Boom):
        cr.jvp(f, (1.0,), (1.0,))
    with pytest.raises(Boom):
        cr.grad(f)(1.0)
    assert current_depth() == 0
    assert cr.grad(lambda x: x * x)(3.0) == pytest.approx(6.0)


def test_exception_caught_inside_f_does_not_break_transformation():
    def f(x):
        try:
            cr.grad(_raise_inside)(x)
        except Boom:
            pass
        return x ** 2
    assert cr.grad(f)(3.0) == pytest.approx(6.0)
    assert cr.grad(cr.grad(f))(3.0) == pytest.approx(2.0)


def test_depth_inside_transformations():
    seen = []
    cr.grad(lambda x: (seen.append(current_depth()), x)[1])(1.0)
    cr.grad(lambda x: cr.grad(lambda y: (seen.append(current_depth()), y * x)[1])(x))(1.0)
    assert seen == [1, 2]


# ------------------------------------------- unsupported numpy functions ---

@pytest.mark.parametrize("call,name", [
    (lambda x: np.unwrap(x), "unwrap"),
    (lambda x: np.unique(x), "unique"),
    (lambda x: np.trim_zeros(x), "trim_zeros"),
    (lambda x: np.histogram2d(x, x), "histogram2d"),
    (lambda x: np.histogram(x), "histogram"),
    (lambda x: np.piecewise(x, [x > 1.5], [0.0, 1.0]), "piecewise"),
])
def test_unsupported_numpy_function_names_it(call, name):
    with pytest.raises(TypeError) as e:
        cr.grad(lambda x: np.sum(call(x)))(np.array([1.0, 2.0, 3.0]))
    assert name in str(e.value)
    with pytest.raises(TypeError) as e:
        cr.jvp(lambda x: call(x), (np.array([1.0, 2.0, 3.0]),), (np.ones(3),))
    assert name in str(e.value)


def test_unsupported_numpy_function_full_name():
    with pytest.raises(TypeError) as e:
        cr.grad(lambda x: np.sum(np.lib.stride_tricks.sliding_window_view(x, 2)))(np.ones(4))
    assert "numpy.lib.stride_tricks.sliding_window_view" in str(e.value)


def test_ufunc_out_argument_is_refused():
    with pytest.raises(TypeError, match="out"):
        cr.grad(lambda x: np.sum(np.sin(x, out=np.empty(3))))(np.ones(3))


def test_conversion_to_plain_array_is_refused():
    # silently dropping the derivative would give a wrong number
    with pytest.raises(TypeError, match="derivative"):
        cr.grad(lambda x: np.sum(np.asarray(x)))(np.ones(3))
    with pytest.raises(TypeError, match="derivative"):
        cr.jvp(lambda x: np.array(x) * 2.0, (np.ones(3),), (np.ones(3),))


def test_python_float_of_tracer_raises_but_stop_gradient_gives_the_value():
    # float() would drop the derivative (issue 12); float(stop_gradient(x)) is the constant
    with pytest.raises(TracerConversionError, match="stop_gradient"):
        cr.grad(lambda x: (float(x), x * 2.0)[1])(1.5)
    vals = []
    g = cr.grad(lambda x: (vals.append(float(cr.stop_gradient(x))), x * 2.0)[1])(1.5)
    assert vals == [1.5] and g == pytest.approx(2.0)


def test_bad_argnums():
    with pytest.raises(ValueError):
        cr.grad(lambda x: x, argnums=3)(1.0)


def test_error_messages_for_custom_rule_misuse():
    @cr.custom_jvp
    def f(x):
        return x
    with pytest.raises(TypeError):
        cr.jvp(f, (1.0,), (1.0,))          # no rule defined

    @cr.custom_vjp
    def g(x):
        return x * 2.0
    g.defvjp(lambda x: (x * 2.0, None), lambda res, ct: ct * 2.0)     # returns a bare value, not a tuple
    with pytest.raises(TypeError, match="tuple"):
        cr.grad(g)(1.0)
    assert math.isclose(cr.grad(lambda x: x * 2.0)(1.0), 2.0)


# ------------------------------------------- issue 12: errors that say what to do ---

def test_argnums_naming_an_argument_twice_is_refused():
    for argnums in [(0, 0), (0, -2), (1, 1)]:
        with pytest.raises(ValueError, match="more than once"):
            cr.grad(lambda x, y: x * y, argnums=argnums)(1.0, 2.0)
    with pytest.raises(ValueError, match="more than once"):
        cr.jacfwd(lambda x: x * 2.0, argnums=(0, 0))(np.ones(2))
    with pytest.raises(ValueError, match="more than once"):
        cr.jacrev(lambda x: x * 2.0, argnums=(0, 0))(np.ones(2))


@pytest.mark.parametrize("transform", [
    lambda f: cr.grad(f, has_aux=True)(1.0),
    lambda f: cr.value_and_grad(f, has_aux=True)(1.0),
    lambda f: cr.vjp(f, 1.0, has_aux=True),
    lambda f: cr.jvp(f, (1.0,), (1.0,), has_aux=True),
    lambda f: cr.jacfwd(f, has_aux=True)(1.0),
    lambda f: cr.jacrev(f, has_aux=True)(1.0),
    lambda f: cr.hessian(f, has_aux=True)(1.0),
])
def test_has_aux_with_a_vector_output_says_return_a_pair(transform):
    with pytest.raises(TypeError, match=r"has_aux=True needs the function to return a pair "
                                        r"\(output, aux\), but it returned a value of shape \(2,\)"):
        transform(lambda x: x * np.ones(2))


def test_tuple_returned_without_has_aux_suggests_has_aux():
    with pytest.raises(TypeError, match=r"returned a tuple.*has_aux=True"):
        cr.grad(lambda x: (x ** 2, x))(1.0)
    with pytest.raises(TypeError, match=r"returned a list.*has_aux=True"):
        cr.grad(lambda x: [x ** 2])(1.0)
    g, aux = cr.grad(lambda x: (x ** 2, x), has_aux=True)(3.0)      # the suggested fix works
    assert g == 6.0 and aux == 3.0


def test_item_assignment_on_a_traced_value_suggests_at_set():
    def f(x):
        y = x * 1.0
        y[0] = 3.0
        return cnp.sum(y)
    with pytest.raises(TypeError, match=r"y = y\.at\[i\]\.set\(v\)"):
        cr.grad(f)(np.ones(2))
    with pytest.raises(TypeError, match=r"immutable.*test_errors\.py:\d+ \(`y\[0\] = 3\.0`\)"):
        cr.grad(f)(np.ones(2))
    # the suggested fix works: d/dx sum(x with x[0] := 3) = [0, 1]
    g = cr.grad(lambda x: cnp.sum(x.at[0].set(3.0)))(np.ones(2))
    assert g.tolist() == [0.0, 1.0]


def test_numpy_array_constructors_on_traced_values_name_the_chainrule_ones():
    from chainrule.core import TracerConversionError
    for f in [lambda x: np.sum(np.asarray(x)), lambda x: np.sum(np.array([x[0], x[1]]))]:
        with pytest.raises(TracerConversionError, match=r"chainrule\.numpy\.asarray\(x\).*"
                                                        r"chainrule\.numpy\.stack\(\[a, b\]\)"):
            cr.grad(f)(np.ones(2))
    # the suggested fixes work
    assert cr.grad(lambda x: cnp.sum(cnp.asarray(x) ** 2))(np.ones(2)).tolist() == [2.0, 2.0]
    assert cr.grad(lambda x: cnp.sum(cnp.stack([x[0], 3 * x[1]])))(np.ones(2)).tolist() == [1.0, 3.0]


def test_unsupported_scipy_special_ufunc_message_names_chainrule_scipy_special():
    special = pytest.importorskip("scipy.special")
    from chainrule.numpy._protocols import _unsupported_ufunc_message as message
    assert "use chainrule.scipy.special.erf" in message(special.erf, "__call__", {"dtype": None})
    assert "scipy.special.dawsn" in message(special.dawsn, "__call__", {})
    assert "chainrule.scipy.special provides: erf" in message(special.dawsn, "__call__", {})
    assert "numpy.erf" not in message(special.erf, "__call__", {})
    assert message(np.sin, "reduce", {}).startswith("chainrule does not support numpy.sin.reduce")


def test_checkpoint_accepts_keyword_arguments():
    f = cr.checkpoint(lambda x, y: x * y ** 2)
    assert cr.grad(f)(1.5, y=2.0) == pytest.approx(4.0)
    assert cr.grad(lambda x, y: f(x, y=y), argnums=1)(1.5, 2.0) == pytest.approx(6.0)
    with pytest.raises(TypeError, match=r"checkpoint\(<lambda>\): .*z"):
        cr.grad(f)(1.5, 2.0, z=2.0)

    def kwonly(x, *, scale):
        return x * scale
    with pytest.raises(TypeError, match=r"keyword-only arguments \['scale'\]"):
        cr.grad(cr.checkpoint(kwonly))(1.5, scale=2.0)


def test_clip_method_accepts_numpy_keyword_names():
    x = np.array([-1.0, 0.5, 2.0])
    for kw in [dict(min=0.0, max=1.0), dict(a_min=0.0, a_max=1.0), dict(min=0.0, a_max=1.0)]:
        assert cr.grad(lambda v: cnp.sum(v.clip(**kw)))(x).tolist() == [0.0, 1.0, 0.0]
    assert cr.grad(lambda v: cnp.sum(v.clip(min=0.0)))(x).tolist() == [0.0, 1.0, 1.0]
    assert cr.grad(lambda v: cnp.sum(v.clip(0.0, 1.0)))(x).tolist() == [0.0, 1.0, 0.0]
    with pytest.raises(TypeError, match="each bound once"):
        cr.grad(lambda v: cnp.sum(v.clip(min=0.0, a_min=0.0)))(x)


def test_unregistered_dataclass_argument_says_register_it_as_a_pytree():
    import dataclasses

    @dataclasses.dataclass
    class Params:
        a: float

    for transform in [lambda f: cr.grad(f)(Params(1.0)), lambda f: cr.vjp(f, Params(1.0)),
                      lambda f: cr.jvp(f, (Params(1.0),), (Params(1.0),)),
                      lambda f: cr.jacfwd(f)(Params(1.0))]:
        with pytest.raises(TypeError, match=r"Params object.*register the dataclass Params as a "
                                            r"pytree \(chainrule\.tree_util\.register_pytree_node, "
                                            r"or register_dataclass"):
            transform(lambda p: p.a ** 2)
    cr.tree_util.register_dataclass(Params)                         # the suggested fix works
    assert cr.grad(lambda p: p.a ** 2)(Params(3.0)).a == 6.0


# --------------------------- issue 12: custom rules must return matching (co)tangents ---

def _vjp_with_bwd(bwd):
    @cr.custom_vjp
    def f(x):
        return cnp.sum(x ** 2)
    f.defvjp(lambda x: (f(x), x), bwd)
    return f


@pytest.mark.parametrize("bwd, what", [
    (lambda x, g: (g * 2.0,), r"shape \(\) and dtype float64, but it must match its primal's shape \(3,\)"),
    (lambda x, g: ((2 * g * x).astype(np.float32),), r"shape \(3,\) and dtype float32"),
    (lambda x, g: ((2 * g * x)[:2],), r"shape \(2,\)"),
    (lambda x, g: (2 * g * x * 1j,), r"shape \(3,\) and dtype complex128"),
])
def test_custom_vjp_wrong_cotangent_shape_or_dtype_raises(bwd, what):
    f = _vjp_with_bwd(bwd)
    with pytest.raises(ValueError, match="custom_vjp backward function: cotangent 0 has " + what):
        cr.grad(f)(np.ones(3))
    with pytest.raises(ValueError, match="custom_vjp backward function"):
        cr.vmap(cr.grad(f))(np.ones((2, 3)))
    with pytest.raises(ValueError, match="custom_vjp backward function"):
        cr.grad(lambda x: cnp.sum(cr.vmap(f)(x)))(np.ones((2, 3)))


def test_custom_vjp_wrong_cotangent_count_or_structure_raises_and_none_is_zero():
    @cr.custom_vjp
    def f(x, y):
        return x * y
    f.defvjp(lambda x, y: (f(x, y), (x, y)), lambda r, g: (g * r[1],))
    with pytest.raises(TypeError, match="returned 1 cotangents for 2 positional arguments"):
        cr.grad(f)(1.0, 2.0)
    f.defvjp(lambda x, y: (f(x, y), (x, y)), lambda r, g: ((g * r[1], g), g))
    with pytest.raises(TypeError, match="structure"):
        cr.grad(f)(1.0, 2.0)
    f.defvjp(lambda x, y: (f(x, y), (x, y)), lambda r, g: (g * r[1], None))   # None: a zero
    assert cr.grad(f, argnums=(0, 1))(1.5, 2.0) == (2.0, 0.0)
    # a correct rule of the right shape gives the right gradient
    g = _vjp_with_bwd(lambda x, g: (2 * g * x,))
    assert cr.grad(g)(np.arange(3.0)).tolist() == [0.0, 2.0, 4.0]


@pytest.mark.parametrize("tangent, what", [
    (lambda p, t: cnp.sum(t), r"shape \(\)"),
    (lambda p, t: (t * cnp.cos(p)).astype(np.float32), r"shape \(3,\) and dtype float32"),
])
def test_custom_jvp_wrong_tangent_shape_or_dtype_raises(tangent, what):
    @cr.custom_jvp
    def f(x):
        return cnp.sin(x)
    f.defjvp(lambda p, t: (f(p[0]), tangent(p[0], t[0])))
    pattern = "custom_jvp rule: tangent output 0 has " + what
    with pytest.raises(ValueError, match=pattern):
        cr.jvp(f, (np.ones(3),), (np.ones(3),))
    with pytest.raises(ValueError, match=pattern):
        cr.grad(lambda x: cnp.sum(f(x)))(np.ones(3))
    with pytest.raises(ValueError, match=pattern):
        cr.jacfwd(f)(np.ones(3))


def test_custom_jvp_python_scalar_tangent_for_a_scalar_primal_is_accepted():
    @cr.custom_jvp
    def f(x):
        return x * 2.0
    f.defjvp(lambda p, t: (f(p[0]), 2.0))                    # a weakly typed constant tangent
    assert cr.jvp(f, (np.float32(1.0),), (np.float32(1.0),))[1] == 2.0


def test_np_clip_with_numpy2_keywords_is_differentiated():
    x = np.array([-1.0, 0.5, 2.0])
    g = cr.grad(lambda v: cnp.sum(np.clip(v, min=0.0, max=1.0) * v))(x)
    np.testing.assert_allclose(g, [0.0, 1.0, 1.0])        # d/dv clip(v) v: 0 (clipped at 0), 2v, 1
    np.testing.assert_allclose(cr.grad(lambda v: cnp.sum(cnp.clip(v, max=1.0)))(x), [1.0, 1.0, 0.0])
