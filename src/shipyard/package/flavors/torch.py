"""PyTorch modules, saved as TorchScript (``model.pt``) and run on CPU without autograd.

Why TorchScript and not ``torch.export``: loading must not unpickle arbitrary Python objects.
``torch.jit.load`` reads the archive with TorchScript's own C++ importer: the module's code is
TorchScript source compiled by TorchScript (not Python), and its ``.pkl`` records go through a
restricted C++ unpickler that only builds tensors, primitive containers and the archive's own
TorchScript classes; Python's ``pickle`` never runs. ``torch.export.load`` documents that it "uses
pickle under the hood" and calls ``torch.load(weights_only=False)`` / ``pickle.loads`` on payloads
the archive marks as pickled, so a crafted package could run code. TorchScript is deprecated in
recent torch releases: its ``DeprecationWarning`` is silenced around the calls of this module only.
It is not a sandbox (TorchScript may call any registered torch operator), which is why packages are
digest-checked before anything is loaded.

The module is scripted with ``torch.jit.script`` in eval mode; if scripting fails and
``options["example_input"]`` (an array or tensor of a few rows) is given, it is traced with
``torch.jit.trace`` instead, and the compiled module's output on that input must match the original.

Predict turns the input into a tensor (floats as the module's parameter dtype, float32 by default;
other dtypes as given) and returns a numpy array, ``[n, 1]`` flattened to ``[n]``. With
``options["classes"]`` the output is read as logits: ``predict`` gives the label of the largest
logit, ``predict_proba`` the softmax (the sigmoid for one logit and two classes).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from shipyard.core.errors import PackageError
from shipyard.package.flavors.base import (
    ModelInput,
    Predictor,
    SavedModel,
    as_numpy,
    installed_version,
    mro_modules,
    require,
)

MODEL_FILE = "model.pt"
TORCH_MODULE = "torch.nn.modules.module"
"""Where ``torch.nn.Module`` is defined: every module class has it in its MRO."""
FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")


class TorchPredictor:
    """A TorchScript module in eval mode; a classifier when ``classes`` is given."""

    def __init__(self, module: Any, *, classes: Sequence[Any] | None, float_dtype: str) -> None:
        self.torch = require("torch", "torch")
        self.module = module.eval()
        self.float_dtype = getattr(self.torch, float_dtype)
        self.classes: tuple[Any, ...] | None = tuple(classes) if classes else None
        self._labels = np.asarray(classes) if classes else None

    def predict(self, data: ModelInput) -> npt.NDArray[Any]:
        if self._labels is not None:
            proba = self._proba(self._forward(data))
            return np.asarray(self._labels[np.argmax(proba, axis=1)])
        out = np.asarray(self._forward(data).numpy())
        return out.ravel() if out.ndim == 2 and out.shape[1] == 1 else out

    def predict_proba(self, data: ModelInput) -> npt.NDArray[Any] | None:
        if self._labels is None:
            return None
        return self._proba(self._forward(data))

    def _forward(self, data: ModelInput) -> Any:
        tensor = to_tensor(self.torch, as_numpy(data), self.float_dtype)
        with self.torch.no_grad():
            out = self.module(tensor)
        if isinstance(out, tuple | list) and out:
            out = out[0]
        if not isinstance(out, self.torch.Tensor):
            raise PackageError(f"the torch module returned {type(out).__name__}, not a tensor")
        if out.is_floating_point() and out.dtype not in (self.torch.float32, self.torch.float64):
            out = out.float()
        return out.detach().cpu()

    def _proba(self, logits: Any) -> npt.NDArray[Any]:
        n_classes = len(self.classes or ())
        width = logits.shape[1] if logits.ndim == 2 else 0
        if width == 1 and n_classes == 2:
            positive = self.torch.sigmoid(logits)
            return np.asarray(self.torch.cat([1 - positive, positive], dim=1).numpy())
        if width != n_classes:
            raise PackageError(
                f"the torch module returned logits of shape {list(logits.shape)} "
                f"for {n_classes} classes; expected [n, {n_classes}]"
            )
        return np.asarray(self.torch.softmax(logits, dim=1).numpy())


class TorchFlavor:
    name = "torch"

    def accepts(self, model: object) -> bool:
        return TORCH_MODULE in mro_modules(model)

    def save(self, model: object, directory: Path, options: Mapping[str, Any]) -> SavedModel:
        torch = require("torch", "torch")
        if not isinstance(model, torch.nn.Module):
            raise PackageError(
                f"the torch flavor saves torch.nn.Module, got {type(model).__name__}"
            )
        float_dtype = _float_dtype(model)
        example = options.get("example_input")
        tensor = None if example is None else to_tensor(torch, example, getattr(torch, float_dtype))
        was_training = model.training
        model.eval()
        try:
            compiled, method = _compile(torch, model, tensor)
            if tensor is not None:
                _check_same(torch, model, compiled, tensor)
            with _quiet_jit():
                torch.jit.save(compiled, str(directory / MODEL_FILE))
        finally:
            model.train(was_training)
        saved_options: dict[str, Any] = {"method": method, "float_dtype": float_dtype}
        if options.get("classes") is not None:
            saved_options["classes"] = [_plain(c) for c in options["classes"]]
        return SavedModel(
            files=(MODEL_FILE,),
            framework="torch",
            framework_version=installed_version("torch"),
            serialization="torchscript",
            options=saved_options,
        )

    def load(self, directory: Path, saved: SavedModel, *, allow_pickle: bool) -> Predictor:
        torch = require("torch", "torch")
        float_dtype = str(saved.options.get("float_dtype", "float32"))
        if float_dtype not in FLOAT_DTYPES:
            raise PackageError(
                f"unknown float dtype {float_dtype!r}; expected one of {FLOAT_DTYPES}"
            )
        try:
            with _quiet_jit():
                module = torch.jit.load(str(directory / MODEL_FILE), map_location="cpu")
        except Exception as exc:  # torch raises RuntimeError for a corrupt or foreign archive
            raise PackageError(
                f"torch cannot load the TorchScript file {MODEL_FILE}: {exc}"
            ) from exc
        classes = saved.options.get("classes")
        return TorchPredictor(
            module, classes=list(classes) if classes else None, float_dtype=float_dtype
        )


def to_tensor(torch: Any, data: Any, float_dtype: Any) -> Any:
    """A CPU tensor from an array or tensor: floats as ``float_dtype``, other dtypes kept."""
    if isinstance(data, torch.Tensor):
        tensor = data.detach().cpu()
        return tensor.to(float_dtype) if tensor.is_floating_point() else tensor
    arr = np.asarray(data)
    if arr.dtype.kind == "f":
        wide = np.float64 if float_dtype == torch.float64 else np.float32
        return torch.tensor(arr.astype(wide)).to(float_dtype)
    if arr.dtype.kind not in "biu":
        raise PackageError(f"the torch flavor takes numeric arrays, got dtype {arr.dtype}")
    return torch.tensor(arr)


def _compile(torch: Any, model: Any, example: Any) -> tuple[Any, str]:
    try:
        with _quiet_jit():
            return torch.jit.script(model), "script"
    except Exception as exc:  # TorchScript raises several frontend/runtime error types
        if example is None:
            raise PackageError(
                f"torch.jit.script cannot compile this module ({exc}); pass "
                "flavor_options={'example_input': X_sample[:2]} to trace it instead"
            ) from exc
    try:
        with _quiet_jit(), torch.no_grad():
            return torch.jit.trace(model, example), "trace"
    except Exception as exc:
        raise PackageError(f"torch.jit.trace cannot trace this module: {exc}") from exc


def _check_same(torch: Any, model: Any, compiled: Any, example: Any) -> None:
    with torch.no_grad():
        want, got = model(example), compiled(example)
    if isinstance(want, tuple | list):
        want, got = want[0], got[0]
    if want.shape != got.shape or not torch.allclose(want, got, equal_nan=True):
        raise PackageError(
            "the compiled TorchScript module gives different outputs on example_input"
        )


def _float_dtype(model: Any) -> str:
    tensors = [*model.parameters(), *model.buffers()]
    dtype = next((str(t.dtype) for t in tensors if t.is_floating_point()), "torch.float32")
    name = dtype.removeprefix("torch.")
    return name if name in FLOAT_DTYPES else "float32"


@contextmanager
def _quiet_jit() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.", category=DeprecationWarning)
        yield


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
