/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Bicubic resize of 8-bit RGB images, bit-exact with the reference path of
 * transformers' Qwen2VLImageProcessor (the torchvision "Fast" backend, the
 * v5 default) and Qwen3VLVideoProcessor:
 *
 *   torchvision.transforms.v2.functional.resize(uint8 tensor, BICUBIC,
 *   antialias=True) -> torch.nn.functional.interpolate(mode="bicubic",
 *   align_corners=False, antialias=True) on the uint8 tensor itself (on CPU
 *   torchvision does not convert bicubic uint8 input to float) ->
 *   aten::_upsample_bicubic2d_aa, uint8 branch.
 *
 * What that kernel does, and so what we do:
 * - separable: a horizontal pass into an 8-bit intermediate of (src_h,
 *   dst_w), then a vertical pass; a pass whose size does not change is
 *   skipped (an unchanged image is copied);
 * - per output index i: scale = in / out, support = 2 * max(scale, 1),
 *   center = scale * (i + 0.5), taps from trunc(center - support + 0.5)
 *   (at least 0) to trunc(center + support + 0.5) (at most in), weights
 *   k((j - center + 0.5) / max(scale, 1)) normalised to sum 1, all in double;
 * - k is Keys' cubic with a = -0.5 (PIL's), NOT the a = -0.75 of
 *   antialias=False bicubic: antialias=True always takes the -0.5 filter,
 *   for upscaling too;
 * - weights become int16 with the largest precision p (< 22) such that
 *   round(max_weight * 2^(p+1)) < 2^15, rounded half away from zero;
 * - each output is (2^(p-1) + sum w * x) >> p clamped to [0, 255] (round
 *   half up of the fixed-point sum), stored as uint8 after each pass.
 * The input dtype matters: resizing the same picture as float32 (what
 * torchvision does for uint8 input on CUDA: float, interpolate, clamp,
 * round) differs by up to 9 steps on ~1% of the pixels of the golden
 * pictures, because the float intermediate is neither clamped nor rounded;
 * so transformers' own output depends on the device it preprocesses on, and
 * we match its CPU result. PIL's BICUBIC (transformers' PIL backend) uses
 * 22-bit int32 weights and differs from it by one step on ~0.04% of the
 * pixels; it is not what we match either. */
#ifndef OMNI_VISION_RESIZE_H
#define OMNI_VISION_RESIZE_H

#include <glib.h>

/* Bytes of scratch omni_image_resize() needs for these sizes (weight tables
 * and the 8-bit intermediate). */
gsize omni_image_resize_scratch_size (int src_w, int src_h, int dst_w, int dst_h);

/* Resizes packed RGB8 @src (@src_w x @src_h, rows @src_stride bytes apart,
 * stride >= 3 * src_w) into @dst (@dst_w x @dst_h, rows @dst_stride apart)
 * as described above. @scratch holds omni_image_resize_scratch_size() bytes,
 * aligned for int32. A NULL pointer, a size < 1 or a short stride is
 * OMNI_ERROR_INVALID. No allocation. */
gboolean omni_image_resize (const guint8 *src, int src_w, int src_h, gsize src_stride,
                            guint8 *dst, int dst_w, int dst_h, gsize dst_stride,
                            gpointer scratch, GError **error);

#endif /* OMNI_VISION_RESIZE_H */
