/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Block weight formats (OMNI_DTYPE_Q8_32, OMNI_DTYPE_Q4_32): sizes, and the
 * portable quantize / dequantize every SIMD kernel is tested against. A row
 * of n elements is ceil(n / 32) blocks; a last partial block is zero-padded. */
#ifndef OMNI_QUANT_H
#define OMNI_QUANT_H

#include <glib.h>
#include "dtype.h"

/* Elements per block of the block dtypes. */
#define OMNI_QK 32

/* TRUE for OMNI_DTYPE_Q8_32 / OMNI_DTYPE_Q4_32. */
gboolean omni_dtype_is_block (OmniDType t);
/* Bytes of one row of @n elements of @t (any dtype; block dtypes round n up to 32). */
size_t omni_row_bytes (OmniDType t, int64_t n);
/* Bytes of a tensor of @n_rows rows of @n elements. */
size_t omni_tensor_bytes_for (OmniDType t, int64_t n_rows, int64_t n);
/* Quantizes one row of @n floats into @t's blocks (Q8_32 or Q4_32). */
void omni_quantize_row (OmniDType t, const float *x, void *dst, int64_t n);
/* Converts one row of @n elements of any float or block dtype to f32. */
void omni_dequantize_row (OmniDType t, const void *src, float *dst, int64_t n);

#endif /* OMNI_QUANT_H */
