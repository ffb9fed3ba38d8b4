"""torch flavor (to be completed)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shipyard.core.errors import PackageError
from shipyard.package.flavors.base import Predictor, SavedModel, mro_modules


class TorchFlavor:
    name = "torch"

    def accepts(self, model: object) -> bool:
        return any(m.startswith("torch") for m in mro_modules(model))

    def save(self, model: object, directory: Path, options: Mapping[str, Any]) -> SavedModel:
        raise PackageError("not implemented yet")

    def load(self, directory: Path, saved: SavedModel, *, allow_pickle: bool) -> Predictor:
        raise PackageError("not implemented yet")
