"""docs/supported.md is current: it has a row for every name in tools/jax_names.txt, every
function it lists as present exists in chainrule, and ~30 representative rows match a fresh
run of tools/supported_functions.py (status and modes)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("supported_functions", ROOT / "tools" / "supported_functions.py")
sf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sf)

TABLE = sf.parse_table(sf.TABLE.read_text())
NAMES, HEADER = sf.read_names()

REPRESENTATIVE = [
    ("numpy", "sin"), ("numpy", "arctan2"), ("numpy", "sum"), ("numpy", "cumsum"), ("numpy", "sort"),
    ("numpy", "argmax"), ("numpy", "isnan"), ("numpy", "where"), ("numpy", "reshape"), ("numpy", "einsum"),
    ("numpy", "median"), ("numpy", "nanvar"), ("numpy", "fmod"), ("numpy", "polyder"), ("numpy", "vander"),
    ("numpy", "i0"), ("numpy", "unique"), ("numpy", "zeros"),
    ("numpy.linalg", "det"), ("numpy.linalg", "eigh"), ("numpy.linalg", "matrix_rank"),
    ("numpy.fft", "rfft"), ("scipy.special", "gammaln"), ("scipy.special", "kl_div"),
    ("scipy.special", "boxcox1p"), ("scipy.special", "zeta"), ("scipy.linalg", "expm"),
    ("scipy.linalg", "solve_triangular"), ("scipy.stats.norm", "logcdf"), ("scipy.stats.poisson", "logpmf"),
    ("scipy.stats.pareto", "pdf"), ("nn", "gelu"), ("nn", "one_hot"),
]


def test_every_name_has_one_row():
    assert set(TABLE) == set(NAMES)
    assert len(NAMES) == len(set(NAMES)) > 600


def test_counts_at_the_top_match_the_rows():
    text = sf.TABLE.read_text()
    rows = {key: (status, modes, "") for key, (status, modes) in TABLE.items()}
    for group, c in sf.counts(rows).items():
        assert f"| `jax.{group}` | " + " | ".join(str(v) for v in c.values()) + " |" in text


def test_listed_functions_exist_and_missing_ones_do_not():
    for (ns, name), (status, _) in TABLE.items():
        fn = sf.resolve(ns, name)
        if status == sf.MISSING:
            assert fn is None, f"{ns}.{name} exists now: regenerate docs/supported.md"
        else:
            assert callable(fn), f"{ns}.{name} is listed as {status!r} but chainrule has no such function"


@pytest.mark.parametrize("ns,name", REPRESENTATIVE, ids=[f"{n}.{m}" for n, m in REPRESENTATIVE])
def test_representative_rows_are_current(ns, name):
    status, modes, _ = sf.check(ns, name)
    assert TABLE[(ns, name)] == (status, modes), "stale: run python tools/supported_functions.py"


def test_checker_tells_the_statuses_apart():
    # the checker itself: a correct derivative, a wrong one, integer output, a missing name
    import chainrule as cr
    import chainrule.numpy as cnp
    assert sf.check("numpy", "sin")[:2] == (sf.DIFFERENTIABLE, "grad jacfwd jacrev vmap jit")
    assert sf.check("numpy", "argsort")[0] == sf.NONDIFF
    assert sf.check("numpy", "no_such_function")[0] == sf.MISSING

    @cr.custom_jvp
    def wrong(x):
        return cnp.sin(x)
    wrong.defjvp(lambda p, t: (cnp.sin(p[0]), 2.0 * t[0]))
    sf.SAMPLES["numpy.sin_with_wrong_rule"] = ((lambda f, x: wrong(x)), sf.V)
    cnp.sin_with_wrong_rule = wrong
    try:
        status, modes, note = sf.check("numpy", "sin_with_wrong_rule")
    finally:
        del cnp.sin_with_wrong_rule, sf.SAMPLES["numpy.sin_with_wrong_rule"]
    assert status == sf.VALUE_ONLY and "differs from finite differences" in note
