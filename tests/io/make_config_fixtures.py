#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Writes tests/io/configs/*.json: config.json files of the released Qwen
models as transformers 5.24 writes them (rope_parameters form), with the
values of shared/spec/qwen.md. The legacy-form files (*-legacy.json, the
rope_theta / rope_scaling form of the hub snapshots) are written by hand.
Development tool only; the output is committed."""
import json
import os
from transformers import (Qwen3Config, Qwen3MoeConfig, Qwen3VLConfig,
                          Qwen3OmniMoeConfig)

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
os.makedirs(out, exist_ok=True)


def save(name, cfg, arch):
    d = cfg.to_dict()
    d["architectures"] = [arch]
    for drop in ("talker_config", "code2wav_config"):
        d.pop(drop, None)
    with open(os.path.join(out, name), "w") as f:
        json.dump(d, f, indent=1, sort_keys=True)
        f.write("\n")


save("qwen3-0.6b.json", Qwen3Config(
    vocab_size=151936, hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
    num_attention_heads=16, num_key_value_heads=8, head_dim=128, max_position_embeddings=40960,
    rms_norm_eps=1e-6, tie_word_embeddings=True, bos_token_id=151643, eos_token_id=151645,
    rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}), "Qwen3ForCausalLM")

save("qwen3-30b-a3b.json", Qwen3MoeConfig(
    vocab_size=151936, hidden_size=2048, intermediate_size=6144, num_hidden_layers=48,
    num_attention_heads=32, num_key_value_heads=4, head_dim=128, max_position_embeddings=40960,
    moe_intermediate_size=768, num_experts=128, num_experts_per_tok=8, norm_topk_prob=True,
    decoder_sparse_step=1, mlp_only_layers=[], rms_norm_eps=1e-6, tie_word_embeddings=False,
    bos_token_id=151643, eos_token_id=151645,
    rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}), "Qwen3MoeForCausalLM")

mrope = {"rope_type": "default", "mrope_section": [24, 20, 20], "mrope_interleaved": True}
save("qwen3-vl-8b.json", Qwen3VLConfig(
    text_config=dict(vocab_size=151936, hidden_size=4096, intermediate_size=12288,
                     num_hidden_layers=36, num_attention_heads=32, num_key_value_heads=8,
                     head_dim=128, max_position_embeddings=262144, rms_norm_eps=1e-6,
                     bos_token_id=151643, eos_token_id=151645,
                     rope_parameters=dict(mrope, rope_theta=5000000.0)),
    vision_config=dict(depth=27, hidden_size=1152, intermediate_size=4304, num_heads=16,
                       out_hidden_size=4096, deepstack_visual_indexes=[8, 16, 24]),
    tie_word_embeddings=False), "Qwen3VLForConditionalGeneration")

save("qwen3-omni-30b-a3b-captioner.json", Qwen3OmniMoeConfig(
    enable_audio_output=False,
    thinker_config=dict(
        audio_token_id=151675, audio_start_token_id=151669, image_token_id=151655,
        video_token_id=151656, vision_start_token_id=151652, vision_end_token_id=151653,
        position_id_per_seconds=13, seconds_per_chunk=2,
        text_config=dict(vocab_size=152064, hidden_size=2048, num_hidden_layers=48,
                         num_attention_heads=32, num_key_value_heads=4, head_dim=128,
                         moe_intermediate_size=768, num_experts=128, num_experts_per_tok=8,
                         norm_topk_prob=True, decoder_sparse_step=1, mlp_only_layers=[],
                         rms_norm_eps=1e-6, max_position_embeddings=65536,
                         rope_parameters={"rope_type": "default", "rope_theta": 1000000.0,
                                          "mrope_section": [24, 20, 20], "interleaved": True,
                                          "mrope_interleaved": True}),
        audio_config=dict(num_mel_bins=128, encoder_layers=32, encoder_attention_heads=20,
                          encoder_ffn_dim=5120, d_model=1280, output_dim=2048),
        vision_config=dict(depth=27, hidden_size=1152, intermediate_size=4304, num_heads=16,
                           out_hidden_size=2048, deepstack_visual_indexes=[8, 16, 24]))),
    "Qwen3OmniMoeForConditionalGeneration")
print(sorted(os.listdir(out)))
