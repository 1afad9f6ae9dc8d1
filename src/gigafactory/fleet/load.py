"""The electrical load of a running job, as the waveform and the site see it, and the power constants.

``LoadModel`` holds per-GPU board draw by step phase plus the non-GPU load (hosts, switches, optics,
storage), all IT watts, and the facility's losses and PUE; :mod:`.power` builds it from the budget
tree, :mod:`.waveform` turns it into power over time, :mod:`.site` checks it against the supply.
Constants and their sources are in catalog/power.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from .. import catalog

PHASES = ("compute", "host", "tp", "cp", "ep", "pp", "dp", "bubble", "optimizer")


@cache
def consts(name: str) -> dict[str, Any]:
    """One entry of catalog/power.yaml (plain values)."""
    return catalog.entry("power", name)


@dataclass(frozen=True)
class LoadModel:
    """What the waveform needs: per-GPU draw by phase plus the non-GPU load, all IT watts."""

    num_gpus: int
    gpu_phase_w: dict[str, float]  # board draw per GPU in each phase (cap applied)
    gpu_idle_w: float
    gpu_floor_w: float  # board draw under GPU power smoothing's floor (0: no smoothing)
    gpu_ramp_w_per_s: float | None  # smoothing ramp limit per GPU (None: none)
    other_active_w: float  # hosts, switches, optics, storage while the job runs
    other_idle_w: float  # the same while the job is down
    loss_frac: float  # distribution losses: follow the IT load instantly
    pue: float

    def gpu_w(self, phase: str) -> float:
        return self.gpu_phase_w.get(phase, self.gpu_phase_w["other"])

    def it_w(self, phase: str) -> float:
        return self.num_gpus * max(self.gpu_w(phase), self.gpu_floor_w) + self.other_active_w

    @property
    def it_idle_w(self) -> float:
        return self.num_gpus * self.gpu_idle_w + self.other_idle_w

    def facility_w(self, it_inst_w: Any, it_mean_w: float) -> Any:
        """Instantaneous facility power: losses follow the load, cooling/misc follow its mean."""
        return it_inst_w * (1.0 + self.loss_frac) + (self.pue - 1.0 - self.loss_frac) * it_mean_w
