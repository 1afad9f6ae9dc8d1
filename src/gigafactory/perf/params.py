"""Parameter counts and FLOP conventions of decoder transformers (dense, GQA, MoE, MLA).

Conventions (per token, forward + backward = 3 x forward):

* model FLOPs (Megatron-LM ``num_floating_point_operations``, NeMo/Megatron-Bridge "model TFLOP/s"):
  ``6 * (matmul weights active per token, LM head included, embedding lookup excluded)`` plus the
  attention core ``6 * 2 * s * heads * (d_qk + d_v) / 2`` per layer. Current Megatron-LM and
  Megatron-Bridge count only the causal half of the score matrix; NeMo 1.x/24.x and Narayanan et
  al. 2021 count the full matrix (``causal=False``), i.e. the familiar ``12 * s * h`` per layer.
* hardware FLOPs (Narayanan et al. 2021, eq. 3, with recompute): model FLOPs plus the recomputed
  forward (full: all layer GEMMs and attention; selective: attention core only).
  For GPT-3 shaped models with full recompute and ``causal=False`` this is exactly
  ``96 B s l h^2 (1 + s/6h + V/16lh)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..specs import Model


@dataclass(frozen=True)
class Arch:
    """Derived dimensions of a model, all plain numbers (used by the vectorised engine)."""

    layers: int
    hidden: int
    heads: int
    kv_heads: int
    d_qk: int  # per-head query/key width
    d_v: int  # per-head value width
    vocab: int
    tied: bool
    gated: bool
    gpt_style: bool  # learned positions, biases and dropout (GPT-2/3 family)
    mla: bool
    p_attn: float  # attention weights per layer (matmuls only)
    q_dim: int  # heads * d_qk
    latent_dim: int  # MLA: q and kv latent widths + rope key (what is kept when up-projections are recomputed)
    kv_dim: int  # width of K (and V) activations stored per token
    dense_layers: int
    moe_layers: int
    ffn_dense: int
    p_mlp_dense: float  # dense MLP weights per layer
    experts: int
    top_k: int
    shared: int
    expert_ffn: int
    p_expert: float  # weights of one routed expert
    p_router: float
    p_small_layer: float  # norms and biases per layer
    p_embed: float  # token (+position) embedding
    p_head: float  # LM head if untied (0 if tied)
    window: int = 0  # sliding-window span of the banded layers, tokens (0: none)
    window_share: float = 0.0  # share of the layers with banded attention

    @property
    def mult(self) -> int:
        return 3 if self.gated else 2

    @property
    def p_moe_mlp_total(self) -> float:
        return self.experts * self.p_expert + self.shared * self.p_expert + self.p_router

    @property
    def p_moe_mlp_active(self) -> float:
        return (self.top_k + self.shared) * self.p_expert


def arch(model: Model) -> Arch:
    h, nh = model.hidden, model.heads
    gated = model.mlp == "gated"
    mult = 3 if gated else 2
    gpt_style = model.activation == "gelu" and not gated
    if model.mla is not None:
        m = model.mla
        d_qk, d_v = m.qk_nope_head_dim + m.qk_rope_head_dim, m.v_head_dim
        q = (h * m.q_lora_rank + m.q_lora_rank * nh * d_qk) if m.q_lora_rank else h * nh * d_qk
        kv = h * (m.kv_lora_rank + m.qk_rope_head_dim) + m.kv_lora_rank * nh * (m.qk_nope_head_dim + d_v)
        p_attn = q + kv + nh * d_v * h
        kv_dim = nh * d_qk  # K after up-projection (V: nh * d_v, close)
        extra_norm = (m.q_lora_rank or 0) + m.kv_lora_rank
        latent = (m.q_lora_rank or h) + m.kv_lora_rank + m.qk_rope_head_dim
    else:
        d_qk = d_v = model.head_dim
        p_attn = h * nh * d_qk + 2 * h * model.kv_heads * d_qk + nh * d_v * h
        kv_dim = model.kv_heads * d_qk
        extra_norm = latent = 0
    L = model.layers
    if model.moe is not None:
        mo = model.moe
        rest = range(mo.dense_layers, L)
        moe_layers = sum(1 for i in rest if (i - mo.dense_layers) % mo.layer_freq == 0)
        dense_layers = L - moe_layers
        ffn_dense = mo.dense_ffn or model.ffn
        experts, top_k, shared, eff = mo.experts, mo.top_k, mo.shared_experts, mo.expert_ffn
    else:
        moe_layers, dense_layers, ffn_dense = 0, L, model.ffn
        experts = top_k = shared = eff = 0
    small = 2 * h + extra_norm
    if gpt_style:  # biases of qkv, proj, fc1, fc2 and LayerNorm betas: 13h for MHA with ffn = 4h
        small = 4 * h + (nh * d_qk + 2 * model.kv_heads * d_qk) + h + ffn_dense + h
    embed = model.vocab * h + (model.max_seq * h if gpt_style else 0)
    return Arch(
        layers=L, hidden=h, heads=nh, kv_heads=model.kv_heads, d_qk=d_qk, d_v=d_v, vocab=model.vocab,
        tied=model.tied_embeddings, gated=gated, gpt_style=gpt_style, mla=model.mla is not None,
        p_attn=float(p_attn), q_dim=nh * d_qk, latent_dim=latent, kv_dim=kv_dim, dense_layers=dense_layers,
        moe_layers=moe_layers, ffn_dense=ffn_dense, p_mlp_dense=float(mult * h * ffn_dense),
        experts=experts, top_k=top_k, shared=shared, expert_ffn=eff, p_expert=float(mult * h * eff),
        p_router=float(h * experts), p_small_layer=float(small), p_embed=float(embed),
        p_head=0.0 if model.tied_embeddings else float(model.vocab * h),
        window=int(model.sliding_window or 0),
        window_share=_banded_share(L, model.sliding_window, model.full_attention_every),
    )


def _banded_share(layers: int, window: int | None, full_every: int) -> float:
    """Share of the layers with sliding-window attention: all but one in every `full_every`."""
    if not window:
        return 0.0
    full = -(-layers // full_every) if full_every > 1 else 0  # layers 0, k, 2k, ... keep full attention
    return (layers - full) / layers


def _layers_params(a: Arch, active: bool) -> float:
    moe = a.p_moe_mlp_active + a.p_router if active else a.p_moe_mlp_total
    return (
        a.layers * (a.p_attn + a.p_small_layer)
        + a.dense_layers * a.p_mlp_dense
        + a.moe_layers * moe
        + (2 if a.gpt_style else 1) * a.hidden  # final norm
    )


def total_params(model: Model) -> float:
    """All parameters (embeddings, every expert, norms, biases)."""
    a = arch(model)
    return _layers_params(a, False) + a.p_embed + a.p_head


def active_params(model: Model) -> float:
    """Parameters touched per token (top-k + shared experts instead of all experts)."""
    a = arch(model)
    return _layers_params(a, True) + a.p_embed + a.p_head


def matmul_params_per_token(model: Model) -> float:
    """Weights multiplied per token: layer GEMMs (active experts) plus the LM head."""
    a = arch(model)
    layer = a.layers * a.p_attn + a.dense_layers * a.p_mlp_dense + a.moe_layers * a.p_moe_mlp_active
    return layer + a.vocab * a.hidden


def attention_flops_per_token(model: Model, seq_len: int, causal: bool = True) -> float:
    """Forward attention-core FLOPs per token, all layers (QK^T and AV)."""
    a = arch(model)
    full = 2.0 * seq_len * a.heads * (a.d_qk + a.d_v) * a.layers
    return full * (0.5 if causal else 1.0)


def model_flops_per_token(model: Model, seq_len: int, causal: bool = True) -> float:
    """Model FLOPs per trained token (forward + backward, no recompute)."""
    return 6.0 * matmul_params_per_token(model) + 3.0 * attention_flops_per_token(model, seq_len, causal)


def hardware_flops_per_token(model: Model, seq_len: int, recompute: str = "full", causal: bool = False) -> float:
    """FLOPs executed per token including recompute (Narayanan et al. 2021 convention by default)."""
    a = arch(model)
    base = model_flops_per_token(model, seq_len, causal)
    attn = attention_flops_per_token(model, seq_len, causal)
    if recompute == "full":
        layer = a.layers * a.p_attn + a.dense_layers * a.p_mlp_dense + a.moe_layers * a.p_moe_mlp_active
        return base + 2.0 * layer + attn
    if recompute == "selective":
        return base + attn
    return base
