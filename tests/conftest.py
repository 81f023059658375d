"""Shared fixtures: model cases are built once per session (torch exports are the slow part)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.model_cases import ModelCase


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model_cases")


@pytest.fixture(scope="session")
def build_case(model_dir: Path) -> Callable[[ModelCase], Path]:
    """``build_case(case) -> path``: builds each case once per session; skips a case whose optional
    packages (``case.needs``) are missing or whose exporter is unavailable in this torch."""
    built: dict[str, Path | str] = {}

    def get(case: ModelCase) -> Path:
        for module in case.needs:
            pytest.importorskip(module)
        if case.id not in built:
            out = model_dir / case.id
            out.mkdir(parents=True, exist_ok=True)
            try:
                built[case.id] = case.builder(out)
            except RuntimeError as exc:  # e.g. the legacy torch.onnx exporter was removed
                built[case.id] = f"{case.id} cannot be built here: {exc}"
        result = built[case.id]
        if isinstance(result, str):
            pytest.skip(result)
        return result

    return get
