"""Every primitive's code emitter: jit (staged, generated code) equals eager, case by case.

The sample cases are the per-primitive table of tests/test_primitives.py, so a
new primitive with samples is covered here automatically.
"""
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule import rules
from chainrule.core import primitives
from chainrule.compile import codegen

from test_primitives import SAMPLES


def test_every_primitive_has_an_emitter():
    # dedicated, from the scalar form, or a call of the implementation; an elementwise
    # primitive with a NumPy function never falls back to the implementation call
    for name, p in primitives.items():
        emit = codegen.emitter(p)
        assert callable(emit) and rules.emit_rules[p] is emit, name
        form = rules.scalar_forms.get(p)
        if form is not None and (form.numpy or form.op) and p is not primitives["round"]:
            assert "_impl_call" not in emit.__qualname__, name


CASES = [(name, k, case) for name, cases in sorted(SAMPLES.items()) for k, case in enumerate(cases)]


@pytest.mark.parametrize("name,k,case", CASES, ids=[f"{n}-{k}" for n, k, _ in CASES])
def test_generated_code_equals_eager(name, k, case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = case.fn(*case.args)
        jf = cr.jit(case.fn)
        first, second = jf(*case.args), jf(*case.args)        # staged run, then the compiled code
    for got in (first, second):
        for g, w in zip(cr.tree_util.tree_leaves(got), cr.tree_util.tree_leaves(want)):
            np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-12, atol=1e-14)
    assert next(iter(jf._cache.values())), f"{name}: no specialisation was compiled"
