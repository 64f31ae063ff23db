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


def _has_reason(table, name):
    reason = rules.exempt.get(table, {}).get(name)
    return isinstance(reason, str) and reason.strip() != ""


@pytest.mark.parametrize("table,rule_table", [("jvp", "jvp_rules"), ("vjp", "vjp_rules")])
def test_every_primitive_has_rule_or_is_exempt(table, rule_table):
    rule_tab = getattr(rules, rule_table)
    bad = [name for name, p in primitives.items()
           if p not in rule_tab and not p.nondiff and not _has_reason(table, name)]
    assert not bad, f"primitives without a {table} rule (and not nondiff or exempt with a reason): {bad}"


def test_registry_maps_names_to_primitives():
    assert len(primitives) > 50
    for name, p in primitives.items():
        assert isinstance(p, Primitive)
        assert p.name == name
        assert callable(p.impl)


def test_nondiff_primitives_are_documented():
    for name, p in primitives.items():
        if p.nondiff:
            assert _has_reason("jvp", name) and _has_reason("vjp", name), name
            assert p not in rules.jvp_rules and p not in rules.vjp_rules, \
                f"{name} is nondiff but also has a rule (which would be ignored)"


def test_exempt_entries_name_registered_primitives():
    for table, entries in rules.exempt.items():
        for name, reason in entries.items():
            assert name in primitives, f"exempt[{table!r}] names unknown primitive {name!r}"
            assert isinstance(reason, str) and reason.strip(), (table, name)


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
        assert rules.exempt["jvp"][p.name] == "test: piecewise constant"
        g = cr.grad(lambda x: bind(p, x) * x)(2.5)
        assert g == 2.0                     # d/dx floor(x) x = floor(x)
        _, t = cr.jvp(lambda x: bind(p, x) + x, (2.5,), (1.0,))
        assert t == 1.0
    finally:
        rules.exempt["jvp"].pop(p.name, None)
        rules.exempt["vjp"].pop(p.name, None)


def test_deflinear_rule(throwaway):
    p = throwaway(impl=lambda x: 3.0 * x)
    rules.deflinear(p, lambda g, ans, x: 3.0 * g)
    _, t = cr.jvp(lambda x: bind(p, x), (np.ones(2),), (np.array([1.0, 2.0]),))
    np.testing.assert_allclose(t, [3.0, 6.0])
    np.testing.assert_allclose(cr.grad(lambda x: cnp.sum(bind(p, x) ** 2))(np.array([1.0, 2.0])),
                               [18.0, 36.0])
