"""Immutable, validated types for everything the twin reasons about.

Units are in the field names: ``_gb`` gigabytes (1e9 B), ``_gbs`` GB/s, ``_gbps`` Gb/s, ``_tbps``
TB/s of memory bandwidth, ``_w``/``_kw``/``_mw`` watts, ``_us``/``_ns`` time. Catalog entries are
turned into these types by :mod:`gigafactory.resolve`; users rarely build them by hand.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from .errors import SpecError


def _number(v: Any) -> Any:
    """YAML ``true`` is not the number 1: a boolean where a quantity belongs is an error."""
    if isinstance(v, bool):
        raise ValueError(f"must be a number, not {str(v).lower()}")
    return v


#: an integer / a real quantity: finite (NaN and infinity are refused by ``allow_inf_nan=False``),
#: never a boolean; each field adds its physical range with ``Field(ge=..., le=...)``
Int = Annotated[int, BeforeValidator(_number)]
Real = Annotated[float, BeforeValidator(_number)]

# ---------------------------------------------------------------- physical ranges of the inputs
# Bounds are generous (at least an order of magnitude beyond today's largest systems) so that no
# real design is refused, yet tight enough that every loop and array downstream stays bounded.
#: GPUs in one cluster: the largest announced sites are ~1M GPUs (cluster-facts); the planner holds
#: 4M (2^22) in under 2 s, so that is the ceiling
MAX_GPUS = 4_194_304
#: dense peak per GPU and precision, TFLOP/s: A100 bf16 is 312, B300 nvfp4 ~15,000 (catalog gpus.yaml)
MIN_PEAK_TFLOPS, MAX_PEAK_TFLOPS = 1.0, 100_000.0
#: board power, W: the catalog spans 400-1,400 W; no accelerator board is below 50 W or above 5 kW
MIN_TDP_W, MAX_TDP_W = 50.0, 5_000.0
#: NVLink domain: 8 (HGX) to 72 (NVL72); NVL576 is announced; 2,048 is the ceiling
MAX_DOMAIN_GPUS = 2_048
#: rack power: air ~30 kW, NVL72 132 kW, 1 MW racks are proposed (cluster-facts 1.1)
MAX_RACK_KW = 2_000.0
#: scale-out port speed, Gb/s: 100G to 1.6T today; 3.2T is on roadmaps; 10x that as the ceiling
MAX_PORT_GBPS = 32_000.0
#: NICs per GPU: 1 (rail-optimised) up to the 8 of some dual-plane designs; 16 as the ceiling
MAX_NICS_PER_GPU = 16
#: switching tiers: the fewest that hold MAX_GPUS at radix 64 is 4; 5 as the ceiling
MAX_TIERS = 5
#: checkpoint storage bandwidth, TB/s: the catalog's clusters have ~1-10; 1 GB/s to 1 PB/s
MIN_STORAGE_TBPS, MAX_STORAGE_TBPS = 1e-3, 1_000.0
#: transformer shape: published models have <= 128 layers, hidden <= 25,600, ffn <= 73,728,
#: vocab <= 256k, <= 384 experts (catalog models.yaml); ceilings ~8x beyond
MAX_LAYERS = 1_024
MAX_WIDTH = 262_144  # hidden, ffn, expert_ffn, MLA ranks
MAX_HEADS = 4_096
MAX_HEAD_DIM = 4_096
MAX_VOCAB = 4_194_304
MAX_EXPERTS = 4_096
MAX_TOP_K = 256
MAX_PARAMS_B = 1_000_000.0  # 1,000T parameters
#: sequence length: beyond any trained context (4M tokens)
MAX_SEQ = 4 * 1024 * 1024
#: global batch, sequences: Llama 3 405B used 2,048 x 8k; 2^20 sequences is the ceiling
MAX_GLOBAL_BATCH = 1_048_576
#: training tokens: today's largest runs are ~40T (4e13); 1e6 tokens (less than one step) to 1e15
MIN_TOKENS, MAX_TOKENS = 1e6, 1e15
#: one parallel dimension (tp, pp, cp, ep, etp), and micro-batch size
MAX_PARALLEL = 4_096
MAX_VPP = 128
#: policies: checkpoint intervals of a second to 30 days; restarts of a second to 30 days
MIN_INTERVAL_MIN, MAX_INTERVAL_MIN = 1.0 / 60.0, 43_200.0
MAX_RESTART_MIN = 43_200.0
MAX_TRIALS = 100_000
MAX_SEED = 2**63 - 1
#: site power: the largest planned campuses are a few GW; 100 GW as the ceiling
MAX_SITE_MW = 100_000.0
#: unit prices, USD
MAX_GPU_PRICE_USD = 10_000_000.0
MAX_ENERGY_PRICE = 100_000.0  # $/MWh or $/MMBtu
#: failure-free compute of one run, days: today's largest runs take ~100 days; ten years is no plan
MAX_RUN_DAYS = 3_650.0

Precision = Literal["bf16", "fp16", "fp8", "fp8-rowwise", "mxfp8", "nvfp4"]
PRECISIONS: tuple[str, ...] = ("bf16", "fp16", "fp8", "fp8-rowwise", "mxfp8", "nvfp4")
#: which dense peak a precision runs at (fp8 recipes share the fp8 tensor-core peak)
PEAK_KEY = {"bf16": "bf16", "fp16": "bf16", "fp8": "fp8", "fp8-rowwise": "fp8", "mxfp8": "mxfp8", "nvfp4": "nvfp4"}
Recompute = Literal["none", "selective", "full"]
#: pipeline schedules: 1F1B (Narayanan et al. 2021), interleaved 1F1B (vpp > 1), zero-bubble ZB-H1 and
#: ZB-V (Qi et al. 2024), DualPipe and DualPipeV (DeepSeek-AI 2024, DeepSeek-V3 report sec. 3.2.1)
Schedule = Literal["1f1b", "interleaved", "zb-h1", "zb-v", "dualpipe", "dualpipev"]
SCHEDULES: tuple[str, ...] = ("1f1b", "interleaved", "zb-h1", "zb-v", "dualpipe", "dualpipev")
#: Megatron-LM --cp-comm-type: ring of K/V point-to-point exchanges, all-to-all (Ulysses), all-gather of K/V
CpCommType = Literal["p2p", "a2a", "allgather"]
CP_COMM_TYPES: tuple[str, ...] = ("p2p", "a2a", "allgather")
#: MoE token dispatchers: Megatron --moe-token-dispatcher-type alltoall / allgather, flex = DeepEP
Dispatcher = Literal["alltoall", "allgather", "flex"]
#: which parts of each iteration replay as CUDA graphs (Megatron-Core CudaGraphScope): "attn+moe_router" is
#: --cuda-graph-impl transformer_engine --cuda-graph-scope attn moe_router moe_preprocess (attn alone on a
#: dense model); "moe_router" is moe_router moe_preprocess; "attn"; "mlp" the dense layers' MLP blocks;
#: "layer" is each whole layer as one graph (--cuda-graph-impl transformer_engine with no scope; an MoE layer
#: only under capacity routing); "full_iteration" is --cuda-graph-impl local --cuda-graph-scope
#: full_iteration, the whole forward and backward as one graph
GraphScope = Literal["attn+moe_router", "moe_router", "attn", "mlp", "layer", "full_iteration"]
DISPATCHERS: tuple[str, ...] = ("alltoall", "allgather", "flex")
#: the training stack a job runs on: it decides kernels (Transformer Engine vs SDPA), schedules, exports
Framework = Literal["megatron", "nemo", "torchtitan", "other"]
FRAMEWORKS: tuple[str, ...] = ("megatron", "nemo", "torchtitan", "other")
#: MoE routing as run: dropless (the dispatcher syncs on the token counts; the busiest expert carries
#: the router's imbalance), capacity (tokens beyond a capacity factor are dropped: no sync, bounded
#: load), force-balanced (benchmarks: every expert gets the mean, dropless)
MoeRouting = Literal["dropless", "capacity", "force-balanced"]
MOE_ROUTINGS: tuple[str, ...] = ("dropless", "capacity", "force-balanced")
Cooling = Literal["air", "rear-door", "direct-liquid", "immersion"]


class Spec(BaseModel):
    """Base: frozen, unknown fields rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, str_max_length=4_000)

    source: str | None = Field(default=None, description="primary source of the entry")
    sources: dict[str, str] | None = Field(default=None, description="extra sources by topic")
    note: str | None = None


