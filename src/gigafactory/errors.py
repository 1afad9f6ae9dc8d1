"""Errors that reach a user: one clear line each, never a traceback.

Every error names the field that is wrong, says what was wrong and, where there is a finite set
of valid values, lists them and suggests the closest ("did you mean ...?").
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class GigafactoryError(Exception):
    """Base class: the message is one line meant for the user."""


class SpecError(GigafactoryError, ValueError):
    """An input (scenario field, CLI option, catalog name) that is not valid."""

    def __init__(
        self,
        field: str,
        problem: str,
        allowed: Iterable[str] | None = None,
        suggestion: str | None = None,
    ) -> None:
        self.field = field
        self.problem = problem
        self.allowed = list(allowed) if allowed is not None else None
        self.suggestion = suggestion
        super().__init__(self.line())

    def line(self) -> str:
        msg = f"{self.field}: {self.problem}" if self.field else self.problem
        if self.allowed:
            shown = self.allowed if len(self.allowed) <= 24 else self.allowed[:24] + ["..."]
            msg += f" (allowed: {', '.join(shown)})"
        if self.suggestion:
            msg += f"; did you mean {self.suggestion!r}?"
        return msg


class SpecErrors(GigafactoryError, ValueError):
    """Several independent problems with one input; each is one line."""

    def __init__(self, errors: list[SpecError]) -> None:
        self.errors = errors
        super().__init__("\n".join(e.line() for e in errors))


class CatalogError(GigafactoryError):
    """The packaged catalog itself is malformed (a bug in the data, not the user's input)."""


class InfeasiblePlan(GigafactoryError):
    """A parallel plan that cannot run, with the reason (memory, divisibility, topology)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"infeasible plan: {reason}" + (f" ({detail})" if detail else ""))


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The choice closest to `name`, case- and punctuation-insensitive, or None."""
    choices = list(choices)
    norm = {_norm(c): c for c in choices}
    key = _norm(name)
    if key in norm:
        return norm[key]
    # prefix match first ("H100" -> "h100-sxm"), then fuzzy
    prefixed = [c for k, c in norm.items() if k.startswith(key) and key]
    if len(prefixed) >= 1:
        return sorted(prefixed, key=len)[0]
    hits = difflib.get_close_matches(key, list(norm), n=1, cutoff=0.5)
    return norm[hits[0]] if hits else None


def unknown(field: str, kind: str, name: object, choices: Iterable[str]) -> SpecError:
    choices = sorted(choices)
    return SpecError(
        field,
        f"unknown {kind} {name!r}",
        allowed=choices,
        suggestion=closest(str(name), choices),
    )


def _norm(s: str) -> str:
    return "".join(ch for ch in s.lower() if ch.isalnum())


def error_json(exc: Exception) -> dict[str, dict[str, object]]:
    """The one error shape of every ``--json`` output and of the web API:
    ``{"error": {"field", "message", "allowed", "suggestion"}}`` (absent parts are null)."""
    field: str | None = None
    allowed: list[str] | None = None
    suggestion: str | None = None
    message = str(exc)
    if isinstance(exc, SpecError):
        field, allowed, suggestion, message = exc.field or None, exc.allowed, exc.suggestion, exc.line()
    elif isinstance(exc, SpecErrors):
        first = exc.errors[0] if exc.errors else None
        field = first.field if first else None
        allowed, suggestion = (first.allowed, first.suggestion) if first else (None, None)
        message = "; ".join(e.line() for e in exc.errors)
    elif isinstance(exc, InfeasiblePlan):
        field = "plan"
    return {"error": {"field": field, "message": message, "allowed": allowed, "suggestion": suggestion}}
