"""`gigafactory serve`: the web page and JSON API (FastAPI + uvicorn)."""

from __future__ import annotations

import typer

from .common import console, friendly

#: open connections uvicorn serves at once (work itself is bounded by the app: 2 running, 16 waiting)
SERVER_CONNECTIONS = 128


def register(app: typer.Typer) -> None:
    @app.command("serve")
    @friendly
    def serve_cmd(
        host: str = typer.Option("127.0.0.1", "--host", help="interface to listen on (default: this machine only)"),
        port: int = typer.Option(8000, "--port", min=0, max=65535, help="TCP port (0: any free port)"),
        log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level"),
        allow_host: list[str] = typer.Option([], "--allow-host", help="another Host name the server answers to "
                                             "(default: loopback names and --host); refuses DNS-rebinding pages"),
    ) -> None:
        """Serve the web page (/) and the JSON API (/api/..., OpenAPI at /openapi.json, docs at /docs)."""
        import uvicorn

        from ..web.app import LOCAL_HOSTS, create_app

        hosts = [*LOCAL_HOSTS, *allow_host]
        if host not in ("0.0.0.0", "::", ""):
            hosts.append(host)
        elif not allow_host:
            console.print("[yellow]listening on every interface: only loopback Host names are answered; "
                          "name the others with --allow-host[/]")
        console.print(f"gigafactory web on http://{host}:{port}/  (API docs: /docs; Ctrl-C stops)")
        uvicorn.run(create_app(allowed_hosts=hosts), host=host, port=port, log_level=log_level,
                    limit_concurrency=SERVER_CONNECTIONS, timeout_keep_alive=5)
