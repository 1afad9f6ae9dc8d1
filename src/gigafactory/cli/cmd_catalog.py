"""`gigafactory catalog list|show` and `gigafactory scenario list|show`."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table
from rich.tree import Tree

from .. import catalog
from ..errors import SpecError, unknown
from ..resolve import DEFAULT_SCENARIO, builtin_scenarios, load_scenario, scenario_to_dict
from ..units import Column
from .common import console, fmt, friendly, parse_sets, print_json
from .format import choose_format, emit_rows, format_option, print_table

#: columns shown by `catalog list` per kind: (header, dotted field)
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "gpus": [("bf16 TF", "peak_tflops.bf16"), ("fp8 TF", "peak_tflops.fp8"), ("nvfp4 TF", "peak_tflops.nvfp4"),
             ("HBM GB", "hbm_gb"), ("HBM TB/s", "hbm_tbps"), ("NVLink GB/s", "nvlink_gbs"), ("TDP W", "tdp_w"),
             ("price $", "price_usd")],
    "scaleups": [("GPUs/domain", "gpus_per_domain"), ("GPUs/server", "gpus_per_server"),
                 ("servers/rack", "servers_per_rack"), ("GB/s/dir", "bw_gbs"), ("rack kW", "rack_limit_kw")],
    "fabrics": [("kind", "kind"), ("Gb/s", "port_gbps"), ("radix", "switch_radix"), ("hop ns", "hop_latency_ns"),
                ("switch W", "switch_w"), ("adaptive", "adaptive_routing"), ("SHARP", "sharp")],
    "models": [("params B", "params_b"), ("active B", "active_params_b"), ("layers", "layers"),
               ("hidden", "hidden"), ("heads", "heads"), ("kv", "kv_heads"), ("experts", "moe.experts"),
               ("top-k", "moe.top_k")],
    "clusters": [("GPU", "gpu"), ("GPUs", "num_gpus"), ("scale-up", "scale_up"), ("fabric", "fabric"),
                 ("site", "site")],
    "sites": [("grid MW", "grid_mw"), ("PUE", "pue"), ("$/MWh", "electricity_usd_per_mwh"),
              ("location", "location")],
}
ALIASES = {"gpu": "gpus", "scaleup": "scaleups", "scale-ups": "scaleups", "fabric": "fabrics",
           "model": "models", "cluster": "clusters", "site": "sites"}


def _cell(v: Any) -> Any:
    if isinstance(v, dict) and "use" in v:  # a catalog entry with overrides
        return f"{v['use']} (modified)"
    return v


def _get(d: dict[str, Any], dotted: str) -> Any:
    for p in dotted.split("."):
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def list_entries(kind: str) -> list[dict[str, Any]]:
    """Catalog entries of one kind as plain dicts (what `catalog list` shows)."""
    kind = ALIASES.get(kind, kind)
    if kind not in catalog.KINDS:
        raise unknown("kind", "catalog kind", kind, catalog.KINDS)
    return [catalog.entry(kind, i) for i in catalog.ids(kind)]


def find_entry(name: str) -> tuple[str, dict[str, Any]]:
    """Find a catalog entry by id in any kind; unknown names get a did-you-mean."""
    for kind in catalog.KINDS:
        if name in catalog.ids(kind):
            return kind, catalog.entry(kind, name)
    everything = [i for k in catalog.KINDS for i in catalog.ids(k)]
    raise unknown("NAME", "catalog entry", name, everything)


def register(app: typer.Typer) -> None:
    cat = typer.Typer(help="Browse the sourced catalog: GPUs, scale-up domains, fabrics, models, clusters, sites.",
                      no_args_is_help=True)
    app.add_typer(cat, name="catalog")

    @cat.command("list")
    @friendly
    def list_cmd(
        kind: str = typer.Argument(None, help="gpus | scaleups | fabrics | models | clusters | sites (all if omitted)"),
        fmt: str = format_option(),
        json_out: bool = typer.Option(False, "--json", help="machine-readable output (= --format json)"),
    ) -> None:
        """List catalog entries with their key figures."""
        how = choose_format(fmt, json_out)
        kinds = [ALIASES.get(kind, kind)] if kind else list(catalog.KINDS)
        data = {k: list_entries(k) for k in kinds}
        if how == "json":
            print_json(data)
            return
        if how == "csv" and len(kinds) > 1:
            raise SpecError("--format", "csv lists one kind at a time, e.g. `gigafactory catalog list gpus "
                            "--format csv`", list(catalog.KINDS))
        for k, rows in data.items():
            cols = [Column("id"), Column("name"), *(Column(f, h, "") for h, f in COLUMNS[k])]
            flat = [{"id": r["id"], "name": r.get("name", ""), **{f: _cell(_get(r, f)) for _, f in COLUMNS[k]}}
                    for r in rows]
            emit_rows(flat, cols, how, f"{catalog.KINDS[k]}s ({k})")

    @cat.command("show")
    @friendly
    def show_cmd(
        name: str = typer.Argument(..., help="an entry id, e.g. h100-sxm, colossus, llama3-70b"),
        json_out: bool = typer.Option(False, "--json"),
    ) -> None:
        """Show one entry: every field, with the source of each number and estimate flags."""
        kind, data = find_entry(name)
        prov = catalog.provenance(kind, name)
        if json_out:
            print_json({"kind": kind, "entry": data,
                        "sources": {k: vars(v) for k, v in prov.items()}})
            return
        t = Table(title=f"{catalog.KINDS[kind]} {name}: {data.get('name', '')}", title_justify="left")
        t.add_column("field", style="cyan")
        t.add_column("value", justify="right")
        t.add_column("est.", justify="center")
        t.add_column("source", overflow="fold")
        for path, value in _flatten(data):
            p = prov.get(path)
            t.add_row(path, fmt(value) if isinstance(value, int | float) and not isinstance(value, bool)
                      else str(value), "[yellow]yes[/]" if p and p.estimate else "",
                      p.source if p else "")
        print_table(t)
        if data.get("source"):
            console.print(f"[dim]entry source: {data['source']}[/]")

    scen = typer.Typer(help="List the built-in scenarios; inspect scenario files.", no_args_is_help=True)
    app.add_typer(scen, name="scenario")

    @scen.command("list")
    @friendly
    def scenario_list(json_out: bool = typer.Option(False, "--json")) -> None:
        """The built-in scenarios: run one by name with `gigafactory simulate NAME`."""
        rows = [scenario_summary(name) for name in builtin_scenarios()]
        if json_out:
            print_json(rows)
            return
        t = Table(title="built-in scenarios (gigafactory simulate NAME)", title_justify="left")
        for col in ("name", "capacity", "GPUs", "site", "model"):
            t.add_column(col, overflow="fold")
        for r in rows:
            t.add_row(r["name"] + (" (default)" if r["default"] else ""),
                      r["capacity"] + (f" ({r['provider']})" if r["provider"] else ""),
                      f"{r['num_gpus']:,} {r['gpu']}", r["site"], f"{r['model']}, {r['tokens']:.3g} tokens, {r['precision']}")
        console.print(t)
        for r in rows:
            console.print(f"[bold]{r['name']}[/]: {r['description']}", highlight=False)

    @scen.command("show")
    @friendly
    def scenario_show(
        file: str = typer.Argument(None, help="scenario YAML or built-in name (default: colossus-gpt4)"),
        set_: list[str] = typer.Option([], "--set", help="override a field: --set cluster.num_gpus=50000"),
        json_out: bool = typer.Option(False, "--json"),
    ) -> None:
        """Print a scenario with every catalog name resolved and every override applied."""
        s = load_scenario(file, parse_sets(set_))
        if json_out:
            print_json(scenario_to_dict(s))
            return
        console.print(scenario_tree(scenario_to_dict(s), s.name))


def scenario_summary(name: str) -> dict[str, Any]:
    """One row of `scenario list`: what a built-in scenario runs, and on what."""
    s = load_scenario(name)
    return {"name": name, "default": name == DEFAULT_SCENARIO, "capacity": s.capacity.mode,
            "provider": s.capacity.provider, "gpu": s.cluster.gpu.id, "num_gpus": s.cluster.num_gpus,
            "cluster": s.cluster.id, "site": s.site.id, "model": s.job.model.id, "tokens": s.job.tokens,
            "precision": s.job.precision, "description": " ".join(s.description.split()), "source": s.source}


def scenario_tree(d: dict[str, Any], title: str) -> Tree:
    tree = Tree(f"[bold]scenario {title}[/]")

    def add(node: Tree, obj: Any) -> None:
        for k, v in obj.items():
            if k in ("source", "sources", "note"):
                continue
            if isinstance(v, dict):
                add(node.add(f"[cyan]{k}[/]" + (f" = {v['id']}" if "id" in v else "")), v)
            elif isinstance(v, list) and v and isinstance(v[0], dict):
                sub = node.add(f"[cyan]{k}[/]")
                for i, item in enumerate(v):
                    add(sub.add(f"[{i}]"), item)
            else:
                node.add(f"{k}: {fmt(v) if isinstance(v, int | float) and not isinstance(v, bool) else v}")

    add(tree, d)
    return tree


def _flatten(d: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        if k in ("source", "sources", "id"):
            continue
        path = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict):
            out += _flatten(v, path)
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            for i, item in enumerate(v):
                out += _flatten(item, f"{path}[{i}]")
        else:
            out.append((path, v))
    return out
