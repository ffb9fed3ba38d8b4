"""Scoring one chunk of rows: the code every engine runs (the local loop and each Ray actor).

A chunk is checked against the model's signature as a whole (the fast path). When that fails, the
rows at fault are found by bisection, each named by its position in the chunk with the first error
the signature check gave for it; the engine turns that position into the row of the input file.
CSV has no types, so numbers in a CSV column the signature declares numeric are parsed here, and a
cell that does not parse is a bad row naming its column and value.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from shipyard.core.errors import InvalidArgument, SchemaError
from shipyard.package.signature import FLOAT_TYPES, INTEGER_TYPES
from shipyard.serving.runtime import LoadedVersion, ModelInput, Prediction
from shipyard.telemetry.records import PredictionEvent

BATCH_ROUTE = "batch"
PREDICTION = "prediction"
PROBA_PREFIX = "proba_"
ERROR_COLUMN = "_error"
ROW_COLUMN = "_row"

OnError = Literal["fail", "skip"]


@dataclass(frozen=True)
class ScoreOptions:
    """What a batch job adds to each row, and what it does with rows that do not validate."""

    batch_size: int = 65_536
    columns: tuple[str, ...] | None = None
    """Input columns copied to the output (default: all of them)."""
    proba: bool = False
    on_error: OnError = "fail"
    id_column: str | None = None
    """A key column: each row is logged under its value as request id (labels join by it)."""
    endpoint: str | None = None
    """The endpoint name batch rows are logged under (default: the model's name)."""

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise InvalidArgument("--batch-size must be at least 1")
        if self.on_error not in ("fail", "skip"):
            raise InvalidArgument(f"--on-error must be fail or skip, got {self.on_error!r}")


@dataclass
class Scored:
    """One scored chunk: the output rows, and the rows set aside with their error."""

    output: pd.DataFrame | pa.Table
    """The scored rows: the kept input columns and the scores (Arrow for an Arrow chunk)."""
    rejects: pd.DataFrame
    """Input rows that failed the signature check, with ``_row`` (position in the chunk) and
    ``_error``."""
    event: PredictionEvent | None = None


@dataclass
class BadRow:
    row: int
    column: str | None
    message: str


_ROW_IN_MESSAGE = re.compile(r"\s*\((?:first )?at row \d+\)|,? at row \d+")


def _one_row_message(exc: SchemaError) -> str:
    # the check ran on a single row, so its own "at row 0" says nothing; the caller names the row
    return _ROW_IN_MESSAGE.sub("", str(exc))


@dataclass
class ChunkScorer:
    """Scores chunks with one loaded version; optionally hands each chunk to the prediction log."""

    loaded: LoadedVersion
    options: ScoreOptions
    text_input: bool = False
    """The chunks come from CSV: parse numeric columns here (see the module doc)."""
    log_sink: Callable[[PredictionEvent], bool] | None = None
    job_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    _chunks: int = 0

    def __post_init__(self) -> None:
        self.signature = self.loaded.model.signature
        self.feature_columns = [c.name for c in self.signature.columns] or None
        self.want_proba = self.options.proba or (
            self.log_sink is not None and self.loaded.has_proba
        )
        if self.options.proba and not self.loaded.has_proba:
            raise InvalidArgument(
                f"--proba: model {self.loaded.version.ref} gives no probabilities"
            )

    @property
    def endpoint(self) -> str:
        return self.options.endpoint or self.loaded.version.name

    def check_columns(self, columns: Sequence[str], source: str) -> None:
        """Fail before scoring when the file lacks a required column or a requested one."""
        present = set(map(str, columns))
        for spec in self.signature.columns:
            if spec.name not in present and not spec.nullable:
                raise SchemaError(
                    f"{source}: missing column {spec.name!r} (expected {spec.dtype})",
                    field=spec.name,
                )
        for name in (*(self.options.columns or ()), self.options.id_column):
            if name is not None and name not in present:
                raise InvalidArgument(
                    f"{source}: no column {name!r} to keep; has {sorted(present)}"
                )
        added = {PREDICTION, *(f"{PROBA_PREFIX}{c}" for c in (self.loaded.model.classes or ()))}
        kept = self.options.columns or tuple(present)
        clash = sorted(added & set(kept))
        if clash:
            raise InvalidArgument(
                f"{source}: input column {clash[0]!r} would be overwritten by the scores; "
                "leave it out with --columns"
            )

    # -- scoring --------------------------------------------------------------------------------

    def score(self, chunk: pd.DataFrame | pa.Table) -> Scored:
        """Score one chunk. An Arrow chunk (read from Parquet) whose rows all validate keeps its
        columns in Arrow: only the model's features become a DataFrame, and the output is the
        input table with the score columns appended, without a copy. Otherwise, as a DataFrame."""
        if isinstance(chunk, pa.Table):
            scored = self._score_arrow(chunk)
            return scored if scored is not None else self.score(chunk.to_pandas())
        received = time.perf_counter()
        chunk = chunk.reset_index(drop=True)
        features, bad = self._features(chunk)
        keep = np.ones(len(chunk), dtype=bool)
        for b in bad:
            keep[b.row] = False
        validated: ModelInput | None
        try:
            validated = self.loaded.model.validate(features[keep] if bad else features)
        except SchemaError:
            bad += self._bad_rows(features, np.flatnonzero(keep))
            bad.sort(key=lambda b: b.row)
            keep[[b.row for b in bad]] = False
            validated = self.loaded.model.validate(features[keep]) if keep.any() else None
        rejects = self._rejects(chunk, bad)
        good = chunk[keep].reset_index(drop=True) if bad else chunk
        if validated is None:
            return Scored(self._output(good, None), rejects)
        prediction = self.loaded.predict(validated, self.want_proba)
        ids = self.options.id_column
        event = self._event(None if ids is None else good[ids], validated, prediction, received)
        return Scored(self._output(good, prediction), rejects, event)

    def _score_arrow(self, chunk: pa.Table) -> Scored | None:
        """The fast path of ``score``; None when a row does not validate (the caller then takes
        the DataFrame path, which finds the rows at fault)."""
        received = time.perf_counter()
        cols = self.feature_columns
        present = [c for c in cols if c in chunk.column_names] if cols is not None else None
        features = (chunk if present is None else chunk.select(present)).to_pandas()
        try:
            validated = self.loaded.model.validate(features)
        except SchemaError:
            return None
        prediction = self.loaded.predict(validated, self.want_proba)
        kept = self.options.columns
        out = chunk.select(list(kept)) if kept is not None else chunk
        for name, values in self._score_columns(prediction):
            out = out.append_column(name, _arrow_array(values))
        ids = self.options.id_column
        id_values = None if ids is None else chunk.column(ids).to_pandas()
        event = self._event(id_values, validated, prediction, received)
        return Scored(out, _no_rejects(features), event)

    def _score_columns(self, prediction: Prediction | None) -> list[tuple[str, Any]]:
        """The columns a chunk's scores add: ``prediction``, and ``proba_<class>`` with --proba."""
        preds = prediction.predictions if prediction is not None else np.empty(0)
        out: list[tuple[str, Any]] = [(PREDICTION, preds.tolist() if preds.ndim > 1 else preds)]
        if self.options.proba:
            proba = prediction.probabilities if prediction is not None else None
            for j, cls in enumerate(self.loaded.model.classes or ()):
                out.append(
                    (f"{PROBA_PREFIX}{cls}", proba[:, j] if proba is not None else np.empty(0))
                )
        return out

    def _features(self, chunk: pd.DataFrame) -> tuple[pd.DataFrame, list[BadRow]]:
        cols = self.feature_columns
        if cols is None:  # a tensor signature: the whole row is the input
            return chunk, []
        if list(chunk.columns) == cols:
            features = chunk
        else:
            features = chunk[[c for c in cols if c in chunk.columns]]
        if not self.text_input:
            return features, []
        bad: list[BadRow] = []
        parsed = {}
        for spec in self.signature.columns:
            if spec.name not in features.columns or spec.dtype not in (
                *INTEGER_TYPES,
                *FLOAT_TYPES,
            ):
                continue
            column = features[spec.name]
            if column.dtype != object and not pd.api.types.is_string_dtype(column):
                continue
            numbers = pd.to_numeric(column, errors="coerce")
            unparsed = numbers.isna() & column.notna()
            for row in np.flatnonzero(unparsed.to_numpy())[:1000]:
                bad.append(
                    BadRow(
                        int(row),
                        spec.name,
                        f"column {spec.name!r}: expected {spec.dtype}, got {column.iloc[row]!r}",
                    )
                )
            parsed[spec.name] = numbers
        if parsed:
            features = features.assign(**parsed)
        seen: set[int] = set()
        unique = [b for b in bad if not (b.row in seen or seen.add(b.row))]  # type: ignore[func-returns-value]
        return features, unique

    def _bad_rows(self, features: pd.DataFrame, rows: np.ndarray[Any, Any]) -> list[BadRow]:
        """The rows among ``rows`` that fail the signature check on their own (by bisection)."""
        try:
            self.loaded.model.validate(features.iloc[rows])
            return []
        except SchemaError as exc:
            if len(rows) == 1:
                return [BadRow(int(rows[0]), exc.field, _one_row_message(exc))]
        mid = len(rows) // 2
        return self._bad_rows(features, rows[:mid]) + self._bad_rows(features, rows[mid:])

    def _rejects(self, chunk: pd.DataFrame, bad: list[BadRow]) -> pd.DataFrame:
        if not bad:
            return _no_rejects(chunk)
        rows = [b.row for b in bad]
        out = chunk.iloc[rows].reset_index(drop=True)
        out[ROW_COLUMN] = np.asarray(rows, dtype=np.int64)
        out[ERROR_COLUMN] = [b.message for b in bad]
        return out

    def _output(self, good: pd.DataFrame, prediction: Prediction | None) -> pd.DataFrame:
        kept = list(self.options.columns) if self.options.columns is not None else None
        out = good[kept] if kept is not None else good
        return out.assign(**dict(self._score_columns(prediction)))

    def _event(
        self,
        ids: pd.Series | None,
        validated: Any,
        prediction: Prediction,
        received: float,
    ) -> PredictionEvent | None:
        if self.log_sink is None:
            return None
        self._chunks += 1
        event = PredictionEvent(
            request_id=f"batch-{self.job_id}-{self._chunks}",
            ts=time.time(),
            endpoint=self.endpoint,
            model=self.loaded.version.name,
            version=self.loaded.number,
            route=BATCH_ROUTE,
            status="ok",
            latency_ms=(time.perf_counter() - received) * 1000,
            inputs=validated,
            predictions=prediction.predictions,
            probabilities=prediction.probabilities,
            classes=self.loaded.model.classes,
            row_ids=None if ids is None else ids.astype(str).tolist(),
        )
        self.log_sink(event)
        return event


def _no_rejects(chunk: pd.DataFrame) -> pd.DataFrame:
    return chunk.iloc[:0].assign(**{ROW_COLUMN: pd.Series(dtype="int64")})


def _arrow_array(values: Any) -> pa.Array:
    if isinstance(values, np.ndarray):
        return pa.array(np.ascontiguousarray(values))
    return pa.array(values)


__all__ = ["BATCH_ROUTE", "ChunkScorer", "ScoreOptions", "Scored"]
