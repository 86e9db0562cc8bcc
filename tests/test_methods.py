"""The method registry: the paper's 18 methods and their facts."""

import pytest

from seggal.errors import SegGalError
from seggal.methods import METHODS, availability, get_method, paper_methods
from seggal.results import load_scores


def test_registry_has_the_papers_18_methods_named_as_the_published_scores():
    names = {m.name for m in paper_methods()}
    assert len(paper_methods()) == 18
    assert names == set(load_scores()["method"])


def test_ids_are_unique_and_lookup_accepts_id_or_paper_name():
    ids = [m.id for m in METHODS]
    assert len(ids) == len(set(ids))
    assert get_method("swin-s") is get_method("Swin-S") is get_method(" SWIN-S ")
    with pytest.raises(SegGalError, match="unknown method 'nope'"):
        get_method("nope")


def test_families_and_attention_follow_the_paper():
    biomedical = {m.name for m in paper_methods() if m.family == "biomedical"}
    assert biomedical == {"Cellpose", "Mesmer", "StarDist", "RetinaMask", "FeatureNet"}
    # the most accurate methods all use attention (Results, "General-purpose methods with attention …")
    for name in ("Centermask2", "ResNeSt", "Swin-S", "Swin-T", "Mask2former", "Segment Anything"):
        assert get_method(name).attention
    for name in ("Cellpose", "Cascade Mask RCNN seesaw", "Mask RCNN"):
        assert not get_method(name).attention


def test_paper_training_settings_from_methods():
    assert get_method("mesmer").paper.learning_rate == pytest.approx(0.0004)
    assert (get_method("mesmer").paper.batch_size, get_method("mesmer").paper.epochs) == (8, 200)
    assert get_method("centermask2").paper.iterations == 100_000
    assert get_method("resnest").paper.iterations == 50_000
    assert get_method("swin-t").paper.epochs == 50 and get_method("swin-t").paper.batch_size == 8


def test_availability_says_why_when_unavailable():
    for method in METHODS:
        result = availability(method)
        assert result.available or result.reason, method.id
    assert availability("baseline").available
    blocked = availability("centermask2")
    assert not blocked.available and "detectron2" in blocked.reason
