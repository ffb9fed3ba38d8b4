"""ONNX models (``onnx.ModelProto``), saved as ``model.onnx`` and run with onnxruntime on CPU.

The model must carry all its weights: tensors stored as external data are refused at save time and
checked again at load time (the model is parsed from bytes first, so no path in the file is ever
followed), which keeps every byte the model needs inside the package and under its digests.

Inputs: a model with one input gets the whole input as one array cast to the input's element type.
A model with several inputs (skl2onnx's one-input-per-column conversion) gets one ``[n, 1]`` array
per DataFrame column, matched by name (by position if the names differ), strings as object arrays
(a missing string is fed as ``""``; a missing value for an integer input is a SchemaError).
Outputs: the first is the prediction (``[n, 1]`` flattened to ``[n]``). A probability output
(``output_probability`` / ``probabilities``, a tensor or skl2onnx's sequence of maps) gives
``predict_proba`` when the class labels are known: from ``options["classes"]``, else read at save
time from the graph's ``ZipMap`` or classifier node.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from shipyard.core.errors import PackageError, SchemaError
from shipyard.package.flavors.base import (
    ModelInput,
    Predictor,
    SavedModel,
    as_numpy,
    installed_version,
    mro_modules,
    require,
)

MODEL_FILE = "model.onnx"
PROBABILITY_NAMES = ("output_probability", "probabilities", "probability", "proba")
EXTERNAL = 1
"""``onnx.TensorProto.EXTERNAL``: the tensor's bytes live in a file named by ``external_data``."""
CLASS_LABEL_ATTRIBUTES = ("classlabels_int64s", "classlabels_ints", "classlabels_strings")
ELEMENT_TYPES: dict[str, Any] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int16)": np.int16,
    "tensor(int8)": np.int8,
    "tensor(uint64)": np.uint64,
    "tensor(uint32)": np.uint32,
    "tensor(uint16)": np.uint16,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
    "tensor(string)": object,
}


class OnnxPredictor:
    """An onnxruntime session with the input and output conventions described in the module."""

    def __init__(
        self, session: Any, *, classes: Sequence[Any] | None, probability_output: str | None
    ) -> None:
        self.session = session
        self.inputs = list(session.get_inputs())
        self.label_output = str(session.get_outputs()[0].name)
        self.probability_output = probability_output
        known = classes is not None and probability_output is not None
        self.classes: tuple[Any, ...] | None = tuple(classes) if known and classes else None

    def predict(self, data: ModelInput) -> npt.NDArray[Any]:
        (labels,) = self.session.run([self.label_output], self._feeds(data))
        out = np.asarray(labels)
        return out.ravel() if out.ndim == 2 and out.shape[1] == 1 else out

    def predict_proba(self, data: ModelInput) -> npt.NDArray[Any] | None:
        if self.classes is None or self.probability_output is None:
            return None
        (proba,) = self.session.run([self.probability_output], self._feeds(data))
        if not isinstance(proba, list):
            return np.asarray(proba)
        try:  # skl2onnx's ZipMap: one {label: probability} per row
            return np.array([[row[c] for c in self.classes] for row in proba], dtype=np.float32)
        except KeyError as exc:
            raise PackageError(
                f"the ONNX probability output has no class {exc.args[0]!r} of {list(self.classes)}"
            ) from exc

    def _feeds(self, data: ModelInput) -> dict[str, npt.NDArray[Any]]:
        if len(self.inputs) == 1:
            return {self.inputs[0].name: _cast(as_numpy(data), self.inputs[0])}
        names = [str(i.name) for i in self.inputs]
        if isinstance(data, pd.DataFrame):
            columns = [str(c) for c in data.columns]
            if set(names) <= set(columns):
                frame = data.rename(columns=str)
                return {i.name: _cast(frame[[i.name]].to_numpy(), i) for i in self.inputs}
            data = data.to_numpy()
        arr = np.asarray(data)
        if arr.ndim != 2 or arr.shape[1] != len(names):
            raise SchemaError(
                f"the ONNX model takes {len(names)} inputs ({', '.join(names)}); "
                f"got data of shape {list(arr.shape)}"
            )
        return {i.name: _cast(arr[:, [k]], i) for k, i in enumerate(self.inputs)}


