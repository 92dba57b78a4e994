"""Task-transfer training: teachers on real data, distillation, fine-tuning (docs/METHOD.md sections 2-5).

    >>> from derain.training import run_stage, run_all
    >>> run_stage("supervised", "tiny", {"fraction": 0.1})      # -> summary dict
    >>> run_all("tiny")                                          # the chain, then an evaluation table
"""

from derain.training.chain import run_all
from derain.training.config import STAGES, load_config
from derain.training.run import run_stage

__all__ = ["STAGES", "load_config", "run_all", "run_stage"]
