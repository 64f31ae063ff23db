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
    codegen.register_all()
    missing = [n for n, p in primitives.items() if p not in rules.emit_rules and n not in rules.exempt["emit"]]
    assert not missing, f"primitives without a code emitter: {missing}"


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
