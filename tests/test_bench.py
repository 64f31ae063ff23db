"""The benchmark harness runs end to end (quick mode, NumPy peers only) and
every result it timed has the right value."""

import json
import os

import pytest


def test_bench_quick(tmp_path):
    try:
        import chainrule  # noqa: F401
        import chainrule.bench as bench
    except Exception as e:                       # core mid-edit: nothing to run
        pytest.skip(f"import chainrule failed: {e!r}")
    out = str(tmp_path)
    rc = bench.main(["--quick", "--only", "W1,W5,W6", "--peers", "numpy",
                     "--out", out])
    assert rc == 0
    assert os.path.getsize(os.path.join(out, "bench.md")) > 0
    with open(os.path.join(out, "bench.json")) as fh:
        data = json.load(fh)
    rows = data["rows"]
    assert {r["workload"] for r in rows} == {"W1", "W5", "W6"}
    ran = [r for r in rows if r["median_us"] is not None]
    # the NumPy floors and finite differences always run
    assert any(r["tool"] == "numpy" for r in ran)
    assert any(r["tool"] == "numpy fd" for r in ran)
    assert any(r["tool"] == "python hand" for r in ran)
    wrong = [(r["workload"], r["case"], r["tool"], r["note"])
             for r in ran if r["value_ok"] is not True]
    assert not wrong, wrong
    for r in ran:
        assert r["median_us"] > 0
    # W5's figure of merit is reported for every row that ran
    assert all("us_per_op" in r["extra"] for r in ran
               if r["workload"] == "W5" and not r["case"].endswith("first call"))
    # rows that did not run say why
    for r in rows:
        if r["median_us"] is None:
            assert r["status"].startswith(("fails:", "not yet:", "skipped"))
