"""Command line: ``chainrule COMMAND [ARGS]`` or ``python -m chainrule COMMAND [ARGS]``.

Each command lives in its own module and is imported only when it runs, so
``--help`` is quick and a command whose optional dependencies are missing
does not break the others.
"""

from __future__ import annotations

import argparse
import sys

# name -> (module, one-line description); each module has main(argv, ...) -> exit code
COMMANDS = {
    "tour": ("chainrule.tour",
             "reproduce the blog post's examples: tables, PNG figures, closed-form checks"),
    "bench": ("chainrule.bench",
              "benchmark workloads W1..W8 against JAX, PyTorch, autograd, SymPy, ... (those installed)"),
}


def _parser(prog):
    listing = "\n".join(f"  {name:<8}{desc}" for name, (_, desc) in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog=prog,
        description="chainrule: exact derivatives of NumPy code.",
        epilog=f"commands:\n{listing}\n\n'{prog} COMMAND --help' shows a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=COMMANDS, metavar="COMMAND", help=", ".join(COMMANDS))
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the command's own arguments")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    return parser


def _version():
    from chainrule import __version__
    return __version__


def main(argv=None, prog="chainrule"):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _parser(prog)
    if not argv:
        parser.print_help(sys.stderr)
        return 2
    ns = parser.parse_args(argv)
    module, _ = COMMANDS[ns.command]
    import importlib

    mod = importlib.import_module(module)
    if ns.command == "tour":
        rc = mod.main(ns.args, prog=f"{prog} tour")
    else:
        rc = mod.main(ns.args)
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
