"""A user's own launch read as a job and a plan: Megatron-LM flags, or a torchtitan 0.3 config module.

    from gigafactory.launch_reader import read_megatron
    launch = read_megatron(open("train.sh").read())
    launch.job, launch.plan, launch.gpus

The architecture flags become a catalog model when one has the same architecture (as
:func:`gigafactory.perf.params.arch` sees it), else an inline model. Every flag is either understood,
or known not to change a step (data, optimizer hyper-parameters, logging: listed in ``Launch.unmodelled``),
or refused with one line naming it. This is the inverse of :mod:`gigafactory.perf.emit`.
"""

from .launch import DEFAULT_TOKENS, Launch, match_catalog
from .megatron import MEGATRON_UNMODELLED, _stage_counts_megatron, read_megatron
from .torchtitan import read_torchtitan

__all__ = ["DEFAULT_TOKENS", "MEGATRON_UNMODELLED", "Launch", "_stage_counts_megatron", "match_catalog", "read_megatron",
           "read_torchtitan"]