class Gpu(Spec):
    id: str
    name: str
    family: Literal["ampere", "hopper", "blackwell", "blackwell-ultra"]
    peak_tflops: dict[str, Annotated[Real, Field(ge=MIN_PEAK_TFLOPS, le=MAX_PEAK_TFLOPS)]] = Field(
        max_length=8, description="dense tensor-core peak per precision")
    hbm_gb: Real = Field(ge=1.0, le=100_000.0, description="HBM capacity (catalog: 40-288 GB)")
    hbm_tbps: Real = Field(ge=0.1, le=1_000.0, description="HBM bandwidth (catalog: 1.6-8 TB/s)")
    nvlink_gbs: Real = Field(ge=1.0, le=100_000.0, description="NVLink bandwidth per GPU, both directions, as quoted")
    host_link_gbs: Real | None = Field(default=None, ge=1.0, le=10_000.0, description="GPU to host-memory link, "
                                       "GB/s per direction (PCIe, NVLink-C2C); None: unknown, no activation offload")
    tdp_w: Real = Field(ge=MIN_TDP_W, le=MAX_TDP_W)
    idle_w: Real = Field(ge=1.0, le=MAX_TDP_W, description="board draw at idle, below tdp_w")
    power_cap_w: Real | None = Field(default=None, ge=1.0, le=MAX_TDP_W, description="board power limit if capped")
    price_usd: Real = Field(ge=100.0, le=MAX_GPU_PRICE_USD)

    @model_validator(mode="after")
    def _check(self) -> Gpu:
        if "bf16" not in self.peak_tflops:
            raise ValueError("peak_tflops must list bf16")
        bad = [k for k in self.peak_tflops if k not in ("bf16", "fp8", "mxfp8", "nvfp4")]
        if bad:
            raise ValueError(f"peak_tflops has unknown precision {bad[0]!r} (allowed: bf16, fp8, mxfp8, nvfp4)")
        if self.idle_w >= self.tdp_w:
            raise ValueError(f"idle_w={self.idle_w:g} W must be below tdp_w={self.tdp_w:g} W (idle draw under peak)")
        if self.power_cap_w is not None and not (self.idle_w < self.power_cap_w <= self.tdp_w):
            raise ValueError(
                f"power_cap_w={self.power_cap_w:g} must be above idle ({self.idle_w:g} W) "
                f"and at most the TDP ({self.tdp_w:g} W)"
            )
        return self

    @property
    def board_power_w(self) -> float:
        """Board power limit in force: the cap if set, else TDP."""
        return self.power_cap_w if self.power_cap_w is not None else self.tdp_w

    def peak(self, precision: str) -> float:
        """Dense peak TFLOP/s for a precision; unsupported precisions raise a clear error."""
        key = PEAK_KEY.get(precision)
        if key is None:
            raise SpecError("precision", f"unknown precision {precision!r}", allowed=PRECISIONS)
        if key not in self.peak_tflops:
            raise SpecError(
                "precision",
                f"{self.id} has no {precision} tensor cores",
                allowed=[p for p, k in PEAK_KEY.items() if k in self.peak_tflops],
            )
        return self.peak_tflops[key]


