from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def groundtruth_csv() -> Path:
    path = SHARED / "groundtruth" / "train.csv"
    if not path.is_file():
        pytest.skip(f"ground-truth data not found at {path} (../shared beside the checkout)")
    return path
