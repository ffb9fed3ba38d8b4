"""Batch scoring: files scored in bulk with a registered version, locally or on Ray Data."""

from shipyard.serving.scoring.job import BatchScoring, ScoreResult
from shipyard.serving.scoring.scorer import ScoreOptions

__all__ = ["BatchScoring", "ScoreOptions", "ScoreResult"]
