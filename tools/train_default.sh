#!/bin/sh
# Reproduces the shipped default model (models/lgmsnet-phantom.lgms); see docs/models.md.
# Stage 1 trains on random 128x128 crops of 256x256 phantoms (same pixel scale, 4x cheaper),
# stage 2 fine-tunes on whole 256x256 images (the crops cannot show a shadow's lesion above
# it). Stage 1 keeps a 9-epoch schedule but stops after 8, stage 2 a 4-epoch one but stops
# after 2 (held-out Dice was already 0.94). Run from the repo root.
set -eu
PY=/usr/bin/python3
OUT=${OUT:-build/train-default}
export MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736 MALLOC_TOP_PAD_=1073741824
$PY tools/phantom.py --out "$OUT/data" --count 1200 --seed 1000
$PY tools/train.py --data "$OUT/data" --out "$OUT/stage1" --preset busi --crop 128 \
    --epochs 9 --stop-after 8 --batch-size 16 --lr 0.02 --threads 2
$PY tools/train.py --data "$OUT/data" --out "$OUT/stage2" --preset busi \
    --epochs 4 --stop-after 2 --batch-size 8 --lr 0.01 --threads 2 --resume "$OUT/stage1/last.pth"
$PY tools/convert.py "$OUT/stage2/best.pth" -o models/lgmsnet-phantom.lgms --preset busi --classes lesion \
    --name lgmsnet-phantom --source "tools/train_default.sh (phantom seed 1000, 1200 images)" --demonstration
