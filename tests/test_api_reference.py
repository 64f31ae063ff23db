"""docs/api.md (written by tools/api_reference.py) documents every public name of chainrule."""
from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

import chainrule
from chainrule import lax

ROOT = Path(__file__).resolve().parent.parent


def _tool():
    spec = importlib.util.spec_from_file_location("api_reference", ROOT / "tools" / "api_reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


TOOL = _tool()
DOC = (ROOT / "docs" / "api.md").read_text()


def test_top_level_names_are_found():
    names = TOOL.public_names(chainrule)
    for expected in ("grad", "vmap", "jit", "custom_jvp", "LeakedTracerError"):
        assert expected in names
    assert "np" not in names and "annotations" not in names


def test_every_top_level_name_has_a_docstring():
    missing = [n for n in TOOL.public_names(chainrule) if not (inspect.getdoc(getattr(chainrule, n)) or "").strip()]
    assert not missing, f"public names of chainrule without a docstring: {missing}"


def test_every_top_level_name_is_in_docs_api_md():
    missing = [n for n in TOOL.public_names(chainrule) if f"### `chainrule.{n}`" not in DOC]
    assert not missing, (f"docs/api.md lacks {missing}: run python tools/api_reference.py")


def test_lax_and_the_vmap_signature_are_documented():
    for n in lax.__all__:
        assert f"### `chainrule.lax.{n}`" in DOC
    assert "vmap(f, in_axes=0, out_axes=0, axis_name=None, axis_size=None)" in DOC


def test_first_paragraph_and_signature_helpers():
    def f(x, k=2):
        """One line
        continued.

        Not this paragraph."""
    assert TOOL.first_paragraph(f) == "One line continued."
    assert TOOL.signature("f", f) == "f(x, k=2)"
    assert TOOL.signature("c", 3.5) == "c = 3.5"
