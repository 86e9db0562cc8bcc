"""deepcell's own run of the paper's Mesmer / FeatureNet, for tests/test_backend_deepcell.py.

``python tests/deepcell_reference.py mesmer|featurenet CHANNELS INPUT.npy OUT_DIR`` builds the network as
the paper's test scripts do (benchmark repository, Mesmer/mesmer_*_test.py, FeatureNet/featurenet_*_test.py),
with seeded random weights, saves them as the paper's training scripts do (``save_weights`` → ``.h5`` files
in OUT_DIR) and writes what deepcell predicts on INPUT.npy ((1, 256, 256, CHANNELS) float32) and the labels
of the paper's post-processing, written out here from those scripts: OUT_DIR/outputs_<i>.npy, labels.npy.
Runs under TF_USE_LEGACY_KERAS=1 with the deepcell worker's import shim (the only SegGal code it uses).
"""

import sys
from pathlib import Path

import numpy as np

from seggal.backends.deepcell_worker import install_shim

install_shim()
import tensorflow as tf  # noqa: E402
from deepcell.model_zoo.featurenet import bn_feature_net_skip_2D  # noqa: E402
from deepcell.model_zoo.panopticnet import PanopticNet  # noqa: E402
from deepcell_toolbox.deep_watershed import deep_watershed_mibi  # noqa: E402
from skimage import morphology  # noqa: E402
from skimage.measure import label  # noqa: E402


def normalize(x, pmin, pmax, axis):  # the scripts' csbdeep-style normalize, clip=False, eps=1e-20, float32
    mi = np.percentile(x, pmin, axis=axis, keepdims=True).astype(np.float32)
    ma = np.percentile(x, pmax, axis=axis, keepdims=True).astype(np.float32)
    return (x.astype(np.float32) - mi) / (ma - mi + np.float32(1e-20))


def main(method, channels, source, out):
    tf.keras.utils.set_random_seed(0)
    x = np.load(source)
    shape = (256, 256, channels)
    if method == "mesmer":
        model = PanopticNet(backbone="resnet50", input_shape=shape, norm_method=None, num_semantic_heads=2,
                            num_semantic_classes=[1, 3], location=True, include_top=True, use_imagenet=False)
        model.save_weights(str(out / "mesmer.h5"))
        inner_distance, pixelwise = model.predict(x)
        outputs = [inner_distance, pixelwise]
        inner = np.stack([normalize(i, 0.0, 100.0, (0, 1)) for i in inner_distance])
        interior = np.stack([normalize(i, 0.0, 100.0, (0, 1)) for i in pixelwise[:, :, :, 1:2]])
        labels = deep_watershed_mibi({"inner-distance": inner, "pixelwise-interior": interior},
                                     maxima_threshold=0.3, maxima_model_smooth=0, interior_threshold=0.3,
                                     interior_model_smooth=2, radius=3, small_objects_threshold=10,
                                     fill_holes_threshold=10, pixel_expansion=3)[..., 0]
        labels = np.stack([label(i) for i in labels])
    else:
        common = dict(receptive_field=61, norm_method="std", n_skips=1, n_conv_filters=32, n_dense_filters=128,
                      input_shape=shape, last_only=False)
        fgbg_model = bn_feature_net_skip_2D(n_features=2, **common)
        pixelwise_model = bn_feature_net_skip_2D(fgbg_model=fgbg_model, n_features=4, **common)
        fgbg_model.save_weights(str(out / "conv_fgbg_model.h5"))
        pixelwise_model.save_weights(str(out / "conv_edgeseg_model.h5"))
        test_images = pixelwise_model.predict(x)[-1]
        test_images_fgbg = fgbg_model.predict(x)[-1]
        outputs = [test_images, test_images_fgbg]
        fg_thresh = np.expand_dims(test_images_fgbg[..., 1] > 0.9, axis=-1)
        post = test_images * fg_thresh
        labels = np.stack([morphology.remove_small_objects(label(post[i, ..., 2] > .2), min_size=50, connectivity=1)
                           for i in range(post.shape[0])])
    for i, o in enumerate(outputs):
        np.save(out / f"outputs_{i}.npy", o)
    np.save(out / "labels.npy", labels.astype(np.int32))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
