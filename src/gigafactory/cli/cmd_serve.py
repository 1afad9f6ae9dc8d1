"""`gigafactory serve`: the web page and JSON API (FastAPI + uvicorn)."""

from __future__ import annotations

import typer

from .common import console, friendly


def register(app: typer.Typer) -> None:
    @app.command("serve")
    @friendly
    def serve_cmd(
        host: str = typer.Option("127.0.0.1", "--host", help="interface to listen on (default: this machine only)"),
        port: int = typer.Option(8000, "--port", min=0, max=65535, help="TCP port (0: any free port)"),
        log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level"),
    ) -> None:
        """Serve the web page (/) and the JSON API (/api/..., OpenAPI at /openapi.json, docs at /docs)."""
        import uvicorn

        from ..web.app import create_app

        console.print(f"gigafactory web on http://{host}:{port}/  (API docs: /docs; Ctrl-C stops)")
        uvicorn.run(create_app(), host=host, port=port, log_level=log_level)
