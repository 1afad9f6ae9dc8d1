"""Every catalog entry loads, every number has a source, estimates are flagged."""

from __future__ import annotations

from importlib import resources

import pytest
import yaml

from gigafactory import catalog, resolve
from gigafactory.errors import CatalogError

ALL = [(k, i) for k in catalog.KINDS for i in catalog.ids(k)]


@pytest.mark.parametrize(("kind", "eid"), ALL, ids=[f"{k}:{i}" for k, i in ALL])
def test_every_named_entry_builds(kind: str, eid: str) -> None:
    spec = resolve.spec(kind, eid)
    assert spec.id == eid


def _numbers_without_source(node, path, source):
    """Yield dotted paths of numbers in raw YAML that have no source in reach."""
    if isinstance(node, dict):
        if "value" in node:
            if not (node.get("source") or source):
                yield path
            return
        local = node.get("source", source)
        for k, v in node.items():
            if k in ("source", "note"):
                continue
            yield from _numbers_without_source(v, f"{path}.{k}", local)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _numbers_without_source(v, f"{path}[{i}]", source)
    elif isinstance(node, int | float) and not isinstance(node, bool) and not source:
        yield path


@pytest.mark.parametrize("kind", catalog.all_kinds())
def test_every_number_in_every_file_has_a_source(kind: str) -> None:
    raw = yaml.safe_load(resources.files("gigafactory.catalog").joinpath(f"{kind}.yaml").read_text())
    missing = []
    for eid, body in raw.items():
        src = body.get("source") if isinstance(body, dict) else None
        missing += list(_numbers_without_source(body, f"{kind}:{eid}", src))
    assert not missing, f"numbers without a source: {missing[:10]}"
    catalog.table(kind)  # the loader agrees


def test_required_catalog_entries_exist() -> None:
    gpus = {"a100-sxm-40gb", "a100-sxm-80gb", "h100-sxm", "h100-96gb-hbm2e-500w", "h200-sxm", "b200", "b300",
            "gb200", "gb300"}
    models = {"gpt3-175b", "mt-nlg-530b", "megatron-1t", "llama2-7b", "llama2-13b", "llama2-70b", "llama3-8b",
              "llama3-70b", "llama3.1-405b", "mixtral-8x7b", "mixtral-8x22b", "grok-1", "deepseek-v3",
              "qwen3-30b-a3b", "qwen3-235b-a22b", "gpt-oss-120b", "nemotron4-15b", "nemotron4-340b",
              "gpt4-moe-1.8t"}
    clusters = {"colossus", "colossus-2", "abilene", "gpt4-a100", "meta-llama3-roce", "meta-llama3-ib", "eos",
                "selene"}
    assert gpus <= set(catalog.ids("gpus"))
    assert models <= set(catalog.ids("models"))
    assert clusters <= set(catalog.ids("clusters"))
    assert {"gb200-nvl72", "gb300-nvl72", "hgx-h100"} <= set(catalog.ids("scaleups"))
    assert {"ib-ndr", "ib-xdr", "spectrum-x"} <= set(catalog.ids("fabrics"))


def test_published_figures_read_from_datasheets() -> None:
    h100 = resolve.gpu("h100-sxm")
    assert h100.peak("bf16") == pytest.approx(989.4, rel=1e-3)
    assert h100.peak("fp8") == pytest.approx(1978.9, rel=1e-3)
    assert h100.peak("fp8-rowwise") == h100.peak("fp8")
    assert h100.hbm_gb == 80 and h100.tdp_w == 700
    a100 = resolve.gpu("a100-sxm-80gb")
    assert a100.peak("bf16") == pytest.approx(312)
    gpt3 = resolve.model("gpt3-175b")
    assert (gpt3.layers, gpt3.hidden, gpt3.heads) == (96, 12288, 96)


def test_estimates_are_flagged_in_provenance() -> None:
    prov = catalog.provenance("gpus", "h100-sxm")
    assert prov["price_usd"].estimate is True
    assert prov["tdp_w"].estimate is False
    assert "datasheet" in prov["tdp_w"].source.lower()


def test_unsourced_number_is_a_catalog_bug() -> None:
    prov: dict = {}
    with pytest.raises(CatalogError, match="no source"):
        catalog._unwrap({"x": 3}, "", None, prov, "test")
    assert catalog._unwrap({"x": {"value": 3, "source": "s", "estimate": True}}, "", None, prov, "t") == {"x": 3}
    assert prov["x"].estimate
