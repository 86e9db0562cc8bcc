"""The Guideline: questionnaire answers → a recommended method, training data and advice, with reasons.

Three modules: :mod:`~seggal.guideline.answers` (the questionnaire: parsing, validation, pixel size),
:mod:`~seggal.guideline.rules` (the decisions, as plain records) and :mod:`~seggal.guideline.explanations`
(the records in English). Colours of the paper's bands live with the plots (:mod:`seggal.plots`).
"""

from seggal.guideline.answers import (
    ANNOTATIONS, CHANNELS, COMPUTE, MODALITIES, OTHER, TARGETS, Answers, match_tissue, pixel_size_from_optics,
)
from seggal.guideline.explanations import Explanation, explain
from seggal.guideline.rules import (
    ACCURACY_MARGIN, BAND_METRICS, BANDS, FAILING_FRACTION, ORDERINGS, PAPER, WEIGHTS, Caveat, MethodRow,
    Recommendation, Tie, band, best_transfer_set, failing_training_sets, ordered, recommend, scenario_task,
)

__all__ = [
    "ACCURACY_MARGIN", "ANNOTATIONS", "Answers", "BAND_METRICS", "BANDS", "CHANNELS", "COMPUTE", "Caveat",
    "Explanation", "FAILING_FRACTION", "MODALITIES", "MethodRow", "ORDERINGS", "OTHER", "PAPER", "Recommendation",
    "TARGETS", "Tie", "WEIGHTS", "band", "best_transfer_set", "explain", "failing_training_sets", "match_tissue",
    "ordered", "pixel_size_from_optics", "recommend", "scenario_task",
]
