"""The `gigafactory` command. Each ``cmd_*.py`` module in this package registers its commands.

Errors from the core (:class:`~gigafactory.errors.GigafactoryError`) are printed as one line on
stderr and exit with status 2; the user never sees a traceback for bad input.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer

from ..errors import GigafactoryError, SpecError, error_json
from .common import print_json
from .format import plain_flags_in_help

app = typer.Typer(
    name="gigafactory",
    help="A digital twin of AI training supercomputers: plan, simulate, goodput, power, network, cost.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    from .. import cli as pkg

    for mod in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if mod.name.startswith("cmd_"):
            importlib.import_module(f"{pkg.__name__}.{mod.name}").register(app)


_register()
plain_flags_in_help()


#: the command-line parser's usage errors (missing option, bad value); typer exports only the
#: bad-value subclass, whose base this is
USAGE_ERROR: type[Exception] = typer.BadParameter.__mro__[1]


def wants_json(argv: list[str]) -> bool:
    return "--json" in argv or "--format=json" in argv or any(
        a in ("--format", "-f") and b == "json" for a, b in zip(argv, argv[1:], strict=False))


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if wants_json(args):  # usage errors (a bad option value) in the JSON contract's shape too
            try:
                code = app(args=args, standalone_mode=False)  # without standalone mode Exit(n) returns n
            except USAGE_ERROR as exc:
                field = exc.param.opts[0] if exc.param is not None and getattr(exc.param, "opts", None) else None
                body = error_json(SpecError("", exc.format_message()))
                body["error"]["field"] = field
                print_json(body)
                exc.show()
                sys.exit(2)
            except typer.Exit as exc:
                sys.exit(exc.exit_code)
            except typer.Abort:
                sys.exit(130)
            if isinstance(code, int) and code:
                sys.exit(code)
            return
        app(args=args, standalone_mode=True)
    except GigafactoryError as exc:
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
