"""`python -m chainrule tour --quick` runs headless, writes figures that are
real pictures, and every number it prints agrees with its closed form."""

import contextlib
import importlib.util
import io
import math
import os
import subprocess
import sys
import types
from fractions import Fraction

import numpy as np
import pytest

import chainrule
from chainrule import cli, tour

FIGURES = ("1_exp2x_forward_differences.png", "2_fd_error_vs_step.png",
           "4_simple_example.png", "5_control_flow.png")
EXACT_6TH = 10 * 9 * 8 * 7 * 6 * 5 * 2**6 * 1.6**4          # m!/(m-n)! a^n (ax+b)^(m-n)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One quick run of the whole tour: (results dict, printed text, out dir)."""
    out = tmp_path_factory.mktemp("tour")
    buf = io.StringIO()
    res = tour.run(str(out), quick=True, stream=buf)
    return res, buf.getvalue(), out


def section(text, k):
    """What section k printed."""
    return text.split(f"[{k}/6]")[1].split(f"[{k + 1}/6]")[0]


def row(text, label):
    """The cells after `label` on the printed table row that starts with it."""
    for line in text.splitlines():
        if line.strip().startswith(label):
            return line.strip()[len(label):].split()
    raise AssertionError(f"no printed row starts with {label!r}:\n{text}")


def test_every_check_passes(quick):
    res, text, _ = quick
    assert res["failed"] == [], text
    assert res["ok"]
    assert len(res["checks"]) >= 30
    assert {c["section"] for c in res["checks"]} >= {1, 2, 3, 4, 5, 6}
    assert "0 failed" in text


