"""Task-transfer training: teachers on real data, distillation, fine-tuning (docs/METHOD.md sections 2-5).

    >>> from derain.training.run import run_stage
    >>> from derain.training.chain import run_all
    >>> run_stage("supervised", "tiny", {"fraction": 0.1})      # -> summary dict
    >>> run_all("tiny")                                          # the chain, then an evaluation table

The package itself imports nothing, so that `derain train --help` does not load torch.
"""
