/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* preprocessor_config.json and video_preprocessor_config.json of the Qwen
 * vision models: what transformers' Qwen2VLImageProcessor (Qwen3-VL and
 * Qwen3-Omni use it for images) and Qwen3VLVideoProcessor read. The tower's
 * own config (config.json "vision_config") is io/vision-config.h. */
#ifndef OMNI_VISION_VISION_CONFIG_H
#define OMNI_VISION_VISION_CONFIG_H

#include <glib.h>

typedef struct {
  gint64 min_pixels;        /* size.shortest_edge, or "min_pixels" (wins, as transformers) */
  gint64 max_pixels;        /* size.longest_edge, or "max_pixels"; for video: t*h*w */
  int patch_size;           /* "patch_size" */
  int temporal_patch_size;  /* "temporal_patch_size" */
  int merge_size;           /* "merge_size" */
  float image_mean[3];      /* "image_mean" (a list of 3 or one number) */
  float image_std[3];       /* "image_std" */
  double rescale_factor;    /* "rescale_factor" */
  gboolean do_resize, do_rescale, do_normalize; /* "do_resize" ... */
  /* Video only ("fps", "min_frames", "max_frames"); images keep the
   * processor's class defaults, unused. */
  double fps;
  int min_frames, max_frames;
  gboolean video;           /* a video processor: pixel budgets count t*h*w */
} OmniVisionProcConfig;

/* Qwen3-VL's shipped preprocessor_config.json without a file: 65536..16777216
 * pixels, patch 16, temporal 2, merge 2, mean = std = 0.5, rescale 1/255. */
void omni_vision_proc_config_init_image (OmniVisionProcConfig *cfg);

/* Qwen3VLVideoProcessor's class defaults: 128*32*32 .. 768*32*32 pixels over
 * all frames, patch 16, temporal 2, merge 2, mean = std = 0.5, fps 2, 4..768
 * frames. */
void omni_vision_proc_config_init_video (OmniVisionProcConfig *cfg);

/* Parses a (video_)preprocessor_config.json, or a transformers v5
 * processor_config.json holding it under "image_processor" (or
 * "video_processor" when @video). Keys absent keep the defaults of
 * omni_vision_proc_config_init_image() / _video(). Errors name @path and the
 * key: OMNI_ERROR_IO (unreadable), OMNI_ERROR_FORMAT (bad value),
 * OMNI_ERROR_UNSUPPORTED (a resample other than 3 = bicubic, a processor
 * type we do not implement). */
gboolean omni_vision_proc_config_load (const char *path, gboolean video,
                                       OmniVisionProcConfig *cfg, GError **error);

/* Like omni_vision_proc_config_load() on @len bytes of JSON (@len -1:
 * NUL-terminated); @name stands for the file in messages. */
gboolean omni_vision_proc_config_parse (const char *name, const char *json, gssize len,
                                        gboolean video, OmniVisionProcConfig *cfg,
                                        GError **error);

/* The user's token budget ("256..1280 tokens"): each LLM token covers
 * (patch_size * merge_size)^2 pixels of an image, so min/max pixels become
 * tokens * (patch * merge)^2 (times temporal_patch_size for a video config,
 * whose budget counts every frame). @min_tokens or @max_tokens <= 0 keeps
 * that bound; min above max is OMNI_ERROR_INVALID. */
gboolean omni_vision_proc_config_set_tokens (OmniVisionProcConfig *cfg, int min_tokens,
                                             int max_tokens, GError **error);

#endif /* OMNI_VISION_VISION_CONFIG_H */
