"""MMDetection 2.28.2 checkpoints (the paper's ``mmdet_BM`` fork) → SegGal's MMDetection 3.3 checkpoint.

An mmcv 1.x checkpoint is ``{"meta": {..., "mmdet_version", "config": <config text>}, "state_dict": …,
"optimizer": …}``, read with ``weights_only=True``. The embedded config text (``Config.pretty_text``,
Python source) is never executed: :func:`parse_config` evaluates only literals and ``dict(...)`` calls.

The network is the checkpoint's own: its embedded model config is translated to MMDetection 3.3
(:func:`model_config_3x`) and stored in ``backend.json`` (``model``), which the backend builds instead of
the method's registry config — so the paper's caffe-style Mask R-CNN, its Res2Net and HRNet Cascade Mask
R-CNNs and its seesaw Cascade Mask R-CNN with normalised predictors (``NormedLinear`` / ``NormedConv2d``)
load as trained. MMDetection 3.x kept the 2.x model-config vocabulary (type names, arguments, the
``train_cfg`` / ``test_cfg`` inside the model) and the state-dict layout of the two-stage and SOLO families,
so the translation only drops 2.x's ``pretrained`` argument and adds the data preprocessor that 3.x
detectors take (the 2.x pipeline's ``Pad(size_divisor=32)``). Mask2Former is the exception: its 2.x
transformer configs (``BaseTransformerLayer`` with ``operation_order``) were restructured for 3.0, so it
runs SegGal's registry config, whose architecture (:func:`architecture`) must match the checkpoint's, and
its transformer layers were renamed (:func:`rename_mask2former`). A checkpoint without an embedded config
is loaded into the registry network (its keys and shapes must fit). RF-Next (``fixed_multi_branch``: the
checkpoint's convolutions are two-branch ``op_layer`` / ``branch_weights`` modules around searched dilations)
also needs the searched-structure json its config names by path; ``path`` may be a folder holding the
``.pth`` and that json (:func:`rf_next_state`), else the checkpoint is refused (:data:`RF_NEXT_REFUSAL`).

Inputs as the paper fed them (``configs/_base_/datasets/coco_*``): dual-channel models see the two
channels (nuclear, membrane) of the preprocessed windows x 255 (``LoadTIFImageFromFile2C``), one-channel
models the channel replicated three times (``LoadTIFImageFromFile``); both then ``Normalize`` with the
config's ``img_norm_cfg`` (TissueNet: mean 55.0704424, std 67.22934807 per channel) and pad to a multiple
of 32. A three-channel first convolution fed a replicated channel equals the one-channel convolution
with the three kernels summed (:func:`fold_replicated_input`), which is what SegGal's one-channel
network takes. One mean / std for every channel is stored with the checkpoint (``backend.json``'s
``normalisation``, applied by the data preprocessor); per-channel values (the Swin configs keep
ImageNet's 123.675 / 116.28) are folded into the first convolution (:func:`fold_normalisation`).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from seggal.errors import SegGalError
from seggal.methods import Method
from seggal.tasks import Task
from seggal.preprocess import NETWORK_ORDER, Preprocessing
from seggal.zoo.formats import Converted, paper_record
from seggal.zoo.formats.torch_file import load, segmenter_from_state, state_dict

WHAT = "an MMDetection 2.x checkpoint (a dict with 'meta' and 'state_dict')"
#: Why the paper's RF-Next checkpoints are not converted from the published file alone (its config:
#: configs/rfnext/rfnext_fixed_multi_branch_*)
RF_NEXT_REFUSAL = (
    "the paper's RF-Next (a Cascade Mask R-CNN on Res2Net-101 run by RF-Next's fixed_multi_branch mode: every "
    "searched convolution is two branches of different dilations) needs its searched dilations, which are not "
    "in the checkpoint: its config names them by path only (configs/rfnext/search_log/"
    "cascade_mask_rcnn_r2_101_fpn_20e_coco/local_search_config_step11.json of the benchmark repository), and the "
    "published Drive link is the .pth file alone; `models pull` fetches that json beside it, and `models import` "
    "converts a folder holding the .pth and that json")

# ------------------------------------------------------------------------------------ the config text


def _literal(node: ast.AST):
    """The value of a literal / ``dict(k=v, …)`` expression; :class:`SegGalError` for anything else."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict" and not node.args:
        return {kw.arg: _literal(kw.value) for kw in node.keywords if kw.arg is not None}
    if isinstance(node, ast.Dict):
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values)}
    if isinstance(node, (ast.List, ast.Tuple)):
        values = [_literal(v) for v in node.elts]
        return values if isinstance(node, ast.List) else tuple(values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _literal(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.Constant):
        return node.value
    raise SegGalError(f"config text: {ast.unparse(node)[:60]!r} is not a plain value")


def parse_config(text: str) -> dict:
    """The top-level assignments of an mmcv 1.x config text → {name: value}, without running it.

    Assignments whose value is not a plain value (literals, lists, tuples, ``dict(...)``) are skipped;
    text that is not Python at all is a :class:`SegGalError`.
    """
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise SegGalError(f"embedded config is not a config text ({exc.msg}, line {exc.lineno})") from None
    out = {}
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name):
            try:
                out[statement.targets[0].id] = _literal(statement.value)
            except SegGalError:
                continue
    return out


