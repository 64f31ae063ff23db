"""Hypothesis profiles for the property tests (tests/test_properties.py, test_jit_properties.py).

Reproducing a failure: the default profile, "chainrule", is derandomized (the examples
are derived from each test's source, not from a random seed), so every run, on CI or
on a fresh machine, tries the same examples for a given Hypothesis version, and a CI
failure is reproduced by running the same command with that version.  It also prints
the failing example's `@reproduce_failure(...)` blob (print_blob), which replays that
exact example when pasted above the test.  No example database is kept, so a run does
not depend on what earlier runs found.

Exploring: `HYPOTHESIS_PROFILE=explore` (or `pytest --hypothesis-profile=explore`)
draws new random examples each run; a failure then prints the seed, and
`pytest --hypothesis-seed=N` runs those same examples again.
"""
from __future__ import annotations

import os

try:
    from hypothesis import HealthCheck, settings
except ImportError:          # the property tests skip themselves without Hypothesis
    settings = None

if settings is not None:
    _common = dict(deadline=None, database=None, print_blob=True,
                   suppress_health_check=list(HealthCheck))
    settings.register_profile("chainrule", derandomize=True, **_common)
    settings.register_profile("explore", derandomize=False, **_common)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "chainrule"))
