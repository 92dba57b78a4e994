"""docs/RESULTS.md and the README's results block are generated, never hand-edited: regenerating
them from the committed evaluation outputs must give the committed text."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _results_module():
    sys.path.insert(0, str(ROOT / "experiments"))  # results.py imports its siblings, as when run as a script
    spec = importlib.util.spec_from_file_location("results", ROOT / "experiments" / "results.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["results"] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


def test_results_md_is_regenerated_text():
    assert (ROOT / "docs" / "RESULTS.md").read_text() == _results_module().report()


def test_readme_block_is_regenerated_text():
    assert _results_module().headline() in (ROOT / "README.md").read_text()
