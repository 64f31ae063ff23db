"""The primitive registry and the rule tables are complete and consistent."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule import rules
from chainrule.core import Primitive, bind, primitives

_counter = itertools.count()


@pytest.fixture
def throwaway():
    """Make primitives with unique names; remove them from the registry afterwards."""
    made = []

    def make(impl=np.sin, **kw):
        name = f"_test_throwaway_{next(_counter)}_{id(made)}"
        p = Primitive(name, impl, **kw)
        made.append(p)
        return p
    yield make
    for p in made:
        primitives.pop(p.name, None)
        rules.jvp_rules.pop(p, None)
        rules.vjp_rules.pop(p, None)


def _has_reason(table, p):
    reason = rules.exempt.get(table, {}).get(p)
    return isinstance(reason, str) and reason.strip() != ""


@pytest.mark.parametrize("table,rule_table", [("jvp", "jvp_rules"), ("vjp", "vjp_rules")])
def test_every_primitive_has_rule_or_is_exempt(table, rule_table):
    rule_tab = getattr(rules, rule_table)
    bad = [name for name, p in primitives.items()
           if p not in rule_tab and not p.nondiff and not _has_reason(table, p)]
    assert not bad, f"primitives without a {table} rule (and not nondiff or exempt with a reason): {bad}"


_EVERY_RULE = """
import sys
import {first}
import chainrule
from chainrule import rules
from chainrule.core import primitives
bad = []
for name, p in primitives.items():
    if not p.nondiff and (p not in rules.jvp_rules or p not in rules.vjp_rules):
        bad.append((name, "jvp/vjp"))
    if p not in rules.batch_rules:
        bad.append((name, "batch"))
    if not p.nondiff and p not in rules.taylor_rules and p not in rules.taylor_by_jvp:
        bad.append((name, "taylor"))
