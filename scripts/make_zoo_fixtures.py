"""Make the genuine source-format fixtures of tests/test_zoo_fixtures.py with the sources' own old packages.

Run once, by hand, from the project root (each family runs in a subprocess whose ``sys.path`` starts with
the old package, installed beside the shared virtual environment without dependencies):

    python -m pip install --no-deps --target /tmp/cp2 cellpose==2.2.3     # Cellpose 2 (the paper's fork is 2.x)
    python -m pip install --no-deps --target /tmp/tfk tf-keras==2.21.0     # Keras 2, for StarDist's .h5
    bash scripts/install_mmdet.sh --paper-side /work/side-mmdet2 .venv/bin/python   # MMDetection 2.28.2
    python scripts/make_zoo_fixtures.py [--cellpose2 /tmp/cp2] [--keras2 /tmp/tfk] [--mmdet2 /work/side-mmdet2]

Writes ``tests/fixtures/zoo/``:

* ``cellpose2/model.pth.gz`` — ``CPnet.save_model`` of cellpose 2.2.3 (a torch.save'd state dict), seeded
  weights drawn from {-s, 0, +s} per tensor so that the file compresses (gzip of the genuine bytes);
  ``cellpose2/expected.npz`` — cellpose 2.2.3's own network output (flows, cell probability, style) on a
  fixed input, and that input.
* ``stardist_k2/model/`` — a tiny StarDist 0.9 model folder written under Keras 2 (tf-keras, with
  ``TF_USE_LEGACY_KERAS=1``): config.json, thresholds.json, weights_best.h5;
  ``stardist_k2/expected.npz`` — the image and Keras 2 StarDist's own ``predict_instances`` labels and
  probabilities on SegGal's network input of that image.
* ``mmdet2/<method>.pth.gz`` — checkpoints written by MMDetection 2.28.2 itself (mmcv-full 1.7.2's
  ``save_checkpoint``, with the meta a training run stores: ``mmdet_version``, the config's
  ``pretty_text``, ``CLASSES``, and an SGD optimiser's state), of tiny versions of the paper's
  architectures, made from MMDetection 2.28's own configs (few channels, small depth, one class, seeded
  random weights, kernels drawn from {-s, 0, +s} per tensor so that the gzip'd file is small; the
  classifier biases raised so that the random network detects something):
  ``mask-rcnn`` — caffe-style Mask R-CNN (ResNet-18), one channel replicated x3 as the paper fed it;
  ``cascade-seesaw`` — Cascade Mask R-CNN with seesaw loss, ``NormedLinear`` box classifiers and a
  ``NormedConv2d`` mask predictor, two channels; ``hrnet`` — Cascade Mask R-CNN on an HRNet with HRFPN,
  one channel; ``res2net`` — Cascade Mask R-CNN on a Res2Net-50 (4 scales), two channels; ``rf-next`` —
  that Res2Net model in RF-Next's ``fixed_multi_branch`` mode, with its searched-structure json
  ``mmdet2/rf-next.json`` (made-up dilations; the checkpoint's config names it by path). Their test_cfg
  is the one SegGal runs (:func:`seggal.backends.mmdet.adapt_model_config`) so that the predictions
  compare. ``mmdet2/<method>.npz`` — the float input (before ``Normalize``) and
  MMDetection 2.28's own ``simple_test`` result on it: boxes (x1, y1, x2, y2), scores, masks.
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "zoo"

CELLPOSE2 = r'''
import gzip, io, sys
import numpy as np, torch
import cellpose
from cellpose.resnet_torch import CPnet
assert cellpose.__file__.startswith(sys.argv[1]), cellpose.__file__
out = sys.argv[2]
torch.manual_seed(0)
net = CPnet([2, 32, 64, 128, 256], 3, 3, diam_mean=30.0)
with torch.no_grad():
    for name, value in net.state_dict().items():
        if value.dtype.is_floating_point and "running_var" not in name and not name.startswith("diam"):
            scale = float(value.abs().mean()) or 0.05
            value.copy_(torch.randint(-1, 2, value.shape).float() * scale)
    net.output[2].bias[2] = 2.0
net.eval()
net.save_model(out + "/model.pth")
x = torch.rand(1, 2, 64, 64, generator=torch.Generator().manual_seed(1))
with torch.no_grad():
    y, style = net(x)
np.savez_compressed(out + "/expected.npz", x=x.numpy(), y=y.numpy(), style=style.numpy(),
                    version=np.array(cellpose.version if hasattr(cellpose, "version") else "2.x"))
'''

STARDIST_K2 = r'''
import json, os, sys
import numpy as np
import tensorflow as tf
from stardist.models import Config2D, StarDist2D
from csbdeep.utils import save_json
from seggal.backends.base import network_input
from seggal.data.synthetic import synthetic_tissue
from seggal.image import ChannelSpec, Image
out = sys.argv[2]
conf = Config2D(n_rays=8, grid=(2, 2), n_channel_in=2, unet_n_depth=2, unet_n_filter_base=8, train_tensorboard=False)
tf.random.set_seed(0)
model = StarDist2D(conf, name="model", basedir=out)
keras = type(model.keras_model).__module__
assert keras.startswith("tf_keras"), keras
prob = model.keras_model.get_layer("prob")
kernel, bias = prob.get_weights()
prob.set_weights([kernel, bias + 1.0])
model.keras_model.save_weights(os.path.join(out, "model", "weights_best.h5"))
save_json({"prob": 0.6, "nms": 0.3}, os.path.join(out, "model", "thresholds.json"))
model.thresholds = {"prob": 0.6, "nms": 0.3}
pixels, _, _ = synthetic_tissue((64, 64), "Breast", seed=3)
image = Image(pixels, ChannelSpec(0, 1) if pixels.shape[2] > 1 else ChannelSpec(0, None))
labels, details = model.predict_instances(network_input(image), axes="YXC", verbose=False, show_tile_progress=False)
np.savez_compressed(os.path.join(out, "expected.npz"), pixels=pixels, labels=labels.astype(np.int32),
                    prob=np.asarray(details["prob"], np.float32), keras=np.array(keras))
'''

MMDET2 = r'''
import os, sys
import numpy as np, torch
import mmcv, mmdet
from mmcv import Config
from mmcv.runner import save_checkpoint
from mmdet.models import build_detector
assert mmdet.__version__ == "2.28.2" and mmdet.__file__.startswith(sys.argv[1]), mmdet.__file__
from seggal.backends.base import network_input
from seggal.data.synthetic import synthetic_tissue
from seggal.image import ChannelSpec, Image
out = sys.argv[2]
configs = mmdet.__file__.rsplit("/", 1)[0] + "/.mim/configs/"
NORM = dict(mean=[55.0704424] * 3, std=[67.22934807] * 3, to_rgb=False)  # the paper's TissueNet values
SMALL = {"in_channels": 16, "feat_channels": 16, "out_channels": 16, "conv_out_channels": 16, "fc_out_channels": 32}

def shrink(node):
    # every 256-wide layer 16 wide, 1024-wide fully connected layers 32 wide, one class
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "num_classes":
                node[key] = 1
            elif key in SMALL and value in (256, 1024):
                node[key] = SMALL[key]
            else:
                shrink(value)
    elif isinstance(node, list):
        for value in node:
            shrink(value)

def tiny(name, channels, backbone, neck, **extra):
    cfg = Config.fromfile(configs + name)
    model = cfg.model
    model.backbone.update(backbone)
    model.backbone.pop("init_cfg", None)
    model.neck.update(neck)
    shrink(model)
    model.test_cfg.rpn.update(nms_pre=2000, max_per_img=2000)
    model.test_cfg.rcnn.update(score_thr=0.05, max_per_img=1000)
    # the network's input channels: one channel is fed replicated x3 (LoadTIFImageFromFile)
    norm = dict(NORM, mean=NORM["mean"][: 3 if channels == 1 else 2], std=NORM["std"][: 3 if channels == 1 else 2])
    loader = "LoadTIFImageFromFile2C" if channels == 2 else "LoadTIFImageFromFile"
    return Config(dict(model=model.to_dict(), img_norm_cfg=norm, test_pipeline=[
        dict(type=loader), dict(type="MultiScaleFlipAug", img_scale=(256, 256), flip=False, transforms=[
            dict(type="Resize", keep_ratio=True), dict(type="RandomFlip"), dict(type="Normalize", **norm),
            dict(type="Pad", size_divisor=32), dict(type="ImageToTensor", keys=["img"]),
            dict(type="Collect", keys=["img"])])], **extra))

RESNET18 = dict(depth=18, base_channels=8, in_channels=3)
FPN18 = dict(in_channels=[8, 16, 32, 64], out_channels=16)
RES2NET = dict(depth=50, base_channels=4, base_width=4, in_channels=2)
FPN2 = dict(in_channels=[16, 32, 64, 128], out_channels=16)
HRNET = dict(in_channels=3, extra=dict(
    stage1=dict(num_modules=1, num_branches=1, block="BOTTLENECK", num_blocks=(1,), num_channels=(8,)),
    stage2=dict(num_modules=1, num_branches=2, block="BASIC", num_blocks=(1, 1), num_channels=(4, 8)),
    stage3=dict(num_modules=1, num_branches=3, block="BASIC", num_blocks=(1, 1, 1), num_channels=(4, 8, 16)),
    stage4=dict(num_modules=1, num_branches=4, block="BASIC", num_blocks=(1, 1, 1, 1), num_channels=(4, 8, 16, 32))))
MODELS = {
    "mask-rcnn": tiny("mask_rcnn/mask_rcnn_r50_caffe_fpn_1x_coco.py", 1, RESNET18, FPN18),
    "cascade-seesaw": tiny("seesaw_loss/cascade_mask_rcnn_r101_fpn_random_seesaw_loss_normed_mask_mstrain_2x_lvis_v1.py",
                           2, dict(RESNET18, in_channels=2), FPN18),
    "hrnet": tiny("hrnet/cascade_mask_rcnn_hrnetv2p_w18_20e_coco.py", 1, HRNET, dict(in_channels=[4, 8, 16, 32], out_channels=16)),
    "res2net": tiny("res2net/cascade_mask_rcnn_r2_101_fpn_20e_coco.py", 2, RES2NET, FPN2),
}
# RF-Next as the paper ran it (configs/rfnext/rfnext_fixed_multi_branch_*): the Res2Net Cascade Mask R-CNN whose
# odd-sized convolutions outside the stem and layer1 are two-branch ops around searched dilations read from a
# json (here made up: 1, 2, 3 in turn); the search settings are those of MMDetection 2.28's rfnext configs
MODELS["rf-next"] = tiny("res2net/cascade_mask_rcnn_r2_101_fpn_20e_coco.py", 2, RES2NET, FPN2, custom_hooks=[dict(
    type="RFSearchHook", mode="fixed_multi_branch", rfstructure_file=os.path.relpath(out + "/rf-next.json"),
    verbose=False, by_epoch=True, config=dict(search=dict(step=0, max_step=12, search_interval=1, exp_rate=0.5,
                                              init_alphas=0.01, mmin=1, mmax=24, num_branches=2,
                                              skip_layer=["stem", "layer1"])))])
pixels, _, _ = synthetic_tissue((64, 64), "Breast", seed=3)
both = network_input(Image(pixels, ChannelSpec(0, 1))) * 255.0  # (64, 64, 2): nuclear, membrane in [0, 255]
for index, (method, cfg) in enumerate(MODELS.items()):
    # as tools/train.py stores it: before build_detector (which writes into cfg.model's heads) and
    # rfnext_init_model (which edits the hook's entry)
    text = cfg.pretty_text
    torch.manual_seed(index)
    model = build_detector(cfg.model)
    model.init_weights()
    if method == "rf-next":
        from mmdet.utils import rfnext_init_model
        odd = [name for name, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)
               and any(k > 1 and k % 2 for k in m.kernel_size) and "stem" not in name and "layer1" not in name]
        mmcv.dump({"search": cfg.custom_hooks[0].config.search.to_dict(),
                   "structure": {"module." + name: 1 + i % 3 for i, name in enumerate(odd)}}, f"{out}/rf-next.json")
        rfnext_init_model(model, cfg=cfg)
        with torch.no_grad():  # learned branch weights, not the initial equal ones
            for name, value in model.named_parameters():
                if name.endswith("branch_weights"):
                    value.copy_(torch.rand(value.shape))
    with torch.no_grad():  # kernels drawn from {-s, 0, +s} (s their mean magnitude), so that the file compresses
        for value in model.parameters():
            if value.dim() >= 2:
                value.copy_(torch.randint(-1, 2, value.shape).float() * value.abs().mean())
    with torch.no_grad():  # cells: the class logit (seesaw: the objectness logit) raised, logits and masks spread
        heads, masks = model.roi_head.bbox_head, model.roi_head.mask_head
        for head in heads if isinstance(heads, torch.nn.ModuleList) else [heads]:
            head.fc_cls.bias[0 if head.fc_cls.bias.numel() <= 2 else -2] += 2.0
            head.fc_cls.weight *= 20.0
        for head in masks if isinstance(masks, torch.nn.ModuleList) else [masks]:
            head.conv_logits.weight *= 20.0
            head.conv_logits.bias += 1.0
    model.CLASSES = ("cell",)
    model.eval()
    norm = cfg.img_norm_cfg
    x = both if len(norm.mean) == 2 else np.repeat(both[:, :, :1], 3, axis=2)  # LoadTIFImageFromFile: x3
    normalised = mmcv.imnormalize(x.astype(np.float32), np.array(norm.mean), np.array(norm.std), to_rgb=False)  # Normalize
    tensor = torch.from_numpy(np.ascontiguousarray(normalised.astype(np.float32).transpose(2, 0, 1)))[None]
    shape = x.shape[:2] + (x.shape[2],)
    meta = dict(img_shape=shape, ori_shape=shape, pad_shape=shape, scale_factor=np.ones(4, np.float32), flip=False,
                batch_input_shape=x.shape[:2])
    with torch.no_grad():
        (boxes,), (masks,) = model.simple_test(tensor, [meta], rescale=True)[0]
    masks = np.array(masks, bool).reshape(-1, *x.shape[:2])
    assert len(boxes) > 0 and 0.02 < masks.mean() < 0.5, (method, len(boxes), masks.mean())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9, weight_decay=0.0001)
    save_checkpoint(model, f"{out}/{method}.pth", optimizer=optimizer, meta=dict(
        mmdet_version=mmdet.__version__, config=text, CLASSES=model.CLASSES, epoch=12, iter=12))
    np.savez_compressed(f"{out}/{method}.npz", x=x.astype(np.float32), boxes=boxes[:, :4], scores=boxes[:, 4],
                        masks=np.packbits(masks, axis=-1), mask_shape=np.array(masks.shape),
                        version=np.array(f"mmdet {mmdet.__version__}, mmcv-full {mmcv.__version__}"))
    print(method, len(boxes), "instances, scores", boxes[:, 4].min(), "to", boxes[:, 4].max(), ", mask pixels",
          masks.mean(), ",", sum(p.numel() for p in model.parameters()), "parameters")
'''


def _run(code: str, package_dir: str, out: Path, env: dict | None = None, python: str = sys.executable) -> None:
    out.mkdir(parents=True, exist_ok=True)
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([package_dir, str(ROOT)]), TF_CPP_MIN_LOG_LEVEL="3",
                       **(env or {}))
    subprocess.run([python, "-c", code, package_dir, str(out)], check=True, env=environment, cwd=ROOT)


def _gzip(path: Path) -> None:
    """``path`` → ``path.gz`` (the genuine bytes, gzip'd without a time stamp); ``path`` removed."""
    path.with_name(path.name + ".gz").write_bytes(gzip.compress(path.read_bytes(), mtime=0))
    path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cellpose2", default="/tmp/cp2", help="folder holding cellpose==2.2.3 (pip --target)")
    parser.add_argument("--keras2", default="/tmp/tfk", help="folder holding tf-keras (pip --target)")
    parser.add_argument("--mmdet2", default="/work/side-mmdet2", help="side virtual environment with MMDetection 2.28.2 "
                        "(scripts/install_mmdet.sh --paper-side DIR)")
    parser.add_argument("--only", choices=("cellpose2", "stardist_k2", "mmdet2"), action="append",
                        help="make only these families (repeatable; default: all)")
    args = parser.parse_args()
    only = set(args.only or ("cellpose2", "stardist_k2", "mmdet2"))

    if "cellpose2" in only:
        cellpose = OUT / "cellpose2"
        _run(CELLPOSE2, args.cellpose2, cellpose)
        _gzip(cellpose / "model.pth")
    if "stardist_k2" in only:
        _run(STARDIST_K2, args.keras2, OUT / "stardist_k2", env={"TF_USE_LEGACY_KERAS": "1"})
    if "mmdet2" in only:
        side = Path(args.mmdet2)
        _run(MMDET2, str(side), OUT / "mmdet2", python=str(side / "bin" / "python"))
        for path in (OUT / "mmdet2").glob("*.pth"):
            _gzip(path)
    for path in sorted(OUT.rglob("*")):
        if path.is_file():
            print(f"{path.relative_to(ROOT)}  {path.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