class ScaleUp(Spec):
    """An NVLink domain: the GPUs that share NVSwitch bandwidth (an 8-GPU board or an NVL72 rack)."""

    id: str
    name: str
    gpus_per_domain: Int = Field(ge=1, le=MAX_DOMAIN_GPUS)
    gpus_per_server: Int = Field(ge=1, le=MAX_DOMAIN_GPUS)
    servers_per_rack: Int = Field(ge=1, le=1_024, description="limited by rack_limit_kw (checked with the GPU)")
    bw_gbs: Real = Field(ge=1.0, le=100_000.0, description="NVLink bandwidth per GPU per direction")
    latency_us: Real = Field(ge=0.01, le=1_000.0)
    nvswitch_chips: Int = Field(ge=0, le=1_024, description="NVSwitch ASICs per domain")
    nvswitch_w: Real = Field(ge=0, le=10_000.0, description="power per NVSwitch ASIC (or tray share)")
    server_overhead_w: Real = Field(
        ge=1.0, le=100_000.0, description="server power besides GPUs: CPUs, memory, NICs, fans, PSU losses"
    )
    rack_limit_kw: Real = Field(ge=1.0, le=MAX_RACK_KW, description="rack power/cooling limit")
    gpus: list[str] = Field(description="GPU ids this platform carries")

    @model_validator(mode="after")
    def _check(self) -> ScaleUp:
        if self.gpus_per_domain % self.gpus_per_server and self.gpus_per_server % self.gpus_per_domain:
            raise ValueError("gpus_per_domain and gpus_per_server must divide one another")
        return self

    @property
    def gpus_per_rack(self) -> int:
        return self.gpus_per_server * self.servers_per_rack


