"""Errors that reach a user: one clear line each, never a traceback.

Every error names the field that is wrong, says what was wrong and, where there is a finite set
of valid values, lists them and suggests the closest ("did you mean ...?").
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

#: longest problem text an error line carries (inputs are quoted as short excerpts)
MAX_PROBLEM = 400


def printable(text: str) -> str:
    """`text` with every non-printable character (a newline or tab in a user's key) escaped, so an
    error built from it stays one line."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


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
        problem = self.problem if len(self.problem) <= MAX_PROBLEM else self.problem[: MAX_PROBLEM - 3] + "..."
        field = self.field if len(self.field) <= 120 else self.field[:117] + "..."
        msg = f"{field}: {problem}" if field else problem
        if self.allowed:
            shown = [str(a)[:60] for a in self.allowed[:24]] + (["..."] if len(self.allowed) > 24 else [])
            msg += f" (allowed: {', '.join(shown)})"
        if self.suggestion:
            msg += f"; did you mean {self.suggestion!r}?"
        return printable(msg)


class SpecErrors(GigafactoryError, ValueError):
    """Several independent problems with one input: one line, the first problem and the other fields."""

    def __init__(self, errors: list[SpecError]) -> None:
        self.errors = errors
        rest = [printable(e.field) for e in errors[1:]]
        more = f" (and {len(rest)} more: {', '.join(rest[:4])}{', ...' if len(rest) > 4 else ''})" if rest else ""
        super().__init__(errors[0].line() + more)


class CatalogError(GigafactoryError):
    """The packaged catalog itself is malformed (a bug in the data, not the user's input)."""


class InfeasiblePlan(GigafactoryError):
    """A parallel plan that cannot run, with the reason (memory, divisibility, topology)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"infeasible plan: {reason}" + (f" ({detail})" if detail else ""))


def excerpt(value: object, limit: int = 40) -> str:
    """A short rendering of a user's input for an error line: never the whole of a huge value."""
    if isinstance(value, int) and not isinstance(value, bool):
        digits = len(str(abs(value))) if abs(value) >= 10**15 else 0
        return f"a {digits}-digit integer" if digits > 15 else f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