class OnnxFlavor:
    name = "onnx"

    def accepts(self, model: object) -> bool:
        return type(model).__name__ == "ModelProto" and any(
            m == "onnx" or m.startswith("onnx.") for m in mro_modules(model)
        )

    def save(self, model: object, directory: Path, options: Mapping[str, Any]) -> SavedModel:
        require("onnx", "onnx")
        _refuse_external_data(model)
        try:
            content = model.SerializeToString()  # type: ignore[attr-defined]
        except ValueError as exc:  # protobuf refuses messages over 2 GB
            raise PackageError(f"the ONNX model cannot be serialized in one file: {exc}") from exc
        (directory / MODEL_FILE).write_bytes(content)
        graph: Any = model.graph  # type: ignore[attr-defined]
        weights = {t.name for t in graph.initializer}
        saved_options: dict[str, Any] = {
            "inputs": [str(i.name) for i in graph.input if i.name not in weights],
            "outputs": [str(o.name) for o in graph.output],
        }
        probability = options.get("probability_output") or _probability_output(graph)
        if probability is not None:
            saved_options["probability_output"] = str(probability)
        classes = options.get("classes")
        classes = [_plain(c) for c in classes] if classes is not None else _graph_classes(graph)
        if classes is not None:
            saved_options["classes"] = classes
        return SavedModel(
            files=(MODEL_FILE,),
            framework="onnx",
            framework_version=installed_version("onnx"),
            serialization="onnx",
            options=saved_options,
            requirements=("onnxruntime",),
        )

    def load(self, directory: Path, saved: SavedModel, *, allow_pickle: bool) -> Predictor:
        onnx = require("onnx", "onnx")
        ort = require("onnxruntime", "onnx")
        content = (directory / MODEL_FILE).read_bytes()
        try:
            _refuse_external_data(onnx.load_model_from_string(content))
            session = ort.InferenceSession(content, providers=["CPUExecutionProvider"])
        except PackageError:
            raise
        except Exception as exc:  # protobuf DecodeError, onnxruntime's Fail/InvalidGraph...
            raise PackageError(f"onnxruntime cannot load {MODEL_FILE}: {exc}") from exc
        names = {str(o.name) for o in session.get_outputs()}
        probability = saved.options.get("probability_output")
        classes = saved.options.get("classes")
        return OnnxPredictor(
            session,
            classes=list(classes) if classes is not None else None,
            probability_output=str(probability) if probability in names else None,
        )


def _cast(arr: npt.NDArray[Any], spec: Any) -> npt.NDArray[Any]:
    """``arr`` as the element type and rank the ONNX input ``spec`` declares."""
    target = ELEMENT_TYPES.get(str(spec.type))
    if target is None:
        raise PackageError(f"ONNX input {spec.name!r} has the unsupported type {spec.type}")
    if target is object:
        out = np.array(["" if v is None else str(v) for v in arr.ravel()], dtype=object)
        out = out.reshape(arr.shape)
    else:
        if np.dtype(target).kind in "iub" and arr.dtype.kind in "fO" and pd.isna(arr).any():
            raise SchemaError(
                f"input {spec.name!r} has missing values but the model expects {spec.type}",
                field=str(spec.name),
            )
        out = arr.astype(target)
    rank = len(spec.shape) if isinstance(spec.shape, list) else out.ndim
    if rank == 1 and out.ndim == 2 and out.shape[1] == 1:
        return out.ravel()
    return out


def _tensors(nodes: Iterable[Any]) -> Iterator[Any]:
    """Every tensor held by node attributes, subgraphs included."""
    for node in nodes:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            subgraphs = [attr.g, *attr.graphs] if attr.HasField("g") else list(attr.graphs)
            for graph in subgraphs:
                yield from _graph_tensors(graph)


def _graph_tensors(graph: Any) -> Iterator[Any]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    yield from _tensors(graph.node)


def _refuse_external_data(model: Any) -> None:
    tensors = [*_graph_tensors(model.graph)]
    for function in model.functions:
        tensors.extend(_tensors(function.node))
    external = [t.name for t in tensors if t.external_data or t.data_location == EXTERNAL]
    if external:
        raise PackageError(
            f"the ONNX model keeps {len(external)} tensor(s) in external files "
            f"(e.g. {external[0]!r}); load it with onnx.load(path, load_external_data=True) so "
            "every weight is inside the model, then save it again"
        )


def _probability_output(graph: Any) -> str | None:
    for output in list(graph.output)[1:]:
        if output.name in PROBABILITY_NAMES or output.type.HasField("sequence_type"):
            return str(output.name)
    return None


def _graph_classes(graph: Any) -> list[Any] | None:
    """Class labels from a ZipMap node, else from an ai.onnx.ml classifier node."""
    nodes = sorted(graph.node, key=lambda n: n.op_type != "ZipMap")
    for node in nodes:
        for attr in node.attribute:
            if attr.name not in CLASS_LABEL_ATTRIBUTES:
                continue
            if attr.ints:
                return [int(v) for v in attr.ints]
            if attr.strings:
                return [bytes(v).decode("utf-8") for v in attr.strings]
    return None


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
