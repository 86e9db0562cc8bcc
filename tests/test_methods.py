"""The method registry: the paper's 18 methods and their facts."""

import importlib
from dataclasses import replace

import pytest

from seggal.errors import SegGalError
from seggal.methods import METHODS, Availability, availability, get_method, paper_methods
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


def _imports(*modules):
    try:
        for module in modules:
            importlib.import_module(module)
    except ImportError:
        return False
    return True


def test_the_two_blocked_methods_are_unavailable_with_their_specific_reason():
    reasons = {m.id: availability(m) for m in METHODS if m.blocked}  # no registry serves them for Python 3.11
    assert set(reasons) == {"centermask2", "retinamask"}
    assert not any(r.available for r in reasons.values())
    assert "no detectron2 release" in reasons["centermask2"].reason
    assert "requires Python < 3.9" in reasons["retinamask"].reason
    assert "get_anchor_parameters(y_test)" in reasons["retinamask"].reason


def test_deepcell_methods_are_available_exactly_when_make_deepcell_installed_them():
    import importlib.util

    installed = all(importlib.util.find_spec(p) for p in ("deepcell", "deepcell_toolbox", "tf_keras"))
    for method_id in ("mesmer", "featurenet"):
        status = availability(method_id)
        assert status.available == installed
        assert installed or "deepcell" in status.reason


def test_methods_whose_packages_requirements_txt_installs_are_available():
    for method_id in ("baseline", "cellpose", "stardist", "sam"):
        assert availability(method_id) == Availability(True, ""), method_id


def test_mmdetection_methods_are_available_exactly_when_mmdetection_imports():
    mmdet_methods = [m for m in METHODS if m.backend == "mmdet"]
    assert len(mmdet_methods) == 11
    imports = _imports("mmdet", "mmcv", "mmengine")
    for method in mmdet_methods:
        result = availability(method)
        assert result.available is imports, method.id
        assert (result.reason == "") is imports, method.id


def test_a_missing_package_is_named_in_the_reason():
    method = replace(get_method("baseline"), packages=("skimage", "seggal_no_such_package", "also_missing_pkg"))
    assert availability(method) == Availability(False, "package(s) not installed: seggal_no_such_package, "
                                                       "also_missing_pkg")
