"""Command-line surface: thin typer commands over the public Python API."""
