"""The `gigafactory` command. Each ``cmd_*.py`` module in this package registers its commands.

Errors from the core (:class:`~gigafactory.errors.GigafactoryError`) are printed as one line on
stderr and exit with status 2; the user never sees a traceback for bad input.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer

from ..errors import GigafactoryError
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


def main(argv: list[str] | None = None) -> None:
    try:
        app(args=argv, standalone_mode=True)
    except GigafactoryError as exc:
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
