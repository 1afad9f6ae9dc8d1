"""Which plans can run at all: divisibility and topology rules of Megatron-LM / torchtitan.

Vectorised: :func:`reject_codes` returns one code per plan (0 = valid); :data:`REASONS` names them.
Memory fit is checked after evaluation (code ``OOM``).
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from ..specs import Cluster, Job
from .columns import code as choice_code
from .frameworks import framework_reject
from .params import arch

_INTERLEAVED, _ZBV, _DUALPIPE, _DUALPIPEV = (choice_code("schedule", s) for s in ("interleaved", "zb-v", "dualpipe", "dualpipev"))
_P2P, _A2A = choice_code("cp_comm_type", "p2p"), choice_code("cp_comm_type", "a2a")
_ALLTOALL = choice_code("moe_dispatcher", "alltoall")


class Reason(IntEnum):
    """Why a plan cannot run; the value is the plan's reject code (0 = valid)."""

    GPUS = 1
    TP_HEADS = 2
    TP_DOMAIN = 3
    BATCH = 4
    STAGES = 5
    INTERLEAVED = 6
    EXPERTS = 7
    CP_SEQ = 8
    OOM = 9
    PRUNED = 10
    SCHEDULE = 11
    ETP = 12
    NO_EFFECT = 13
    NOT_SEARCHED = 14
    FRAMEWORK = 15


REASONS: dict[int, str] = {
    Reason.GPUS: "tp*pp*cp*dp exceeds the GPU count (of plans no other rule rejects)",
    Reason.TP_HEADS: "tp does not divide the attention heads / KV groups",
    Reason.TP_DOMAIN: "tp spans beyond one NVLink domain",
    Reason.BATCH: "global batch is not a multiple of dp x micro-batch",
    Reason.STAGES: "more pipeline stages (pp x vpp) than layers (+2: the first and last stage may hold one layer fewer)",
    Reason.INTERLEAVED: "interleaved schedule needs pp > 1 and micro-batches divisible by pp",
    Reason.EXPERTS: "ep must divide the experts and tp x cp x dp (and be 1 for dense models)",
    Reason.CP_SEQ: "sequence is not divisible by 2 x cp (load-balanced context parallelism)",
    Reason.OOM: "does not fit in GPU memory",
    Reason.PRUNED: "cannot beat the best plans found (matmul FLOPs at peak GEMM efficiency take longer)",
    Reason.SCHEDULE: "schedule does not fit the pipeline (interleaved needs vpp > 1; zb-v, dualpipe(v) need vpp = 1, "
    "pp > 1 and two chunks of layers per stage; dualpipe an even pp and m >= pp)",
    Reason.ETP: "etp must divide tp x cp x dp / ep (and be 1 for dense models)",
    Reason.NO_EFFECT: "option without effect on this plan (cp_comm_type needs cp > 1, a2a needs heads/tp divisible by cp; "
    "a dispatcher other than alltoall needs ep > 1)",
    Reason.NOT_SEARCHED: "not searched: expert tensor parallelism other than 1 or tp (plan --etp asks for it)",
    Reason.FRAMEWORK: "the job's framework cannot launch it (see perf/frameworks.py)",
}
OOM = Reason.OOM
PRUNED = Reason.PRUNED
NOT_SEARCHED = Reason.NOT_SEARCHED


def reject_codes(job: Job, cluster: Cluster, P: dict[str, np.ndarray], tp_cross_domain: bool = False,
                 framework: bool = False, gpu_count: bool = True) -> np.ndarray:
    """One reject code per plan (0 = valid), the first rule it breaks. `framework`: also what the job's
    framework cannot launch (the planner searches only those; ``evaluate`` and ``validate`` judge a plan
    as given). The GPU count is the last rule, and `gpu_count=False` leaves it out: which plans the
    other rules allow does not depend on the cluster's size (the planner reuses them across sizes)."""
    a = arch(job.model)
    tp, pp, v, cp, ep, dp, mbs = (np.asarray(P[k], dtype=np.int64) for k in ("tp", "pp", "vpp", "cp", "ep", "dp", "mbs"))
    shape = np.broadcast(*(np.asarray(x) for x in P.values())).shape  # every column, late ones included
    code = np.zeros(shape, dtype=np.int8)

    def mark(bad, c):
        """Give reason `c` to the plans it makes bad that no earlier reason ruled out."""
        bad = np.asarray(bad)
        if bad.any():  # before broadcasting: a rule over the survivors' own columns costs their size only
            code[np.broadcast_to(bad, shape) & (code == 0)] = c

    mark((a.heads % tp != 0) | (a.kv_heads % tp != 0), 2)
    if not tp_cross_domain:
        mark(tp > cluster.domain_size, 3)
    mark(job.global_batch % (dp * mbs) != 0, 4)
    # the first and last stage may each run one layer short (they also hold the embedding / LM head:
    # Llama 3, Dubey et al. 2024 sec. 3.3.2; Megatron's --account-for-embedding/loss-in-pipeline-split)
    mark(pp * v > a.layers + 2 * (pp > 1), 5)
    m = job.global_batch // np.maximum(dp * mbs, 1)
    mark((v > 1) & ((pp == 1) | (m % pp != 0)), 6)
    if a.moe_layers:
        mark((a.experts % ep != 0) | ((tp * dp * cp) % ep != 0), 7)  # expert TP 1: EP folds over TP x CP x DP
    else:
        mark(ep != 1, 7)
    mark((cp > 1) & (job.seq_len % (2 * cp) != 0), 8)
    # columns a caller leaves out hold their defaults, which no rule below rejects
    if "schedule" in P:
        sched = np.asarray(P["schedule"], dtype=np.int64)
        v_shape = (sched == _ZBV) | (sched == _DUALPIPE) | (sched == _DUALPIPEV)
        mark((sched == _INTERLEAVED) != (v > 1), 11)
        mark(v_shape & ((v > 1) | (pp == 1) | (2 * pp > a.layers + 2)), 11)
        mark((sched == _DUALPIPE) & ((pp % 2 != 0) | (m < pp)), 11)
    if "etp" in P:
        etp = np.asarray(P["etp"], dtype=np.int64)
        if a.moe_layers:
            mark((tp * cp * dp) % np.maximum(ep * etp, 1) != 0, 12)
        else:
            mark(etp != 1, 12)
    if "cp_comm_type" in P:
        cpt = np.asarray(P["cp_comm_type"], dtype=np.int64)
        mark(((cpt != _P2P) & (cp == 1)) | ((cpt == _A2A) & ((a.heads // np.maximum(tp, 1)) % np.maximum(cp, 1) != 0)), 13)
    if "moe_dispatcher" in P:
        mark((np.asarray(P["moe_dispatcher"], dtype=np.int64) != _ALLTOALL) & (ep == 1), 13)
    if framework:
        mark(framework_reject(job, P), Reason.FRAMEWORK)
    if gpu_count:
        mark(tp * pp * cp * dp > cluster.num_gpus, Reason.GPUS)
    return code
