"""Write docs/api.md, chainrule's API reference, from the docstrings.

    python tools/api_reference.py            # writes docs/api.md
    python tools/api_reference.py --check    # exits 1 when docs/api.md is out of date

Each public name gets its signature and the first paragraph of its docstring;
`chainrule.numpy` (and its linalg and fft) get names only, grouped, each with the
NumPy function it follows.  A module's public names are its `__all__`, else its
names without a leading underscore that are not modules (for the top level of
`chainrule`, those defined inside chainrule; its submodules are listed apart).
"""
from __future__ import annotations

import __future__
import importlib
import inspect
import re
import pkgutil
import sys
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "api.md"

FULL = ["chainrule", "chainrule.lax", "chainrule.tree_util", "chainrule.nn", "chainrule.random",
        "chainrule.fd", "chainrule.symbolic", "chainrule.debug"]
NUMPY = [("chainrule.numpy", np), ("chainrule.numpy.linalg", np.linalg), ("chainrule.numpy.fft", np.fft)]


def scipy_modules():
    """chainrule.scipy and its public submodules, found on disk."""
    import chainrule.scipy as sp
    names = ["chainrule.scipy"]
    for info in pkgutil.walk_packages(sp.__path__, "chainrule.scipy."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return names


def public_names(mod):
    """The public names of the module `mod` (see the module docstring)."""
    if hasattr(mod, "__all__"):
        return list(mod.__all__)
    top = mod.__name__ == "chainrule"
    out = []
    for name, value in vars(mod).items():
        if name.startswith("_") or isinstance(value, (types.ModuleType, __future__._Feature)):
            continue
        if top and not str(getattr(value, "__module__", "")).startswith("chainrule"):
            continue
        out.append(name)
    return out


def submodules(mod):
    """The public submodules of `mod` that are attributes of it."""
    return sorted(n for n, v in vars(mod).items() if isinstance(v, types.ModuleType)
                  and not n.startswith("_") and v.__name__.startswith(mod.__name__ + "."))


def first_paragraph(obj):
    doc = inspect.getdoc(obj) or ""
    return " ".join(doc.strip().split("\n\n")[0].split())


_NO_ADDRESS = re.compile(r" at 0x[0-9a-f]+>")   # default values printed with an address


def signature(name, obj):
    if not callable(obj):
        r = repr(obj)
        return f"{name} = {r if len(r) <= 60 else type(obj).__name__ + '(...)'}"
    try:
        return f"{name}{_NO_ADDRESS.sub('>', str(inspect.signature(obj)))}"
    except (TypeError, ValueError):
        return f"{name}(...)"


def _anchor(qualname):
    return qualname.replace(".", "").lower()


def full_section(modname, documented=()):
    mod = importlib.import_module(modname)
    lines = [f"## `{modname}`", "", first_paragraph(mod), ""]
    subs = [s for s in submodules(mod) if f"{modname}.{s}" in documented]
    if subs:
        lines += ["Submodules documented here: " + ", ".join(
            f"[`{modname}.{s}`](#{_anchor(modname + '.' + s)})" for s in subs) + ".", ""]
    for name in public_names(mod):
        obj = getattr(mod, name)
        lines += [f"### `{modname}.{name}`", "", "```python", signature(name, obj), "```", ""]
        para = first_paragraph(obj)
        if para and not (not callable(obj) and para == first_paragraph(type(obj))):
            lines += [para, ""]
    return lines


def _group(name, ours, theirs):
    ref = getattr(theirs, name, None)
    if ref is None:
        return "chainrule's own (no NumPy counterpart)"
    if isinstance(ref, np.ufunc):
        return "elementwise (NumPy ufuncs)"
    if isinstance(ref, type):
        return "types"
    if callable(ref):
        return "functions"
    return "constants"


_ORDER = ["elementwise (NumPy ufuncs)", "functions", "types", "constants",
          "chainrule's own (no NumPy counterpart)"]


def numpy_section(modname, theirs):
    mod = importlib.import_module(modname)
    lines = [f"## `{modname}`", "", first_paragraph(mod), "",
             f"Names only; each follows the NumPy name of `{theirs.__name__}` beside it.", ""]
    groups = {}
    for name in sorted(public_names(mod)):
        groups.setdefault(_group(name, getattr(mod, name), theirs), []).append(name)
    for g in _ORDER:
        if g not in groups:
            continue
        lines += [f"### {g} ({len(groups[g])})", ""]
        if g.startswith("chainrule's own"):
            for n in groups[g]:
                para = first_paragraph(getattr(mod, n))
                lines.append(f"- `{modname}.{n}`" + (f": {para}" if para else ""))
        else:
            lines.append(", ".join(f"`{n}` ({theirs.__name__}.{n})" for n in groups[g]))
        lines.append("")
    return lines


def render():
    import chainrule  # noqa: F401
    scipy = scipy_modules()
    documented = set(FULL) | {m for m, _ in NUMPY} | set(scipy)
    sections = [("chainrule", full_section("chainrule", documented))]
    sections += [(m, numpy_section(m, t)) for m, t in NUMPY]
    sections += [(m, full_section(m)) for m in scipy]
    sections += [(m, full_section(m)) for m in FULL[1:]]
    head = ["# chainrule API reference", "",
            "Generated by `python tools/api_reference.py` from the docstrings; do not edit by hand.",
            "", "Modules: " + ", ".join(f"[`{m}`](#{_anchor(m)})" for m, _ in sections) + ".", ""]
    body = [line for _, sec in sections for line in sec]
    return "\n".join(head + body).rstrip() + "\n"


def main(argv):
    text = render()
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is out of date: run python tools/api_reference.py")
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
