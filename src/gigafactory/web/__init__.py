"""The web surface: a FastAPI JSON API and one offline page (``gigafactory serve``)."""

from __future__ import annotations


def create_app():  # noqa: ANN201 - imported lazily so that `import gigafactory.web` needs no FastAPI
    from .app import create_app as _create

    return _create()


__all__ = ["create_app"]
