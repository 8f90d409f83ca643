#!/usr/bin/python3
"""Convert an LGMSNet PyTorch checkpoint (2-D, or 3-D with --arch 3d) into an lgmsd model
file (.lgms).

Accepts the official code's checkpoints (2-D: main.py / main_kvasir.py's MKtinyvit4_CT, a
bare state_dict; 3-D: main3d.py's {"state_dict": ...}) and U-Bench's LGMSNet copy (same
attribute names), bare or wrapped under "state_dict" / "model", with "module." or
"backbone." prefixes. Architecture hyper-parameters (dims, splits, depths,
classes) are read off the tensor shapes and then checked key by key against the
project's port: any missing, extra or mis-shaped tensor is an error naming the key.

    /usr/bin/python3 tools/convert.py CHECKPOINT.pth -o MODEL.lgms [--preset busi|kvasir] [--classes NAMES]
    /usr/bin/python3 tools/convert.py CHECKPOINT.pth -o MODEL.lgms --arch 3d [--roi 96x96x96] [--spacing 1.5,1.5,2]

The file format is described in docs/model-format.md.
"""

import argparse
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lgmsnet  # noqa: E402
import preprocess  # noqa: E402

MAGIC = b"LGMSNET\0"
VERSION = 1
HEADER = 64
ENTRY = 128
NAME_SIZE = 88
ALIGN = 64
DTYPES = {0: np.float32, 1: np.float16}


class ConvertError(Exception):
    pass