class Fabric(Spec):
    """A scale-out network technology: NICs, switches and optics."""

    id: str
    name: str
    kind: Literal["infiniband", "ethernet"]
    port_gbps: Real = Field(ge=1.0, le=MAX_PORT_GBPS, description="NIC/switch port speed")
    switch_radix: Int = Field(ge=4, le=2_048, description="switch ports at port_gbps (catalog: 40-144); "
                              "a fat tree needs k/2 >= 2 to grow")
    hop_latency_ns: Real = Field(ge=1.0, le=1_000_000.0)
    nic_latency_us: Real = Field(ge=0.01, le=10_000.0)
    switch_w: Real = Field(ge=1.0, le=100_000.0)
    optic_w: Real = Field(ge=0.01, le=1_000.0, description="power of one transceiver at port speed")
    nic_w: Real = Field(ge=0.1, le=10_000.0)
    adaptive_routing: bool = False
    sharp: bool = False


class Cluster(Spec):
    id: str
    name: str
    gpu: Gpu
    num_gpus: Int = Field(ge=1, le=MAX_GPUS)
    scale_up: ScaleUp
    fabric: Fabric
    nics_per_gpu: Int = Field(default=1, ge=1, le=MAX_NICS_PER_GPU)
    nic_gbps: Real | None = Field(default=None, ge=1.0, le=MAX_PORT_GBPS,
                                  description="defaults to the fabric's port speed")
    tiers: Int | None = Field(default=None, ge=1, le=MAX_TIERS, description="None: the fewest that fit")
    oversubscription: Real = Field(default=1.0, ge=1.0, le=64.0, description="top-tier oversubscription ratio")
    rail_optimized: bool = True
    pod_gpus: Int | None = Field(default=None, ge=1, le=MAX_GPUS)
    storage_tbps: Real = Field(ge=MIN_STORAGE_TBPS, le=MAX_STORAGE_TBPS,
                               description="checkpoint storage bandwidth, TB/s")
    cooling: Cooling
    site: str | None = None
    owner: str | None = None

    @model_validator(mode="after")
    def _check(self) -> Cluster:
        su = self.scale_up
        if self.gpu.id not in su.gpus:
            raise ValueError(
                f"GPU {self.gpu.id!r} does not fit the {su.id} platform (it carries: {', '.join(su.gpus)})"
            )
        if self.num_gpus % su.gpus_per_server:
            raise ValueError(
                f"num_gpus={self.num_gpus} is not a whole number of {su.gpus_per_server}-GPU "
                f"{su.name} servers (try {self.num_gpus // su.gpus_per_server * su.gpus_per_server or su.gpus_per_server})"
            )
        if self.num_gpus >= su.gpus_per_domain and self.num_gpus % su.gpus_per_domain:
            raise ValueError(
                f"num_gpus={self.num_gpus} is not a whole number of {su.gpus_per_domain}-GPU NVLink domains"
            )
        rack_kw = su.servers_per_rack * (su.gpus_per_server * self.gpu.board_power_w + su.server_overhead_w) / 1e3
        if rack_kw > su.rack_limit_kw * (1.0 + 1e-9):
            fit = int(su.rack_limit_kw * 1e3 // (su.gpus_per_server * self.gpu.board_power_w + su.server_overhead_w))
            raise ValueError(
                f"scale_up.servers_per_rack={su.servers_per_rack} draws {rack_kw:,.0f} kW per rack, over the "
                f"rack limit of {su.rack_limit_kw:g} kW (at most {max(fit, 1)} servers fit)"
            )
        return self

    @property
    def nic_speed_gbps(self) -> float:
        return self.nic_gbps if self.nic_gbps is not None else self.fabric.port_gbps

    @property
    def scale_out_gbs_per_gpu(self) -> float:
        """Scale-out bandwidth per GPU per direction, GB/s."""
        return self.nics_per_gpu * self.nic_speed_gbps / 8.0

    @property
    def domain_size(self) -> int:
        return min(self.scale_up.gpus_per_domain, self.num_gpus)

    @property
    def num_servers(self) -> int:
        return self.num_gpus // self.scale_up.gpus_per_server

    @property
    def num_racks(self) -> int:
        return -(-self.num_servers // self.scale_up.servers_per_rack)


class GenerationUnit(Spec):
    kind: Literal["gas-turbine", "reciprocating-engine", "fuel-cell", "diesel"]
    count: Int = Field(ge=0, le=10_000)
    mw_each: Real = Field(ge=0.01, le=5_000.0)
    ramp_mw_per_min: Real = Field(ge=0.001, le=10_000.0, description="ramp rate of one unit")
    min_load_frac: Real = Field(ge=0, le=1)
    heat_rate_btu_per_kwh: Real = Field(ge=3_412.0, le=100_000.0, description="3,412 Btu/kWh is 100% efficiency")
    co2_kg_per_mmbtu: Real = Field(ge=0.001, le=1_000.0)
    fuel_usd_per_mmbtu: Real = Field(ge=0.001, le=MAX_ENERGY_PRICE)

    @property
    def mw(self) -> float:
        return self.count * self.mw_each


class Battery(Spec):
    mw: Real = Field(ge=0, le=MAX_SITE_MW, description="power; 0 means no battery")
    mwh: Real = Field(ge=0, le=100 * MAX_SITE_MW, description="energy; 0 means no battery")
    round_trip_eff: Real = Field(gt=0, le=1)


class Buildings(Spec):
    """The halls of a site: identical buildings, each with its floor, rack positions and cooling plant."""

    count: Int = Field(ge=1, le=1_000, description="buildings on the site")
    floor_m2: Real = Field(ge=1.0, le=10_000_000.0, description="white space (data-hall floor) of one building, m^2")
    rack_positions: Int = Field(ge=1, le=1_000_000, description="rack positions one building is fitted out for")
    cooling_mw: Real = Field(ge=0.001, le=MAX_SITE_MW, description="IT heat the cooling plant of one building removes, MW")
    feed_mw: Real | None = Field(default=None, ge=0.001, le=MAX_SITE_MW,
                                 description="electrical feed of one building, facility MW")
    start_days: list[Real] | None = Field(max_length=1_000,
        default=None, description="day each building's build starts, from the first (one schedule per "
        "building); None: all start on day 0")

    @model_validator(mode="after")
    def _check(self) -> Buildings:
        if self.start_days is not None:
            if len(self.start_days) != self.count:
                raise ValueError(f"start_days lists {len(self.start_days)} days for {self.count} buildings")
            if any(d < 0 for d in self.start_days):
                raise ValueError("start_days must be 0 or later")
        return self

    def start_day(self, b: int) -> float:
        return float(self.start_days[b]) if self.start_days else 0.0


class Site(Spec):
    id: str
    name: str
    location: str
    grid_mw: Real = Field(ge=0, le=MAX_SITE_MW)
    generation: list[GenerationUnit] = Field(default_factory=list, max_length=64)
    battery: Battery | None = None
    pue: Real = Field(ge=1.0, le=3.0)
    electricity_usd_per_mwh: Real = Field(ge=0.01, le=MAX_ENERGY_PRICE)
    building: str | None = None
    buildings: Buildings | None = Field(default=None, description="halls: floor, racks, cooling; None: not modelled")

    @field_validator("battery")
    @classmethod
    def _no_empty_battery(cls, v: Battery | None) -> Battery | None:
        """A battery of size 0 (MW or MWh) is no battery."""
        return None if v is not None and (v.mw == 0 or v.mwh == 0) else v

    @property
    def generation_mw(self) -> float:
        return sum(g.mw for g in self.generation)

    @property
    def firm_supply_mw(self) -> float:
        """Grid import plus on-site generation (batteries only buffer)."""
        return self.grid_mw + self.generation_mw


class Moe(Spec):
    experts: Int = Field(ge=1, le=MAX_EXPERTS)
    top_k: Int = Field(ge=1, le=MAX_TOP_K)
    shared_experts: Int = Field(default=0, ge=0, le=MAX_TOP_K)
    expert_ffn: Int = Field(ge=1, le=MAX_WIDTH)
    dense_layers: Int = Field(default=0, ge=0, le=MAX_LAYERS, description="leading layers with a dense MLP")
    dense_ffn: Int | None = Field(default=None, ge=1, le=MAX_WIDTH, description="ffn of dense layers; default: model ffn")
    layer_freq: Int = Field(default=1, ge=1, le=MAX_LAYERS, description="every k-th layer (after dense ones) is MoE")

    @model_validator(mode="after")
    def _check(self) -> Moe:
        if self.top_k > self.experts:
            raise ValueError(f"top_k={self.top_k} exceeds experts={self.experts}")
        return self


class Mla(Spec):
    """DeepSeek multi-head latent attention dimensions."""

    q_lora_rank: Int | None = Field(default=None, ge=1, le=MAX_WIDTH)
    kv_lora_rank: Int = Field(ge=1, le=MAX_WIDTH)
    qk_nope_head_dim: Int = Field(ge=1, le=MAX_HEAD_DIM)
    qk_rope_head_dim: Int = Field(ge=1, le=MAX_HEAD_DIM)
    v_head_dim: Int = Field(ge=1, le=MAX_HEAD_DIM)


class Model(Spec):
    id: str
    name: str
    layers: Int = Field(ge=1, le=MAX_LAYERS)
    hidden: Int = Field(ge=1, le=MAX_WIDTH)
    heads: Int = Field(ge=1, le=MAX_HEADS)
    kv_heads: Int = Field(ge=1, le=MAX_HEADS)
    head_dim: Int = Field(ge=1, le=MAX_HEAD_DIM)
    ffn: Int = Field(ge=1, le=MAX_WIDTH, description="dense MLP intermediate size (gated size for SwiGLU)")
    mlp: Literal["gated", "plain"]
    activation: Literal["gelu", "swiglu", "geglu", "squared-relu", "relu"]
    vocab: Int = Field(ge=1, le=MAX_VOCAB)
    tied_embeddings: bool = False
    max_seq: Int = Field(ge=1, le=MAX_SEQ)
    moe: Moe | None = None
    mla: Mla | None = None
    sliding_window: Int | None = Field(default=None, ge=1, le=MAX_SEQ, description="banded (sliding-window) "
                                       "attention span in tokens; None: every layer attends to the whole context")
    full_attention_every: Int = Field(default=1, ge=1, le=MAX_LAYERS, description="with a sliding window: one "
                                      "layer in this many keeps full attention (gpt-oss: 2, alternating)")
    rope_base: Real | None = Field(default=None, ge=1.0, le=1e10, description="RoPE base (theta); None: learned "
                                   "positions (GPT-style) or not published")
    rope_scaling: Real | None = Field(default=None, gt=0, le=1_000.0,
                                      description="Llama 3.1 RoPE frequency scaling factor")
    norm_eps: Real | None = Field(default=None, gt=0, le=1.0, description="normalization epsilon")
    params_b: Real = Field(ge=1e-6, le=MAX_PARAMS_B, description="total parameters as published, billions")
    active_params_b: Real | None = Field(default=None, ge=1e-6, le=MAX_PARAMS_B)
    estimate: bool = False

    @model_validator(mode="after")
    def _check(self) -> Model:
        if self.heads % self.kv_heads:
            raise ValueError(f"heads={self.heads} is not a multiple of kv_heads={self.kv_heads}")
        if self.moe and self.moe.dense_layers > self.layers:
            raise ValueError("moe.dense_layers exceeds layers")
        return self


class Job(Spec):
    model: Model
    tokens: Real = Field(ge=MIN_TOKENS, le=MAX_TOKENS, description="training tokens")
    seq_len: Int = Field(ge=1, le=MAX_SEQ)
    global_batch: Int = Field(ge=1, le=MAX_GLOBAL_BATCH, description="sequences per optimizer step")
    precision: Precision = "bf16"
    framework: Framework = Field(default="megatron", description="training stack: megatron (Megatron-LM / "
                                 "Megatron-Core with Transformer Engine), nemo, torchtitan, other (FlashAttention-2, eager)")
    moe_routing: MoeRouting = Field(default="dropless", description="MoE routing: dropless, capacity (token "
                                    "dropping), force-balanced (benchmarks)")

    @model_validator(mode="after")
    def _check(self) -> Job:
        if self.seq_len > MAX_SEQ:
            raise ValueError(f"seq_len={self.seq_len} is beyond any trained context (max {MAX_SEQ:,})")
        return self

    @property
    def tokens_per_step(self) -> int:
        return self.global_batch * self.seq_len

    @property
    def steps(self) -> float:
        return self.tokens / self.tokens_per_step


class Plan(Spec):
    """A parallel layout of a job. Megatron conventions: tp*pp*cp*dp = GPUs, ep divides dp*cp."""

    tp: Int = Field(default=1, ge=1, le=MAX_PARALLEL)
    pp: Int = Field(default=1, ge=1, le=MAX_PARALLEL)
    vpp: Int = Field(default=1, ge=1, le=MAX_VPP)
    cp: Int = Field(default=1, ge=1, le=MAX_PARALLEL)
    ep: Int = Field(default=1, ge=1, le=MAX_PARALLEL)
    dp: Int = Field(default=1, ge=1, le=MAX_GPUS)
    mbs: Int = Field(default=1, ge=1, le=MAX_GLOBAL_BATCH)
    recompute: Recompute = "none"
    zero: Literal[0, 1, 2, 3] = Field(default=1, description="0 DDP, 1 distributed optimizer, 2, 3 FSDP")
    sequence_parallel: bool = True
    tp_comm_overlap: bool = False
    ep_comm_overlap: bool = Field(default=False, description="hide the MoE all-to-all behind another micro-batch's "
                                  "compute (Megatron --overlap-moe-expert-parallel-comm, DeepSeek's DualPipe)")
    etp: Int = Field(default=1, ge=1, le=MAX_PARALLEL, description="expert tensor parallel size (Megatron "
                             "--expert-tensor-parallel-size); experts are split over etp x ep GPUs")
    schedule: Schedule = Field(default="1f1b", description="pipeline schedule; vpp > 1 means interleaved")
    cp_comm_type: CpCommType = Field(default="p2p", description="context-parallel exchange (Megatron --cp-comm-type)")
    moe_dispatcher: Dispatcher = Field(default="alltoall", description="MoE token dispatcher "
                                       "(Megatron --moe-token-dispatcher-type; flex = DeepEP)")
    compile: bool = Field(default=False, description="torch.compile fuses memory-bound ops (torchtitan --compile)")
    cuda_graphs: bool = Field(default=False, description="each layer's static scopes (attention block, MoE router "
                              "and preprocessing) replay as CUDA graphs (Megatron --cuda-graph-impl transformer_engine "
                              "--cuda-graph-scope attn moe_router moe_preprocess, or the scope below); not with "
                              "full recompute unless the whole iteration is one graph")
    cuda_graph_scope: GraphScope = Field(default="attn+moe_router", description="what the CUDA graphs capture "
                                         "when cuda_graphs is on (Megatron --cuda-graph-scope; full_iteration "
                                         "with --cuda-graph-impl local)")
    offload_layers: Int = Field(default=0, ge=0, le=MAX_LAYERS, description="layers whose activations go to host "
                                "memory in the forward and come back for the backward (Megatron --cpu-offloading "
                                "--cpu-offloading-num-layers); without PP or recompute, fewer than the model's layers")

    @model_validator(mode="before")
    @classmethod
    def _schedule(cls, data):
        """vpp > 1 with the default schedule is interleaved 1F1B; interleaved with vpp = 1 is plain 1F1B."""
        if isinstance(data, dict):
            vpp = data.get("vpp", 1)
            sched = data.get("schedule", "1f1b")
            if isinstance(vpp, int) and not isinstance(vpp, bool):
                if vpp > 1 and sched == "1f1b":
                    data = {**data, "schedule": "interleaved"}
                elif vpp == 1 and sched == "interleaved":
                    data = {**data, "schedule": "1f1b"}
        return data

    @property
    def gpus(self) -> int:
        return self.tp * self.pp * self.cp * self.dp


class Policies(Spec):
    """Operating choices for a run: reliability, checkpoints, seeds."""

    reliability_profile: str = "llama3-405b"
    checkpoint_interval_min: Real | None = Field(default=None, ge=MIN_INTERVAL_MIN, le=MAX_INTERVAL_MIN,
                                                 description="None: optimal")
    async_checkpoint: bool = True
    hot_spares: bool = True
    restart_min: Real | None = Field(default=None, ge=1.0 / 60.0, le=MAX_RESTART_MIN,
                                     description="None: the profile's")
    burn_in: bool = Field(default=False, description="new cluster: early-life hardware failure excess")
    trials: Int = Field(default=200, ge=1, le=MAX_TRIALS)
    seed: Int = Field(default=0, ge=0, le=MAX_SEED)
    build_profile: str = "colossus-fast"
    power_smoothing: bool = False


CapacityMode = Literal["owned", "rented"]
CAPACITY_MODES: tuple[str, ...] = ("owned", "rented")
RentalTerm = Literal["reserved", "on-demand"]


class Capacity(Spec):
    """Who provides the GPUs. ``owned``: built on the site (build, bring-up, capex). ``rented``: a cloud
    contract; the whole cluster is ready ``ready_days`` after signature, billed per GPU-hour, no capex."""

    mode: CapacityMode = "owned"
    provider: str | None = Field(default=None, description="the cloud renting the capacity")
    term: RentalTerm = Field(default="reserved", description="rental rate: reserved contract or on-demand")
    ready_days: Real = Field(default=0.0, ge=0, le=3650, description="days from contract signature to capacity ready")
    contract_years: Real | None = Field(default=None, gt=0, le=30, description="contract length billed in full; "
                                                 "None: only the hours of the run")

    @model_validator(mode="after")
    def _check(self) -> Capacity:
        if self.mode == "owned" and (self.provider or self.contract_years or self.ready_days):
            raise ValueError("provider, ready_days and contract_years apply to capacity.mode=rented only "
                             "(to own a rented scenario's GPUs set the whole mapping: --set 'capacity={mode: owned}')")
        return self


class Scenario(Spec):
    name: str
    description: str = ""
    site: Site
    cluster: Cluster
    job: Job
    plan: Plan | None = Field(default=None, description="None: the planner picks the best")
    policies: Policies = Field(default_factory=Policies)
    capacity: Capacity = Field(default_factory=Capacity)
