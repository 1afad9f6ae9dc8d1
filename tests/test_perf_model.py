"""Hand-computed values of the step model: parameters, FLOPs, collectives, bubble, activations."""

from __future__ import annotations

import pytest

from gigafactory.perf.memory import activation_bytes_per_token
from gigafactory.perf.params import (
    active_params,
    arch,
    hardware_flops_per_token,
    model_flops_per_token,
    total_params,
)
from gigafactory.perf.schedules import bubble_fraction
from gigafactory.resolve import model

GPT3 = dict(l=96, h=12288, s=2048, V=50257)


def test_gpt3_parameter_count() -> None:
    # 12 l h^2 + 13 l h + V h + s h (learned positions) + 2 h (final LayerNorm) = 174,604,259,328
    assert total_params(model("gpt3-175b")) == 174_604_259_328
    assert active_params(model("gpt3-175b")) == total_params(model("gpt3-175b"))


def test_gpt3_flops_per_token_match_narayanan() -> None:
    m, g = model("gpt3-175b"), GPT3
    L, h, s, V = g["l"], g["h"], g["s"], g["V"]
    # model FLOPs, full score matrix: 72 l h^2 (1 + s/6h + V/12lh) = 1.07637e12 per token
    assert model_flops_per_token(m, s, causal=False) == pytest.approx(1_076_373_430_272, rel=1e-12)
    assert model_flops_per_token(m, s, causal=False) == pytest.approx(72 * L * h * h * (1 + s / (6 * h) + V / (12 * L * h)))
    # with full recompute (Narayanan et al. 2021 eq. 3): 96 l h^2 (1 + s/6h + V/16lh)
    assert hardware_flops_per_token(m, s, "full") == pytest.approx(1_433_929_457_664, rel=1e-12)
    # causal attention (current Megatron-LM): the 12 s h l term halves
    assert model_flops_per_token(m, s, True) == pytest.approx(1_076_373_430_272 - 6 * s * h * L)


def test_moe_active_parameters_match_published() -> None:
    assert active_params(model("deepseek-v3")) / 1e9 == pytest.approx(37.5, abs=0.6)
    assert total_params(model("deepseek-v3")) / 1e9 == pytest.approx(671, abs=1)
    assert active_params(model("mixtral-8x7b")) / 1e9 == pytest.approx(12.9, abs=0.1)


def test_pipeline_bubble() -> None:
    assert float(bubble_fraction(8, 32)) == pytest.approx(7 / 32)  # 1F1B: (p-1)/m
    assert float(bubble_fraction(8, 32, 4)) == pytest.approx(7 / 128)  # interleaved: (p-1)/(v m)


def test_korthikanti_activation_memory_gpt3() -> None:
    a, s, h, t = arch(model("gpt3-175b")), 2048, 12288, 8
    # Korthikanti et al. 2022, Table 2: s b h (34/t + 5 a s/(h t)) with sequence parallelism
    none = float(activation_bytes_per_token(a, t, 1, 0, False, s)) * s
    assert none == pytest.approx(358_612_992)
    assert float(activation_bytes_per_token(a, t, 1, 1, False, s)) * s == pytest.approx(s * h * 34 / t)
    assert float(activation_bytes_per_token(a, t, 1, 2, False, s)) * s == pytest.approx(2 * s * h / t)
    # without sequence parallelism: s b h (10 + 24/t + 5 a s/(h t))
    no_sp = float(activation_bytes_per_token(a, t, 0, 0, False, s)) * s
    assert no_sp == pytest.approx(s * h * (10 + 24 / t + 5 * 96 * s / (h * t)))


def test_partial_full_recompute_interpolates() -> None:
    a, s = arch(model("llama3-70b")), 8192
    none, full = (float(activation_bytes_per_token(a, 1, 1, rc, True, s)) for rc in (0, 2))
    half = float(activation_bytes_per_token(a, 1, 1, 2, True, s, rcf=0.5))
    assert half == pytest.approx((none + full) / 2)


def test_transformer_engine_keeps_low_precision_gemm_inputs_column_wise_only() -> None:
    """Llama 3 70B (h 8192, 64 query heads of 128, 8 KV heads, SwiGLU ffn 28672), TP 4 with SP, no
    recompute, bytes per token and layer. bf16: (8h)/4 + (2q + 4kv + 2q + 2*2*ffn + 2ffn)/4 = 68,608.
    Per-tensor fp8 on Megatron: the SP-gathered norm outputs keep both copies (2 B), the attention output
    adds the projection's 1-byte copy, FC2's input is 1 byte: 16,384 + (16,384 + 4,096 + 24,576 +
    114,688 + 28,672)/4 = 63,488. MXFP8 at TP 1 (1 + 1/32 = 1.03 B per kept input): norm outputs
    2 x 1.03 h each. torchtitan's float8 keeps bf16."""
    a, s = arch(model("llama3-70b")), 8192
    bf16 = float(activation_bytes_per_token(a, 4, 1, 0, True, s))
    assert bf16 == pytest.approx(68_608)
    assert float(activation_bytes_per_token(a, 4, 1, 0, True, s, precision="fp8")) == pytest.approx(63_488)
    h, q, kv, f = 8192, 8192, 1024, 28672
    mx = (4 * h + 2 * 1.03 * h) + (2 * q + 4 * kv + 3.03 * q + 4 * f + 1.03 * f)
    assert float(activation_bytes_per_token(a, 1, 1, 0, True, s, precision="mxfp8")) == pytest.approx(mx)
    assert float(activation_bytes_per_token(a, 4, 1, 0, True, s, precision="fp8", framework="torchtitan")) == bf16
    # NVFP4 all-gathered under SP keeps both copies of the norm outputs (2 x 0.5625 B), the rest 0.5625 B
    nv = (4 * h + 2 * 1.125 * h) / 4 + (2 * q + 4 * kv + 2.5625 * q + 4 * f + 0.5625 * f) / 4
    assert float(activation_bytes_per_token(a, 4, 1, 0, True, s, precision="nvfp4")) == pytest.approx(nv)
    # selective recompute (layernorm, moe_act, core attention kept) still keeps less than none
    sel = float(activation_bytes_per_token(a, 1, 1, 1, True, s, precision="mxfp8"))
    assert sel == pytest.approx(mx - 2 * 1.03 * h)
