"""chainrule.eval_shape: output shapes and dtypes as ShapeDtypeStruct pytrees."""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule import random as R


def test_shape_dtype_struct_basics():
    s = cr.ShapeDtypeStruct((3, 4), np.float32)
    assert s.shape == (3, 4) and s.dtype == np.float32 and s.ndim == 2 and s.size == 12
    assert repr(s) == "ShapeDtypeStruct(shape=(3, 4), dtype=float32)"
    assert s == cr.ShapeDtypeStruct([3, 4], "float32") and s != cr.ShapeDtypeStruct((3, 4), np.float64)
    assert hash(s) == hash(cr.ShapeDtypeStruct((3, 4), np.float32))
    assert "eval_shape" in cr.api.__all__ and cr.eval_shape is cr.api.eval_shape


def test_eval_shape_of_pytrees_matches_the_real_outputs():
    def f(x, params, scale=1.0):
        h = cnp.tanh(x @ params["w"] + params["b"])
        return {"out": h * scale, "stats": (cnp.sum(h, axis=0), cnp.argmax(h, axis=1))}
    x = np.ones((5, 3))
    params = {"w": np.ones((3, 4)), "b": np.zeros(4)}
    got = cr.eval_shape(f, x, params, scale=2.0)
    real = f(x, params, scale=2.0)
    assert got == {"out": cr.ShapeDtypeStruct((5, 4), np.float64),
                   "stats": (cr.ShapeDtypeStruct((4,), np.float64), cr.ShapeDtypeStruct((5,), real["stats"][1].dtype))}
    assert got["out"].shape == real["out"].shape


def test_eval_shape_with_shape_dtype_struct_inputs():
    S = cr.ShapeDtypeStruct
    f = lambda a, b: (a @ b, (a[:, :1] * 2).astype(np.float32), a.sum())
    out = cr.eval_shape(f, S((6, 2), np.float64), S((2, 7), np.float64))
    assert out == (S((6, 7), np.float64), S((6, 1), np.float32), S((), np.float64))
    # a ShapeDtypeStruct stands for zeros: log(0) warns nowhere and no values come back
    out = cr.eval_shape(lambda v: {"l": cnp.log(v) / v}, S((3,), np.float64))
    assert out == {"l": S((3,), np.float64)}
    # mixed with a pytree and a Python number
    out = cr.eval_shape(lambda t, n: [t[0] * n, t[1][None]], (S((2,), np.float32), np.arange(3)), 3)
    assert out == [S((2,), np.float32), S((1, 3), np.arange(3).dtype)]


def test_eval_shape_of_transformed_and_random_functions():
    S = cr.ShapeDtypeStruct
    f = lambda w, x: cnp.sum(cnp.sin(x @ w) ** 2)
    out = cr.eval_shape(cr.grad(f), S((3, 2), np.float64), S((4, 3), np.float64))
    assert out == S((3, 2), np.float64)
    out = cr.eval_shape(cr.jacfwd(lambda x: cnp.sin(x) * x), np.ones(4))
    assert out == S((4, 4), np.float64)
    out = cr.eval_shape(lambda k: (R.normal(k, (2, 5)), R.split(k, 3), R.randint(k, (4,), 0, 9)),
                        S((2,), np.uint32))
    assert out == (S((2, 5), np.float64), S((3, 2), np.uint32), S((4,), np.dtype(int)))
    out = cr.eval_shape(cr.vmap(lambda k: R.uniform(k, (3,))), S((7, 2), np.uint32))
    assert out == S((7, 3), np.float64)


def test_eval_shape_inside_a_transformation_and_bad_outputs():
    S = cr.ShapeDtypeStruct

    def f(x):
        s = cr.eval_shape(lambda y: y * x, np.ones(3))      # closes over a traced value
        assert s == S((3,), np.float64)
        return cnp.sum(x)
    assert cr.grad(f)(1.5) == 1.0
    with pytest.raises(TypeError, match="str"):
        cr.eval_shape(lambda x: "text", np.ones(2))
