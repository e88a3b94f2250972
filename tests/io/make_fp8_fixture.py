#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Writes tests/io/dtype-fixture.safetensors: conversions computed by torch and
FP8 block dequantization computed by transformers' finegrained-FP8 code.
Development tool only (needs torch + transformers); the output is committed."""
import os
import torch
from safetensors.torch import save_file
from transformers.integrations import finegrained_fp8 as ff

here = os.path.dirname(os.path.abspath(__file__))
g = torch.Generator().manual_seed(1234)
out = {}

# every FP8 E4M3 code and its value
codes = torch.arange(256, dtype=torch.uint8)
out["fp8.codes"] = codes
out["fp8.values"] = codes.view(torch.float8_e4m3fn).to(torch.float32)

# f32 -> f16 / bf16 rounding: ties, overflow edges, subnormals, specials
special = [0.0, -0.0, 1.0, -1.0, 65504.0, 65519.99, 65520.0, 65536.0, 1e9, -1e9,
           6.103515625e-05, 6.1035e-05, 5.960464477539063e-08, 2.9802322387695312e-08,
           2.98023259e-08, 8.940696716308594e-08, 1e-10, -1e-10, 3.3895313892515355e+38,
           3.4028234663852886e+38, float("inf"), float("-inf"), float("nan"), -float("nan"),
           1.00048828125, 1.00146484375, 1.0009765625, 1.00390625, 1.01171875, 1.005859375]
ties16 = [(1024 + k + 0.5) * 2.0 ** e for k in range(0, 8) for e in (-10, -3, 0, 4)]
sub16 = [(k + 0.5) * 2.0 ** -24 for k in range(0, 16)]
bits = torch.randint(0, 2 ** 32, (3000,), generator=g, dtype=torch.int64)
rand = (bits.to(torch.int32)).view(torch.float32)
ties_bf = (torch.randint(-2 ** 15, 2 ** 15, (500,), generator=g, dtype=torch.int32) * 65536 + 32768).view(torch.float32)
scaled = torch.randn(2000, generator=g) * torch.exp2(torch.randint(-30, 18, (2000,), generator=g).float())
f32 = torch.cat([torch.tensor(special + ties16 + sub16, dtype=torch.float32), rand, ties_bf, scaled])
out["round.f32"] = f32
out["round.f16"] = f32.to(torch.float16)
out["round.bf16"] = f32.to(torch.bfloat16)

# f16 -> f32 for chosen codes (the full table is checked by round trip in C)
h = torch.tensor([0x0000, 0x8000, 0x0001, 0x8001, 0x03ff, 0x0400, 0x3c00, 0x7bff, 0xfbff,
                  0x7c00, 0xfc00, 0x7e00, 0x7c01, 0xfe00, 0x3555, 0x0200, 0x83ff], dtype=torch.int32)
out["f16.codes"] = h.to(torch.int16).view(torch.float16)
out["f16.values"] = out["f16.codes"].to(torch.float32)


def fp8_weight(shape):
    w = torch.randn(*shape, generator=g) * 100
    return w.clamp(-448, 448).to(torch.float8_e4m3fn)


def blocked(name, shape, scale_shape, block, scale_dtype):
    w = fp8_weight(shape)
    s = (torch.rand(*scale_shape, generator=g) * 0.01 + 1e-4).to(scale_dtype)
    ref = ff._dequantize_fp8_weight(w, s, list(block), torch.float32)
    # the load-time path agrees wherever the blocks divide the weight
    if all(n % b == 0 for n, b in zip(shape[-2:], block)):
        deq = ff.Fp8Dequantize.__new__(ff.Fp8Dequantize)
        alt = deq._dequantize_one(w, s, output_dtype=torch.float32)
        assert torch.equal(ref, alt), name
    out[name + ".weight"] = w
    out[name + ".weight_scale_inv"] = s
    out[name + ".expected"] = ref


# real 128x128 blocks with a partial last block row (needs the configured size)
blocked("b128", (144, 16), (2, 1), (128, 128), torch.float32)
# blocks that divide the weight: derivable from the shapes; BF16 scales
blocked("div", (64, 48), (2, 3), (32, 16), torch.bfloat16)
# partial blocks in both axes, block 32x16 configured
blocked("part", (72, 40), (3, 3), (32, 16), torch.float32)
# fused experts [E, N, K] with per-expert scale grids
blocked("experts", (2, 64, 32), (2, 2, 2), (32, 16), torch.float32)

path = os.path.join(here, "dtype-fixture.safetensors")
save_file({k: v.contiguous() for k, v in out.items()}, path)
print(path, os.path.getsize(path), "bytes")
