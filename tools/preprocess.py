"""Input preprocessing presets shared by the converter, the trainer and the fixtures.

A preset says how the official training pipeline turned an image file into the tensor
the network saw. The C engine reproduces the same steps from the model file's metadata.
"""

import cv2
import numpy as np

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]

# busi = isic18 = tnscui (official main.py); kvasir (official main_kvasir.py)
PRESETS = {
    "busi": dict(channel_order="bgr", resize="bilinear", mean=IMAGENET_MEAN, std=IMAGENET_STD, extra_scale=1.0 / 255),
    "kvasir": dict(channel_order="rgb", resize="lanczos4", mean=IMAGENET_MEAN, std=IMAGENET_STD, extra_scale=1.0),
}
PRESETS["isic18"] = PRESETS["busi"]
PRESETS["tnscui"] = PRESETS["busi"]

CV2_FILTERS = {"bilinear": cv2.INTER_LINEAR, "lanczos4": cv2.INTER_LANCZOS4, "nearest": cv2.INTER_NEAREST}


def load_image(path, pre):
    """cv2.imread (8-bit, 3 channels, BGR) and the preset's channel order."""
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError("cannot read image %s" % path)
    if pre["channel_order"] == "rgb":
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return img


def resize_uint8(img, width, height, pre):
    return cv2.resize(img, (width, height), interpolation=CV2_FILTERS[pre["resize"]])


def normalise(img_uint8, pre):
    """HWC uint8 -> CHW float32 exactly as the official pipelines do it."""
    x = img_uint8.astype(np.float32)
    mean = np.array(pre["mean"], np.float32) * 255.0
    std = np.array(pre["std"], np.float32) * 255.0
    x = (x - mean) / std
    x = x * np.float32(pre["extra_scale"])
    return np.ascontiguousarray(x.transpose(2, 0, 1))