assert not bad, bad
assert "chainrule.ops.taylor_rules" not in sys.modules     # no registry by name is left
print(len(primitives))
"""


@pytest.mark.parametrize("first", ["chainrule", "chainrule.ops.shape", "chainrule.ops.reductions",
                                   "chainrule.ops.linalg", "chainrule.ops.decompositions",
                                   "chainrule.ops.special", "chainrule.ops.elementwise",
                                   "chainrule.loops", "chainrule.compile.jit", "chainrule.scipy.special"])
def test_importing_chainrule_registers_every_rule_in_any_order(first):
    # one block per primitive: whichever module is imported first, every primitive has every
    # rule once chainrule is imported (no lazy installer, no name list)
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-c", _EVERY_RULE.format(first=first)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    assert int(r.stdout.split()[-1]) == len(primitives)


def test_elementwise_primitives_have_scalar_forms():
    # the broadcasting batching rule marks an elementwise primitive; each one says how code
    # generators (and the SymPy bridge) write it
    for p, form in rules.scalar_forms.items():
        assert isinstance(form, rules.Scalar), p
        if form.numpy is not None:
            assert callable(getattr(np, form.numpy)), (p, form.numpy)
        if form.libm is not None and form.pymath:
            import math
            assert callable(getattr(math, form.libm)), (p, form.libm)
    assert rules.scalar_forms[primitives["sin"]] == rules.Scalar("sin", "sin", True, None, "sin")
    assert rules.scalar_forms[primitives["add"]].op == "+"


def test_registry_maps_names_to_primitives():
    assert len(primitives) > 50
    for name, p in primitives.items():
        assert isinstance(p, Primitive)
        assert p.name == name
        assert callable(p.impl)


def test_nondiff_primitives_are_documented():
    for name, p in primitives.items():
        if p.nondiff:
            assert _has_reason("jvp", p) and _has_reason("vjp", p), name
            assert p not in rules.jvp_rules and p not in rules.vjp_rules, \
                f"{name} is nondiff but also has a rule (which would be ignored)"


def test_exempt_entries_name_registered_primitives():
    for table, entries in rules.exempt.items():
        for p, reason in entries.items():
            assert primitives.get(getattr(p, "name", None)) is p, f"exempt[{table!r}] holds {p!r}"
            assert isinstance(reason, str) and reason.strip(), (table, p)


def test_expected_tables_exist():
    for t in ("jvp_rules", "vjp_rules", "batch_rules", "taylor_rules", "emit_rules"):
        assert isinstance(getattr(rules, t), dict)
    for t in ("jvp", "vjp"):
        assert t in rules.exempt


def test_duplicate_primitive_name_rejected(throwaway):
    p = throwaway()
    with pytest.raises(ValueError, match=p.name):
        Primitive(p.name, np.cos)
    assert primitives[p.name] is p


def test_missing_jvp_rule_raises_naming_primitive_and_transformation(throwaway):
    p = throwaway()
    assert float(bind(p, 0.5)) == pytest.approx(np.sin(0.5))      # evaluation needs no rule
    with pytest.raises(NotImplementedError) as e:
        cr.jvp(lambda x: bind(p, x), (0.5,), (1.0,))
    assert p.name in str(e.value) and "jvp" in str(e.value)
    with pytest.raises(NotImplementedError) as e:
        cr.jacfwd(lambda x: bind(p, x))(np.ones(2))
    assert p.name in str(e.value) and "jvp" in str(e.value)
    from chainrule.core import current_depth
    assert current_depth() == 0


def test_missing_vjp_rule_raises_naming_primitive_and_transformation(throwaway):
    p = throwaway()
    with pytest.raises(NotImplementedError) as e:
        cr.grad(lambda x: bind(p, x))(0.5)
    assert p.name in str(e.value) and "vjp" in str(e.value)
    with pytest.raises(NotImplementedError) as e:
        cr.vjp(lambda x: bind(p, x) * 2.0, np.ones(3))
    assert p.name in str(e.value) and "vjp" in str(e.value)


def test_jvp_rule_alone_gives_forward_but_not_reverse(throwaway):
    p = throwaway()
    rules.defjvp(p, lambda t, ans, x: t * cnp.cos(x))
    _, t = cr.jvp(lambda x: bind(p, x), (0.5,), (2.0,))
    assert t == pytest.approx(2.0 * np.cos(0.5))
    with pytest.raises(NotImplementedError, match="vjp"):
        cr.grad(lambda x: bind(p, x))(0.5)
    # forward-over-forward works too; the rule is written with chainrule.numpy
    d2 = cr.jvp(lambda x: cr.jvp(lambda y: bind(p, y), (x,), (1.0,))[1], (0.5,), (1.0,))[1]
    assert d2 == pytest.approx(-np.sin(0.5))


def test_missing_rule_in_nested_transformation(throwaway):
    # a missing vjp rule of an inner transformation is reported even under an outer jvp
    p = throwaway()
    rules.defjvp(p, lambda t, ans, x: t * cnp.cos(x))
    with pytest.raises(NotImplementedError, match="vjp"):
        cr.jvp(cr.grad(lambda x: bind(p, x)), (0.5,), (1.0,))
    from chainrule.core import current_depth
    assert current_depth() == 0


def test_defnondiff_gives_zero_derivatives(throwaway):
    p = throwaway(impl=np.floor)
    rules.defnondiff(p, "test: piecewise constant")
    try:
        assert p.nondiff
        assert rules.exempt["jvp"][p] == "test: piecewise constant"
        g = cr.grad(lambda x: bind(p, x) * x)(2.5)
        assert g == 2.0                     # d/dx floor(x) x = floor(x)
        _, t = cr.jvp(lambda x: bind(p, x) + x, (2.5,), (1.0,))
        assert t == 1.0
    finally:
        rules.exempt["jvp"].pop(p, None)
        rules.exempt["vjp"].pop(p, None)


def test_deflinear_rule(throwaway):
    p = throwaway(impl=lambda x: 3.0 * x)
    rules.deflinear(p, lambda g, ans, x: 3.0 * g)
    _, t = cr.jvp(lambda x: bind(p, x), (np.ones(2),), (np.array([1.0, 2.0]),))
    np.testing.assert_allclose(t, [3.0, 6.0])
    np.testing.assert_allclose(cr.grad(lambda x: cnp.sum(bind(p, x) ** 2))(np.array([1.0, 2.0])),
                               [18.0, 36.0])