def unwrap(obj):
    """The state_dict inside whatever torch.save wrote, with DataParallel/backbone prefixes removed."""
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    for key in ("state_dict", "model", "net"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ConvertError("checkpoint holds no state_dict (a dict of tensors, bare or under 'state_dict'/'model')")
    out = {}
    for k, v in obj.items():
        for prefix in ("module.", "backbone."):
            while k.startswith(prefix):
                k = k[len(prefix) :]
        out[k] = v
    return out


def infer_hparams(sd, nd=2):
    def shape(key):
        if key not in sd:
            raise ConvertError("checkpoint lacks tensor %s (is this an LGMSNet-%dD checkpoint?)" % (key, nd))
        return tuple(sd[key].shape)

    stem = shape("stem.conv.0.weight")
    if len(stem) != nd + 2:
        other = "3d" if len(stem) == 5 else "2d"
        raise ConvertError("stem.conv.0.weight has %d dimensions; a %dD checkpoint has %d (use --arch %s?)"
                           % (len(stem), nd, nd + 2, other))
    depths = []
    for e in (1, 2, 3):
        d = 0
        while "encoder%d.%d.local_dwc.weight" % (e, d) in sd:
            d += 1
        depths.append(max(d, 1))
    dims = [
        stem[0],
        shape("encoder2.%d.0.weight" % depths[1])[0],
        shape("encoder3.%d.0.weight" % depths[2])[0],
        shape("encoder4.0.conv1.0.weight")[0],
        shape("encoder5.0.conv1.0.weight")[0],
    ]
    splits = []
    for p in ("encoder4.0", "encoder5.0", "Up_conv5", "Up_conv4.1"):
        a = shape(p + ".transformer.layers.0.0.norm.weight")[0]
        b = shape(p + (".conv_spilt.dwconv3x3.weight" if nd == 2 else ".conv_spilt.dwconv3x3x3.weight"))[0]
        splits.append([a, b])
    return dict(
        in_channels=stem[1], num_classes=shape("Conv_1x1.weight")[0], dims=dims, splits=splits, depths=depths
    )


def check_against_port(sd, hp, nd=2):
    """Compare keys and shapes with the port built from the same hyper-parameters."""
    ref = lgmsnet.LGMSNet(**hp, spatial_dims=nd).state_dict()
    for k, v in ref.items():
        if k not in sd:
            raise ConvertError("checkpoint lacks tensor %s (shape %s)" % (k, tuple(v.shape)))
        if tuple(sd[k].shape) != tuple(v.shape):
            raise ConvertError("tensor %s has shape %s, the architecture needs %s" % (k, tuple(sd[k].shape), tuple(v.shape)))
    for k in sd:
        if k not in ref:
            raise ConvertError("checkpoint has tensor %s, which LGMSNet-%dD does not use" % (k, nd))


def class_names(hp, args):
    """The foreground class names: --classes, or lesion (one output) / class1.. (several)."""
    num_classes = hp["num_classes"]
    names = args.classes.split(",") if args.classes else (["lesion"] if num_classes == 1 else ["class%d" % i for i in range(1, num_classes)])
    want = 1 if num_classes == 1 else num_classes - 1
    if len(names) != want:
        raise ConvertError("--classes names %d classes; a %d-output head needs %d (background is implicit)" % (len(names), num_classes, want))
    for n in names:
        if not n or "\n" in n or "=" in n or "," in n:
            raise ConvertError("bad class name %r" % n)
    return names


def metadata_text(hp, pre, args, nd=2):
    """The model file's key=value metadata: architecture, then the preprocessing of the
    official main.py (2-D images) or main3d.py (3-D patches of CT volumes)."""

    def floats(v):
        return ",".join(repr(float(x)) for x in v)

    lines = [
        ("arch", "lgmsnet3d" if nd == 3 else "lgmsnet2d"),
        ("name", args.name or os.path.splitext(os.path.basename(args.output))[0]),
        ("in_channels", hp["in_channels"]),
        ("num_classes", hp["num_classes"]),
        ("dims", ",".join(map(str, hp["dims"]))),
        ("splits", ";".join("%d,%d" % tuple(s) for s in hp["splits"])),
        ("depths", ",".join(map(str, hp["depths"]))),
    ]
    if nd == 3:
        lines += [
            ("roi", "x".join(map(str, args.roi))),
            ("spacing", floats(args.spacing)),
            ("intensity_window", floats([args.a_min, args.a_max])),
            ("overlap", repr(float(args.overlap))),
            ("blend", args.blend),
            ("orientation", args.orientation),
        ]
    else:
        lines += [
            ("input_size", "%dx%d" % (args.input_size[0], args.input_size[1])),
            ("channel_order", pre["channel_order"]),
            ("resize", pre["resize"]),
            ("mean", floats(pre["mean"])),
            ("std", floats(pre["std"])),
            ("extra_scale", repr(float(pre["extra_scale"]))),
            ("threshold", repr(float(args.threshold))),
            ("preset", args.preset),
        ]
    lines += [
        ("classes", ",".join(class_names(hp, args))),
        ("source", (args.source or os.path.basename(args.checkpoint)).replace("\n", " ")),
    ]
    if args.demonstration:
        lines.append(("demonstration", "true"))
    return "".join("%s=%s\n" % (k, v) for k, v in lines).encode("utf-8")


def write_model(path, tensors, meta, fp16=False):
    """tensors: list of (name, np.ndarray float32). Writes the .lgms container."""
    table_off = HEADER + len(meta)
    table_off = (table_off + 7) // 8 * 8
    data_off = table_off + ENTRY * len(tensors)
    data_off = (data_off + ALIGN - 1) // ALIGN * ALIGN
    entries, blobs, off = [], [], 0
    for name, arr in tensors:
        raw = name.encode("utf-8")
        if len(raw) >= NAME_SIZE:
            raise ConvertError("tensor name too long for the file format: %s" % name)
        arr = np.ascontiguousarray(arr, dtype=np.float16 if fp16 else np.float32)
        if arr.ndim > 6:
            raise ConvertError("tensor %s has more than 6 dimensions" % name)
        shape = list(arr.shape) + [0] * (6 - arr.ndim)
        entries.append(struct.pack("<%dsII6IQ" % NAME_SIZE, raw, 1 if fp16 else 0, arr.ndim, *shape, off))
        data = arr.tobytes()
        pad = (-len(data)) % ALIGN
        blobs.append(data + b"\0" * pad)
        off += len(data) + pad
    header = struct.pack("<8sIIQQQQQQ", MAGIC, VERSION, len(tensors), HEADER, len(meta), table_off, data_off, off, 0)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(header)
        f.write(meta)
        f.write(b"\0" * (table_off - HEADER - len(meta)))
        for e in entries:
            f.write(e)
        f.write(b"\0" * (data_off - table_off - ENTRY * len(tensors)))
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_model(path):
    """(metadata dict, {name: np.ndarray float32}) of a .lgms file; used by tests."""
    with open(path, "rb") as f:
        buf = f.read()
    magic, version, count, meta_off, meta_size, table_off, data_off, data_size, _ = struct.unpack_from("<8sIIQQQQQQ", buf)
    if magic != MAGIC or version != VERSION:
        raise ConvertError("%s is not an lgms model file" % path)
    meta = dict(
        line.split("=", 1) for line in buf[meta_off : meta_off + meta_size].decode("utf-8").splitlines() if "=" in line
    )
    tensors = {}
    for i in range(count):
        raw = struct.unpack_from("<%dsII6IQ" % NAME_SIZE, buf, table_off + i * ENTRY)
        name = raw[0].split(b"\0", 1)[0].decode()
        dtype, ndim, shape, off = raw[1], raw[2], raw[3 : 3 + raw[2]], raw[9]
        n = int(np.prod(shape)) if ndim else 1
        arr = np.frombuffer(buf, DTYPES[dtype], n, data_off + off).reshape(shape)
        tensors[name] = arr.astype(np.float32)
    return meta, tensors


def load_port(path):
    """The project's PyTorch port with the weights of a .lgms file, in eval mode."""
    meta, tensors = read_model(path)
    hp = dict(
        in_channels=int(meta["in_channels"]),
        num_classes=int(meta["num_classes"]),
        dims=[int(v) for v in meta["dims"].split(",")],
        splits=[[int(v) for v in s.split(",")] for s in meta["splits"].split(";")],
        depths=[int(v) for v in meta.get("depths", "1,1,1").split(",")],
    )
    nd = 3 if meta.get("arch") == "lgmsnet3d" else 2
    model = lgmsnet.LGMSNet(**hp, spatial_dims=nd).eval()
    sd = model.state_dict()
    sd.update({k: torch.from_numpy(v.copy()) for k, v in tensors.items()})
    model.load_state_dict(sd)
    return model


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", help="PyTorch checkpoint (.pth)")
    ap.add_argument("-o", "--output", required=True, help="model file to write (.lgms)")
    ap.add_argument("--arch", default="2d", choices=["2d", "3d"], help="network variant: 2d (main.py) or 3d (main3d.py)")
    ap.add_argument("--roi", default="96x96x96", help="3d: DxHxW patch the network runs on (multiples of 32)")
    ap.add_argument("--spacing", default="1.5,1.5,2.0", help="3d: voxel spacing in mm (x,y,z) the model was trained at")
    ap.add_argument("--a-min", type=float, default=-175.0, help="3d: CT intensity mapped to 0")
    ap.add_argument("--a-max", type=float, default=250.0, help="3d: CT intensity mapped to 1")
    ap.add_argument("--overlap", type=float, default=0.5, help="3d: sliding-window overlap in [0, 1)")
    ap.add_argument("--blend", default="constant", choices=["constant", "gaussian"], help="3d: sliding-window blending")
    ap.add_argument("--orientation", default="RAS", choices=["RAS", "none"],
                    help="3d: voxel order the network was trained on: RAS (MONAI's Orientationd(axcodes='RAS'), "
                         "the BTCV recipe the other 3d defaults come from) or none (as stored)")
    ap.add_argument("--preset", default="busi", choices=sorted(preprocess.PRESETS), help="preprocessing of the official pipeline the checkpoint was trained with (default busi = official main.py)")
    ap.add_argument("--channel-order", choices=["rgb", "bgr"])
    ap.add_argument("--resize", choices=["bilinear", "lanczos4", "nearest"])
    ap.add_argument("--mean", help="three comma-separated values on the 0..1 scale")
    ap.add_argument("--std", help="three comma-separated values on the 0..1 scale")
    ap.add_argument("--extra-scale", type=float, help="factor applied after mean/std (1/255 for official main.py checkpoints)")
    ap.add_argument("--input-size", default="256x256", help="WxH the network runs at (multiples of 32; default 256x256)")
    ap.add_argument("--threshold", type=float, default=0.5, help="probability threshold of a one-class head")
    ap.add_argument("--classes", help="comma-separated foreground class names")
    ap.add_argument("--name", help="model name (default: output file name)")
    ap.add_argument("--source", help="provenance note stored in the file")
    ap.add_argument("--demonstration", action="store_true",
                    help="mark the weights as demonstration, not for clinical use (the web page shows a banner)")
    ap.add_argument("--fp16", action="store_true", help="store weights as float16 (half the size; the engine computes in float32)")
    args = ap.parse_args(argv)
    try:
        w, h = (int(v) for v in args.input_size.lower().split("x"))
        if w % 32 or h % 32 or w <= 0 or h <= 0:
            raise ValueError
        args.input_size = (w, h)
    except ValueError:
        ap.error("--input-size must be WxH, multiples of 32")
    if not 0 < args.threshold < 1:
        ap.error("--threshold must be in (0, 1)")
    nd = 3 if args.arch == "3d" else 2
    try:
        args.roi = [int(v) for v in args.roi.lower().split("x")]
        args.spacing = [float(v) for v in args.spacing.split(",")]
        if len(args.roi) != 3 or any(v <= 0 or v % 32 for v in args.roi) or len(args.spacing) != 3:
            raise ValueError
    except ValueError:
        ap.error("--roi must be DxHxW (multiples of 32) and --spacing three numbers")
    if not 0 <= args.overlap < 1 or not args.a_max > args.a_min:
        ap.error("--overlap must be in [0, 1) and --a-max above --a-min")
    pre = dict(preprocess.PRESETS[args.preset])
    for key in ("channel_order", "resize"):
        if getattr(args, key):
            pre[key] = getattr(args, key)
    for key in ("mean", "std"):
        if getattr(args, key):
            vals = [float(v) for v in getattr(args, key).split(",")]
            if len(vals) != 3:
                ap.error("--%s takes three values" % key)
            pre[key] = vals
    if args.extra_scale is not None:
        pre["extra_scale"] = args.extra_scale
    try:
        try:
            loaded = torch.load(args.checkpoint, map_location="cpu")
        except (OSError, RuntimeError):
            raise
        except Exception as e:  # pickle and zip errors of every kind: not a checkpoint
            raise ConvertError("%s is not a PyTorch checkpoint (%s: %s)" % (args.checkpoint, type(e).__name__, e))
        sd = unwrap(loaded)
        hp = infer_hparams(sd, nd)
        check_against_port(sd, hp, nd)
        tensors = [(k, v.detach().float().numpy()) for k, v in sd.items() if not k.endswith("num_batches_tracked")]
        meta = metadata_text(hp, pre, args, nd)
        write_model(args.output, tensors, meta, fp16=args.fp16)
    except (ConvertError, OSError, RuntimeError) as e:
        print("convert: error: %s" % e, file=sys.stderr)
        return 1
    print("wrote %s: %d tensors, dims %s, %d classes" % (args.output, len(tensors), hp["dims"], hp["num_classes"]), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
