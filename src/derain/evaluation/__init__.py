"""Scoring models on datasets: `harness` (one model, one dataset, one table) and `cli` (`derain eval`).

The package itself imports nothing, so that `derain eval --help` does not load torch.
"""
