"""Shared test settings: one torch thread (tiny models; CI machines may be busy), data location."""
import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
OMNIGLOT = Path(os.environ.get("INNER_LOOP_DATA", ROOT.parent / "shared" / "data" / "omniglot"))


@pytest.fixture(scope="session")
def omniglot_dir() -> Path:
    if not (OMNIGLOT / "images_background.zip").exists() and not (OMNIGLOT / "images_background").is_dir():
        pytest.skip(f"Omniglot not found at {OMNIGLOT} (set INNER_LOOP_DATA)")
    return OMNIGLOT