def architecture(model: dict) -> dict:
    """What fixes a detector's network, from its model config (2.x or 3.x): model, backbone, neck,
    head and predictor types and the backbone's shape parameters."""
    backbone, neck = model.get("backbone") or {}, model.get("neck") or {}
    roi = model.get("roi_head") or {}
    bbox = roi.get("bbox_head")
    heads = bbox if isinstance(bbox, list) else [bbox] if bbox else []
    masks = roi.get("mask_head")
    masks = masks if isinstance(masks, list) else [masks] if masks else []
    return {
        "type": model.get("type"),
        "backbone": {k: backbone.get(k) for k in ("type", "depth", "depths", "embed_dims", "style", "stem_channels",
                                                   "base_channels", "radix", "scales", "extra") if k in backbone},
        "neck": neck.get("type") if isinstance(neck, dict) else [n.get("type") for n in neck],
        "rpn_convs": (model.get("rpn_head") or {}).get("num_convs", 1) if model.get("rpn_head") else None,
        "roi_head": roi.get("type"),
        "bbox_heads": [(h.get("type"), (h.get("cls_predictor_cfg") or {}).get("type")) for h in heads],
        "mask_heads": [(h.get("type"), (h.get("predictor_cfg") or {}).get("type")) for h in masks],
        "mask_head": (model.get("mask_head") or {}).get("type"),
        "panoptic_head": (model.get("panoptic_head") or {}).get("type"),
    }


def differences(paper: dict, ours: dict) -> list[str]:
    """``key: paper value ≠ SegGal value`` for each part of two :func:`architecture` dicts that differs."""
    return [f"{k}: {paper.get(k)!r} ≠ {ours.get(k)!r}" for k in ours if paper.get(k) != ours.get(k)]


#: model types whose 2.x configs cannot be read as 3.3 configs (see the module docstring)
_RESTRUCTURED = frozenset({"Mask2Former", "MaskFormer"})


def _without_pretrained(node):
    """A copy of a config tree without 2.x's ``pretrained`` arguments (the detector's, and the heads' that
    2.x detectors write into their config dicts when built)."""
    if isinstance(node, dict):
        return {k: _without_pretrained(v) for k, v in node.items() if k != "pretrained"}
    if isinstance(node, (list, tuple)):
        return type(node)(_without_pretrained(v) for v in node)
    return node


def model_config_3x(model: dict) -> dict | None:
    """The MMDetection 3.3 model config of a 2.x model config (plain dicts): the same dict without 2.x's
    ``pretrained`` arguments and with a ``DetDataPreprocessor`` padding to multiples of 32 (the 2.x test
    pipeline's ``Pad``; its mean / std are set by the backend). ``None`` for the types whose 3.x configs
    were restructured (:data:`_RESTRUCTURED`)."""
    if model.get("type") in _RESTRUCTURED:
        return None
    out = _without_pretrained(model)
    out["data_preprocessor"] = {"type": "DetDataPreprocessor", "mean": [0.0], "std": [1.0], "bgr_to_rgb": False,
                                "pad_size_divisor": 32, "pad_mask": True}
    return out


