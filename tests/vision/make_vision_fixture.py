#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Writes tests/vision/data/: the reference tables and pixels that
tests/vision/test-*.c compare our C preprocessing against.

- smart_resize.json: transformers' image smart_resize (qwen2_vl) and video
  smart_resize (qwen3_vl) on a table of sizes and budgets, "error" where
  transformers raises; Qwen3VLVideoProcessor.sample_frames indices and
  Qwen3VLProcessor._calculate_timestamps for a table of clips.
- pixels.safetensors + pixels.json: Qwen2VLImageProcessor (torchvision
  backend, the transformers v5 default) and Qwen3VLVideoProcessor on small
  synthetic images (a hash of x, y, channel, frame that the C test
  recomputes), with patch 8 to keep the file small: upscaling, downscaling,
  a mixed case hitting round-half-to-even, CLIP mean/std, an odd-length clip.

The pictures of the golden fixtures (tests/golden/images, pixels_<case> in
tests/golden/qwen3-vl/golden.safetensors) are compared by test-image.c too;
they are made by tests/golden/make_vision_golden.py.

Development tool only (torch, torchvision, transformers); run from anywhere:
    python3 tests/vision/make_vision_fixture.py
"""
import json
import os

import numpy as np
import torch
import transformers
from safetensors.torch import save_file
from transformers.models.qwen2_vl.image_processing_qwen2_vl import (
    Qwen2VLImageProcessor, smart_resize as image_smart_resize)
from transformers.models.qwen3_vl.processing_qwen3_vl import Qwen3VLProcessor
from transformers.models.qwen3_vl.video_processing_qwen3_vl import (
    Qwen3VLVideoProcessor, smart_resize as video_smart_resize)
from transformers.video_utils import VideoMetadata

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data")

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def pixel(x, y, c, f):
    """The synthetic picture: a 32-bit integer hash (test-image.c has the same)."""
    m = 0xFFFFFFFF
    h = (x * 374761393 + y * 668265263 + c * 2147483647 + f * 1103515245) & m
    h = ((h ^ (h >> 13)) * 1274126177) & m
    v = (h >> 16) & 255
    # flat areas and hard edges too, not only noise: every 8x8 block whose
    # index is even is one solid level
    if ((x // 8) + (y // 8)) % 2 == 0:
        v = ((x // 8) * 97 + (y // 8) * 41 + c * 60) & 255
    return v


def picture(w, h, frame=0):
    a = np.zeros((h, w, 3), dtype=np.uint8)
    for y in range(h):
        for x in range(w):
            for c in range(3):
                a[y, x, c] = pixel(x, y, c, frame)
    return a


def smart_resize_table():
    rows = []
    sizes = [(1, 1), (2, 2), (10, 10), (31, 33), (48, 64), (517, 333), (333, 517), (360, 640),
             (40, 1000), (1000, 40), (16, 3200), (16, 3201), (15, 3001), (1080, 1920),
             (4000, 3000), (20000, 20000), (100000, 600), (47, 48), (80, 16), (112, 112),
             (48, 9601), (1, 200), (1, 201), (3, 7), (640, 480), (720, 1280), (49, 49),
             (16, 16), (80, 80), (81, 79), (2160, 3840), (250, 50001)]
    budgets = [(32, 65536, 16777216), (32, 8192, 65536), (28, 3136, 1003520),
               (32, 256 * 1024, 1280 * 1024), (16, 2048, 4096), (32, 1024, 1024)]
    for (h, w) in sizes:
        for (factor, lo, hi) in budgets:
            try:
                oh, ow = image_smart_resize(h, w, factor=factor, min_pixels=lo, max_pixels=hi)
                rows.append([h, w, factor, lo, hi, oh, ow])
            except ValueError:
                rows.append([h, w, factor, lo, hi, "error"])
    vrows = []
    for t in (1, 2, 3, 6, 7, 64, 768):
        for (h, w) in [(120, 160), (10, 10), (31, 900), (1080, 1920), (3, 700), (48, 9700),
                       (720, 1280), (64, 64)]:
            for (lo, hi) in [(4096, 65536), (128 * 1024, 768 * 1024), (4096, 25165824)]:
                try:
                    oh, ow = video_smart_resize(t, h, w, temporal_factor=2, factor=32,
                                                min_pixels=lo, max_pixels=hi)
                    vrows.append([t, h, w, lo, hi, oh, ow])
                except ValueError:
                    vrows.append([t, h, w, lo, hi, "error"])
    return rows, vrows


def sampling_table():
    vp = Qwen3VLVideoProcessor()
    rows = []
    for total, vfps in [(6, 2.0), (1, 30.0), (3, 30.0), (5, 25.0), (30, 30.0), (31, 29.97),
                        (100, 24.0), (1001, 30000 / 1001), (7, 1.0), (2, 2.0), (10000, 25.0),
                        (3000, 10.0), (45, 15.0), (17, 3.0)]:
        for (fps, lo, hi) in [(2.0, 4, 768), (1.0, 4, 768), (2.0, 2, 8), (0.5, 1, 16)]:
            vp.fps, vp.min_frames, vp.max_frames = fps, lo, hi
            meta = VideoMetadata(total_num_frames=total, fps=vfps)
            idx = vp.sample_frames(meta, fps=fps).tolist()
            ts = Qwen3VLProcessor._calculate_timestamps(None, list(idx), vfps, 2)
            rows.append(dict(total=total, video_fps=vfps, fps=fps, min_frames=lo,
                             max_frames=hi, indices=idx, timestamps=ts))
    return rows


IMAGE_CASES = [  # name, width, height, config
    ("up", 37, 23, dict(size={"shortest_edge": 2048, "longest_edge": 4096})),
    ("down", 203, 150, dict(size={"shortest_edge": 1024, "longest_edge": 4096})),
    ("mixed", 200, 9, dict(size={"shortest_edge": 2048, "longest_edge": 4096})),
    ("clip_norm", 61, 45, dict(size={"shortest_edge": 1024, "longest_edge": 3072},
                               image_mean=CLIP_MEAN, image_std=CLIP_STD)),
    ("same", 64, 32, dict(size={"shortest_edge": 1024, "longest_edge": 4096})),
]
VIDEO_CASE = ("odd_clip", 3, 45, 29, dict(size={"shortest_edge": 1024, "longest_edge": 8192}))


def image_processor(extra):
    kw = dict(patch_size=8, temporal_patch_size=2, merge_size=2, image_mean=[0.5] * 3,
              image_std=[0.5] * 3)
    kw.update(extra)
    return Qwen2VLImageProcessor(**kw)


def main():
    os.makedirs(OUT, exist_ok=True)
    rows, vrows = smart_resize_table()
    table = dict(transformers=transformers.__version__,
                 image_columns=["h", "w", "factor", "min_pixels", "max_pixels", "out_h", "out_w"],
                 image=rows,
                 video_columns=["t", "h", "w", "min_pixels", "max_pixels", "out_h", "out_w"],
                 video_factor=32, video_temporal_factor=2, video=vrows,
                 sampling=sampling_table())
    with open(os.path.join(OUT, "smart_resize.json"), "w") as f:
        json.dump(table, f, indent=0)
        f.write("\n")

    tensors, cases = {}, []
    for name, w, h, extra in IMAGE_CASES:
        proc = image_processor(extra)
        img = torch.from_numpy(picture(w, h)).permute(2, 0, 1).contiguous()
        out = proc(images=[img], return_tensors="pt")
        tensors["pixels_" + name] = out["pixel_values"].contiguous()
        cfg = dict(patch_size=8, temporal_patch_size=2, merge_size=2,
                   image_mean=extra.get("image_mean", [0.5] * 3),
                   image_std=extra.get("image_std", [0.5] * 3), size=extra["size"],
                   image_processor_type="Qwen2VLImageProcessorFast")
        cases.append(dict(name=name, kind="image", width=w, height=h, config=cfg,
                          grid_thw=out["image_grid_thw"][0].tolist()))
    name, n, w, h, extra = VIDEO_CASE
    vp = Qwen3VLVideoProcessor(patch_size=8, temporal_patch_size=2, merge_size=2, **extra)
    frames = torch.stack([torch.from_numpy(picture(w, h, f)).permute(2, 0, 1) for f in range(n)])
    out = vp(videos=[frames], do_sample_frames=False, cap_pixels_per_frame=False,
             return_tensors="pt")
    tensors["pixels_" + name] = out["pixel_values_videos"].contiguous()
    cfg = dict(patch_size=8, temporal_patch_size=2, merge_size=2, size=extra["size"],
               video_processor_type="Qwen3VLVideoProcessor")
    cases.append(dict(name=name, kind="video", width=w, height=h, frames=n, config=cfg,
                      grid_thw=out["video_grid_thw"][0].tolist()))
    save_file(tensors, os.path.join(OUT, "pixels.safetensors"))
    with open(os.path.join(OUT, "pixels.json"), "w") as f:
        json.dump(dict(transformers=transformers.__version__, torch=torch.__version__,
                       backend="torchvision (Qwen2VLImageProcessor, v5 default)",
                       cases=cases), f, indent=1)
        f.write("\n")
    for k, v in tensors.items():
        print(k, tuple(v.shape))


if __name__ == "__main__":
    main()
