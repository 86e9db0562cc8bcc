"""Make the genuine source-format fixtures of tests/test_zoo_fixtures.py with the sources' own old packages.

Run once, by hand, from the project root (each family runs in a subprocess whose ``sys.path`` starts with
the old package, installed beside the shared virtual environment without dependencies):

    python -m pip install --no-deps --target /tmp/cp2 cellpose==2.2.3     # Cellpose 2 (the paper's fork is 2.x)
    python -m pip install --no-deps --target /tmp/tfk tf-keras==2.21.0     # Keras 2, for StarDist's .h5
    python scripts/make_zoo_fixtures.py [--cellpose2 /tmp/cp2] [--keras2 /tmp/tfk]

Writes ``tests/fixtures/zoo/``:

* ``cellpose2/model.pth.gz`` — ``CPnet.save_model`` of cellpose 2.2.3 (a torch.save'd state dict), seeded
  weights drawn from {-s, 0, +s} per tensor so that the file compresses (gzip of the genuine bytes);
  ``cellpose2/expected.npz`` — cellpose 2.2.3's own network output (flows, cell probability, style) on a
  fixed input, and that input.
* ``stardist_k2/model/`` — a tiny StarDist 0.9 model folder written under Keras 2 (tf-keras, with
  ``TF_USE_LEGACY_KERAS=1``): config.json, thresholds.json, weights_best.h5;
  ``stardist_k2/expected.npz`` — the image and Keras 2 StarDist's own ``predict_instances`` labels and
  probabilities on SegGal's network input of that image.
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


def _run(code: str, package_dir: str, out: Path, env: dict | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([package_dir, str(ROOT)]), TF_CPP_MIN_LOG_LEVEL="3",
                       **(env or {}))
    subprocess.run([sys.executable, "-c", code, package_dir, str(out)], check=True, env=environment, cwd=ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cellpose2", default="/tmp/cp2", help="folder holding cellpose==2.2.3 (pip --target)")
    parser.add_argument("--keras2", default="/tmp/tfk", help="folder holding tf-keras (pip --target)")
    args = parser.parse_args()

    cellpose = OUT / "cellpose2"
    _run(CELLPOSE2, args.cellpose2, cellpose)
    raw = (cellpose / "model.pth").read_bytes()
    (cellpose / "model.pth.gz").write_bytes(gzip.compress(raw, mtime=0))
    (cellpose / "model.pth").unlink()

    _run(STARDIST_K2, args.keras2, OUT / "stardist_k2", env={"TF_USE_LEGACY_KERAS": "1"})
    for path in sorted(OUT.rglob("*")):
        if path.is_file():
            print(f"{path.relative_to(ROOT)}  {path.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