def rf_next_hook(config: dict) -> dict | None:
    """The ``RFSearchHook`` entry of a 2.x config's ``custom_hooks`` (RF-Next), else ``None``."""
    hooks = config.get("custom_hooks") or []
    return next((h for h in hooks if isinstance(h, dict) and h.get("type") == "RFSearchHook"), None)


def rf_next_state(hook: dict, structure_file: Path | None, path: Path) -> dict:
    """backend.json's ``rfsearch`` for an RF-Next checkpoint trained in ``fixed_multi_branch`` mode:
    ``{"step": int, "structure": {layer: dilation}}`` from the searched-structure json ``structure_file``
    (``{"search": …, "structure": {"module.<layer>": d or [dh, dw]}}``, as RF-Next's search writes it),
    which the backend sets and widens into branches as mmcv's ``RFSearchHook`` does."""
    import json

    from seggal.backends.mmdet import RFSEARCH

    if hook.get("mode", "search") != "fixed_multi_branch":
        raise SegGalError(f"{path}: an RF-Next checkpoint in mode {hook.get('mode', 'search')!r}; SegGal converts the "
                          "fixed_multi_branch mode the paper trained")
    if structure_file is None:
        raise SegGalError(f"{path}: {RF_NEXT_REFUSAL}")
    search = (hook.get("config") or {}).get("search") or {}
    differ = {k: search.get(k) for k in RFSEARCH if k != "step" and search.get(k) != RFSEARCH[k]}
    if differ:
        raise SegGalError(f"{path}: RF-Next search settings {differ} differ from SegGal's ({RFSEARCH})")
    try:
        structure = json.loads(structure_file.read_text(encoding="utf-8"))["structure"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SegGalError(f"{structure_file}: not an RF-Next searched-structure json ({exc})") from None
    ok = isinstance(structure, dict) and structure and all(
        isinstance(d, int) and d > 0 or isinstance(d, list) and len(d) == 2 and all(isinstance(v, int) and v > 0 for v in d)
        for d in structure.values())
    if not ok:
        raise SegGalError(f"{structure_file}: its 'structure' must map layer names to positive dilations")
    return {"step": int(search.get("step", 0)), "structure": structure}


def _files(path: Path) -> tuple[Path, Path | None]:
    """``path`` → (the checkpoint file, RF-Next's searched-structure json or ``None``): a file, or a folder
    holding one ``.pth`` and at most one ``.json``."""
    if not path.is_dir():
        return path, None
    checkpoints, structures = sorted(path.glob("*.pth")), sorted(path.glob("*.json"))
    if len(checkpoints) != 1 or len(structures) > 1:
        raise SegGalError(f"{path}: a folder; give the MMDetection .pth checkpoint file, or a folder holding it and "
                          "RF-Next's searched-structure .json (one of each)")
    return checkpoints[0], (structures[0] if structures else None)


# ------------------------------------------------------------------------------------ the state dict

#: Mask2Former, MMDetection 2.x → 3.x module renames (open-mmlab/mmdetection#8763, #9515)
_MASK2FORMER = (
    (r"(transformer_decoder\.layers\.\d+)\.attentions\.0\.attn\.", r"\1.cross_attn.attn."),
    (r"(transformer_decoder\.layers\.\d+)\.attentions\.1\.attn\.", r"\1.self_attn.attn."),
    (r"(transformer_decoder\.layers\.\d+)\.ffns\.0\.layers\.0\.0\.", r"\1.ffn.layers.0.0."),
    (r"(transformer_decoder\.layers\.\d+)\.ffns\.0\.layers\.1\.", r"\1.ffn.layers.1."),
    (r"(pixel_decoder\.encoder\.layers\.\d+)\.attentions\.0\.", r"\1.self_attn."),
    (r"(pixel_decoder\.encoder\.layers\.\d+)\.ffns\.0\.layers\.0\.0\.", r"\1.ffn.layers.0.0."),
    (r"(pixel_decoder\.encoder\.layers\.\d+)\.ffns\.0\.layers\.1\.", r"\1.ffn.layers.1."),
    (r"(layers\.\d+)\.norms\.(\d)\.", r"\1.norms.\2."),
)


def rename_mask2former(state: dict) -> dict:
    """Mask2Former's 2.x keys → 3.x keys (module renames only; tensors unchanged)."""
    out = {}
    for key, value in state.items():
        for pattern, replacement in _MASK2FORMER:
            key = re.sub(pattern, replacement, key)
        out[key] = value
    return out


def fold_replicated_input(state: dict, first_conv: str) -> dict:
    """A copy of ``state`` whose first convolution ``first_conv`` (O, 3, k, k) takes one channel: the three
    kernels summed, exact for an input replicated to three channels."""
    out = dict(state)
    out[first_conv] = state[first_conv].sum(dim=1, keepdim=True)
    return out


def fold_normalisation(state: dict, first_conv: str, mean: list[float], std: list[float]) -> dict:
    """A copy of ``state`` whose first convolution (with a bias) takes raw inputs instead of inputs
    normalised per channel as ``(x - mean[c]) / std[c]``: kernels divided by ``std[c]``, the bias less
    the kernels' response to ``mean[c] / std[c]``. The same function up to floating-point rounding
    wherever the convolution does not pad (Swin's stride-4 patch embedding on images whose sides are
    multiples of 4; in the padding the normalised zero becomes a raw zero)."""
    import torch

    weight, bias_key = state[first_conv], first_conv[: -len("weight")] + "bias"
    if bias_key not in state:
        raise SegGalError(f"{first_conv}: per-channel normalisation (mean {mean}, std {std}) can only be folded into "
                          "a first convolution with a bias")
    m = torch.tensor(mean, dtype=torch.float64)[: weight.shape[1]]
    sd = torch.tensor(std, dtype=torch.float64)[: weight.shape[1]]
    scaled = weight.double() / sd[None, :, None, None]
    out = dict(state)
    out[first_conv] = scaled.to(weight.dtype)
    out[bias_key] = (state[bias_key].double() - (scaled * m[None, :, None, None]).sum(dim=(1, 2, 3))).to(weight.dtype)
    return out


def _first_conv(state: dict) -> str:
    for key in ("backbone.conv1.weight", "backbone.stem.0.weight", "backbone.patch_embed.projection.weight"):
        if key in state:
            return key
    raise SegGalError("MMDetection checkpoint: cannot find the backbone's first convolution")


# ------------------------------------------------------------------------------------ conversion


def script_facts(config: dict, channels: int) -> dict:
    """The paper's MMDetection test input as its config states it (module docstring), for provenance.json
    (the record config.json applies is :func:`paper_input`)."""
    norm = config.get("img_norm_cfg") or {}
    pipeline = config.get("test_pipeline") or []
    return {
        "comment": "as the paper's mmdet_BM configs fed MMDetection 2.28 (configs/_base_/datasets/coco_*)",
        "dataset_preprocessing": {"percentiles": [0.1, 99.9], "clahe": True, "window": 256, "step": 192},
        "channel_order": ["nuclear", "membrane"] if channels == 2 else ["the task's channel, replicated x3"],
        "normalisation": {"method": "mean_std", "scale": 255, "mean": list(norm.get("mean", [])),
                          "std": list(norm.get("std", [])), "to_rgb": bool(norm.get("to_rgb", False))},
        "pad_size_divisor": 32,
        "test_pipeline": [step.get("type") for step in pipeline if isinstance(step, dict)],
        "test_cfg": (config.get("model") or {}).get("test_cfg", {}),
    }


def paper_input(task: Task, channels: int) -> Preprocessing:
    """The input pipeline of the paper's MMDetection test configs (module docstring) as config.json's record:
    the data set's preprocessing; two-channel windows as the integer TIFFs of 255 V (``levels`` 255). The
    one-channel windows were written as float TIFFs that ``LoadTIFImageFromFile`` casts to int32, which
    would leave almost nothing of [0, 1] images; until that is understood they get the data set's steps only."""
    base = "mmdet_BM/mmdetection/configs/_base_/datasets/"
    if task.dataset == "LIVECell":
        return paper_record(base + "coco_livecell_instance.py", channel_order=NETWORK_ORDER)
    name = f"coco_tissuenet_{'n' if task.target == 'nuclei' else 'w'}_instance{'_2C' if channels == 2 else ''}.py"
    return paper_record(base + name, channel_order=NETWORK_ORDER, **({"levels": 255} if channels == 2 else {}))


def convert(path: Path, method: Method, task: Task) -> Converted:
    """Read the MMDetection 2.x checkpoint ``path`` → a SegGal MMDetection segmenter with its weights."""
    from seggal.backends.mmdet import adapt_model_config, load_config

    path, structure_file = _files(path)
    container = load(path, WHAT)
    if not isinstance(container, dict) or "state_dict" not in container:
        raise SegGalError(f"{path}: not {WHAT}")
    meta = container.get("meta") or {}
    version = str(meta.get("mmdet_version", ""))
    if version and not version.startswith("2."):
        raise SegGalError(f"{path}: written by MMDetection {version}; this converter reads 2.x checkpoints")
    state = state_dict(container["state_dict"], path, WHAT)
    config = parse_config(meta["config"]) if isinstance(meta.get("config"), str) else {}
    first = _first_conv(state)
    in_channels = int(state[first].shape[1])
    norm_cfg = config.get("img_norm_cfg") or {}
    mean, std = [float(v) for v in norm_cfg.get("mean", [])], [float(v) for v in norm_cfg.get("std", [])]
    normalisation = {"mean": mean[:1], "std": std[:1]} if mean and std else None
    if len(set(mean[:in_channels])) > 1 or len(set(std[:in_channels])) > 1:  # per-channel values (Swin: ImageNet's)
        state, normalisation = fold_normalisation(state, first, mean, std), {"mean": [0.0], "std": [1.0]}
    if in_channels == 3:
        state, in_channels = fold_replicated_input(state, first), 1
    if in_channels not in (1, 2):
        raise SegGalError(f"{path}: a {in_channels}-channel network; SegGal's MMDetection takes 1 or 2 channels")
    registry = adapt_model_config(load_config(method.options["config"]).model.to_dict(), in_channels)
    model = model_config_3x(config["model"]) if isinstance(config.get("model"), dict) else None
    notes, hook = [], rf_next_hook(config)
    if bool(hook) != bool(method.options.get("rfsearch")):
        raise SegGalError(f"{path}: {'an' if hook else 'not an'} RF-Next checkpoint; SegGal's {method.name} "
                          f"{'is not' if hook else 'is'} RF-Next")
    rfsearch = rf_next_state(hook, structure_file, path) if hook else None
    if "model" in config:
        diff = differences(architecture(config["model"]), architecture(registry))
        if model is None and diff:
            raise SegGalError(f"{path}: the checkpoint's architecture differs from SegGal's {method.name} "
                              f"({method.options['config']}): {'; '.join(diff)}")
        if model is not None and diff:
            notes.append(f"the network is the checkpoint's own (its embedded config, translated to MMDetection 3.3), "
                         f"not SegGal's {method.options['config']}: {'; '.join(diff)}")
    if registry.get("type") == "Mask2Former":
        state = rename_mask2former(state)
    facts = script_facts(config, in_channels)
    backend_meta = {"backend": "mmdet", "method": method.id, "config": method.options["config"],
                    "in_channels": in_channels, "mmdet_version": version or "2.x", "rfsearch": rfsearch,
                    "normalisation": normalisation, "model": model}
    try:
        segmenter = segmenter_from_state(method, state, backend_meta)
    except SegGalError as exc:
        network = "the network of its own embedded config" if model else f"SegGal's {method.name} network"
        raise SegGalError(f"{path}: its weights do not fit {network}: {str(exc).split(': ', 1)[-1]}") from None
    notes[:0] = [f"MMDetection {version or '2.x'} checkpoint; architecture read from its embedded config"
             if config else f"MMDetection {version or '2.x'} checkpoint without an embedded config: only the "
             "state dict's keys and shapes were checked"]
    return Converted(segmenter, paper_input(task, in_channels), f"MMDetection {version or '2.x'} checkpoint "
                     "(mmdet_BM fork)", notes, facts)