def test_figures_are_nonblank_pngs(quick):
    image = pytest.importorskip("matplotlib.image")
    res, text, out = quick
    assert res["figures"]
    assert sorted(os.path.basename(p) for p in res["files"]) == sorted(FIGURES)
    listing = text.split("Files written:")[1]
    for name in FIGURES:
        path = out / name
        assert str(path) in listing
        with open(path, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n", name
        px = image.imread(str(path))                   # floats in [0, 1], (h, w, 3 or 4)
        assert px.ndim == 3 and px.shape[0] > 200 and px.shape[1] > 300, (name, px.shape)
        gray = px[..., :3].mean(axis=2)
        assert gray.var() > 1e-3, f"{name} is blank"
        assert (gray < 0.9).mean() > 0.01, f"{name} has almost nothing drawn"


def test_exp2x_forward_differences(quick):
    res, text, _ = quick
    r = res["exp2x"]
    for gamma in (0.5, 0.1, 0.01):
        rel = math.expm1(2 * gamma) / (2 * gamma) - 1        # Df/f' - 1, the same at every x
        worst = 2 * math.exp(2) * rel                       # at x = 1
        assert r["rel_error"][gamma] == pytest.approx(rel, rel=1e-8)
        assert r["max_abs_error"][gamma] == pytest.approx(worst, rel=1e-8)
        xs = r["x"]
        np.testing.assert_allclose(r["Df"][gamma], np.exp(2 * xs) * np.expm1(2 * gamma) / gamma, rtol=1e-9)
        printed = [float(v) for v in row(section(text, 1), f"Df, gamma = {gamma}")[:4]]
        assert printed == pytest.approx([worst, worst, rel, rel], rel=1e-5)
    np.testing.assert_allclose(r["grad"], 2 * np.exp(2 * r["x"]), rtol=2 * tour.EPS)


def test_fd_error_vs_step_is_a_v(quick):
    r = quick[0]["fd_steps"]
    x0, steps, err = r["x0"], r["steps"], r["errors"]
    exact = 2 * math.exp(2 * x0)
    assert r["exact"] == exact and r["grad_error"] <= 2 * np.spacing(exact)
    big = steps == 1.0
    e = math.exp(2 * x0)
    assert err["forward"][big][0] == pytest.approx(e * (math.exp(2) - 1) - exact, rel=1e-10)
    assert err["central"][big][0] == pytest.approx(e * math.sinh(2) - exact, rel=1e-10)
    assert err["complex"][big][0] == pytest.approx(exact - e * math.sin(2), rel=1e-10)
    # forward: error falls as h (truncation), then rises as eps/h (round-off)
    best = r["best_step"]["forward"]
    assert 1e-10 <= best <= 1e-6
    assert err["forward"][0] > 1e-3 and err["forward"][-1] > 1
    assert r["min_error"]["forward"] < 1e-6 < r["min_error"]["forward"] * 1e3
    assert 1e-8 <= r["best_step"]["central"] <= 1e-3
    # complex step: no subtraction, so no round-off branch
    assert np.all(err["complex"][steps <= 1e-8] <= 4 * tour.EPS * exact)
    assert r["min_error"]["richardson"] < r["min_error"]["central"] < r["min_error"]["forward"]


def test_sixth_derivative(quick):
    res, text, _ = quick
    r = res["nth"]
    assert r["exact_fraction"] == Fraction(1585446912, 25)
    assert r["exact"] == pytest.approx(EXACT_6TH, rel=1e-15)
    assert "63417876.48" in text
    assert r["nested_grad"]["value"] == pytest.approx(EXACT_6TH, rel=1e-13)
    assert float(row(section(text, 3), "nested grad x6")[0]) == pytest.approx(EXACT_6TH, rel=1e-11)
    sympy = pytest.importorskip("sympy")
    assert r["sympy"]["value"] == pytest.approx(EXACT_6TH, rel=1e-15)
    assert r["sympy"]["ops"] == sympy.count_ops(sympy.sympify(r["sympy"]["expr"]))
    assert float(row(section(text, 3), "SymPy diff + subs")[0]) == pytest.approx(EXACT_6TH, rel=1e-11)
    if r["taylor"] is None:
        assert "Taylor mode: not available yet" in text
    else:
        assert r["taylor"]["value"] == pytest.approx(EXACT_6TH, rel=1e-13)


def test_simple_example(quick):
    res, text, _ = quick
    r = res["simple"]
    x = r["x"]
    fprime = np.cos(x) + 6 * np.sin(3 * x) * np.exp(-x**2) + 4 * x * np.cos(3 * x) * np.exp(-x**2)
    f = lambda t: np.sin(t) - 2 * np.cos(3 * t) * np.exp(-t**2)  # noqa: E731
    np.testing.assert_allclose(r["grad"], fprime, rtol=0, atol=1e-13)
    np.testing.assert_allclose(r["Df"], (f(x + 0.1) - f(x)) / 0.1, rtol=1e-9, atol=1e-12)
    assert r["max_fd_error"] > 0.1                              # gamma = 0.1 is visibly off
    assert ("vmap(grad(f))" == r["how"]) or ("Python loop of grad(f)" in r["how"])
    for x0 in (-2.0, -0.5, 0.5, 2.0):
        want = math.cos(x0) + (6 * math.sin(3 * x0) + 4 * x0 * math.cos(3 * x0)) * math.exp(-x0**2)
        exact_printed, grad_printed, df_printed = (float(v) for v in row(section(text, 4), tour._g(x0) + " ")[:3])
        assert exact_printed == pytest.approx(want, rel=1e-11)
        assert grad_printed == pytest.approx(want, rel=1e-11)
        assert df_printed == pytest.approx((f(x0 + 0.1) - f(x0)) / 0.1, rel=1e-5)


def test_control_flow(quick):
    res, text, _ = quick
    r = res["control_flow"]
    x = r["x"]
    assert x.size == 100 and x[0] == -5 and x[-1] == 5
    np.testing.assert_allclose(r["f"], np.where(x < 0, (3.375 * x + 0.35) ** 2, x**2 + x + 4), rtol=1e-14)
    np.testing.assert_allclose(r["grad"], np.where(x < 0, 6.75 * (3.375 * x + 0.35), 2 * x + 1),
                               rtol=1e-14, atol=1e-14)
    printed = [float(v) for v in row(section(text, 5), "-1 ")[:4]]
    assert printed == pytest.approx([9.150625, 9.150625, -20.41875, -20.41875])
    assert [float(v) for v in row(section(text, 5), "2 ")[:4]] == pytest.approx([10, 10, 5, 5])
    line = next(ln for ln in text.splitlines() if "gradient at 100 points" in ln)
    assert r["how"] in line
    if "loop" in r["how"]:
        assert "vmap" in line                                   # says why it fell back


def test_closing_table(quick):
    res, text, _ = quick
    rows = {s["technique"]: s for s in res["summary"]}
    assert rows["reverse mode, grad"]["max_error"] < 1e-13
    assert rows["forward mode, jvp"]["max_error"] < 1e-13
    assert rows["complex step"]["max_error"] < 1e-13
    assert rows["forward difference, gamma = 0.1"]["max_error"] > 0.1
    assert rows["6th deriv.: nested grad x6"]["max_error"] < 1e-13
    for name, s in rows.items():
        assert name in text
        if s["seconds"] is not None:
            assert s["seconds"] > 0


def test_a_failed_check_makes_the_tour_exit_nonzero(monkeypatch):
    monkeypatch.setattr(tour, "power_nth_exact", lambda n: Fraction(1))
    out = io.StringIO()                  # (its own buffer: capsys lost the text in long runs)
    with contextlib.redirect_stdout(out):
        assert tour.main(["--quick", "--no-figures", "--only", "3"]) == 1
    text = out.getvalue()
    assert "FAILED" in text and "nested grad" in text


def test_without_matplotlib_tables_only(monkeypatch, tmp_path):
    monkeypatch.setattr(tour, "_matplotlib", lambda: None)
    buf = io.StringIO()
    res = tour.run(str(tmp_path), quick=True, sections=[5], stream=buf)
    assert res["ok"] and res["files"] == [] and not res["figures"]
    assert "figures skipped" in buf.getvalue()
    assert list(tmp_path.iterdir()) == []


def test_cli_dispatches_bench_lazily(monkeypatch):
    seen = []
    fake = types.ModuleType("chainrule.bench")
    fake.main = lambda argv: seen.append(argv) or 3
    monkeypatch.setitem(sys.modules, "chainrule.bench", fake)
    assert cli.main(["bench", "--quick", "--only", "W1"]) == 3
    assert seen == [["--quick", "--only", "W1"]]


def _env():
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    src = os.path.dirname(os.path.dirname(chainrule.__file__))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return env


def test_python_m_chainrule_help():
    p = subprocess.run([sys.executable, "-m", "chainrule", "--help"], capture_output=True, text=True,
                       env=_env(), timeout=120)
    assert p.returncode == 0, p.stderr
    assert "tour" in p.stdout and "bench" in p.stdout
    p = subprocess.run([sys.executable, "-m", "chainrule", "tour", "--help"], capture_output=True,
                       text=True, env=_env(), timeout=120)
    assert p.returncode == 0 and "--quick" in p.stdout and "--out" in p.stdout


def test_python_m_chainrule_tour_quick(tmp_path):
    p = subprocess.run([sys.executable, "-m", "chainrule", "tour", "--quick", "--out", str(tmp_path)],
                       capture_output=True, text=True, env=_env(), timeout=300, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "[6/6]" in p.stdout and "0 failed" in p.stdout
    listing = p.stdout.split("Files written:")[1].split()
    if importlib.util.find_spec("matplotlib") is None:
        assert listing == ["none", "(figures", "skipped)"]
    else:
        assert [os.path.basename(s) for s in listing] == list(FIGURES)
        assert all(os.path.getsize(s) > 0 for s in listing)


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_readme_example_is_the_quickstart_and_runs():
    readme, quickstart = os.path.join(ROOT, "README.md"), os.path.join(ROOT, "examples", "quickstart.py")
    if not (os.path.exists(readme) and os.path.exists(quickstart)):
        pytest.skip("not a checkout of the repository")
    text = open(readme, encoding="utf-8").read()
    setup = text.split("```bash\n")[1].split("```")[0].strip().splitlines()
    assert setup == ['pip install -e ".[tour]" && python -m chainrule tour --quick',
                     'pip install -e ".[test]" && python -m pytest -q']
    example = text.split("```python\n")[1].split("```")[0]
    code = [ln for ln in example.splitlines() if ln.strip()]
    assert len(code) <= 12
    script = open(quickstart, encoding="utf-8").read()
    for line in code:
        assert line in script.splitlines(), line
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(script, quickstart, "exec"), {"__name__": "__main__"})
    assert out.getvalue().rstrip().endswith("all checks passed")
