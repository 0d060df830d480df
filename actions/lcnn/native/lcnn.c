/* The L-CNN's per-site kernels on a CPU (actions/lcnn/native/__init__.py compiles this file
 * with the machine's C compiler and calls it through ctypes; actions/lcnn/bilinear.py and
 * actions/lcnn/layers.py hold the PyTorch paths they reproduce).
 *
 * Exported, for T in {f32, f64} and N in {2, 3}:
 *   lcnn_bilinear_T_nN (bilinear_impl.h), lcnn_bilinear_scratch(N, J, K, Ip), the scratch
 *   elements a bilinear call needs; lcnn_bilinear_backward_T_nN (bilinear_bwd_impl.h);
 *   lcnn_conv_T_nN, lcnn_conv_backward_T_nN (conv_impl.h);
 *   lcnn_trace_T_nN, lcnn_trace_backward_T_nN (trace_impl.h);
 *   lcnn_vector_bytes(), the width of the vectors (vectors.h) that channel counts are
 *   padded to.
 */

#include "vectors.h"

long lcnn_vector_bytes(void) { return VBYTES; }

long lcnn_bilinear_scratch(long N, long J, long K, long Ip)
{
    return 2 * N * K * Ip + 2 * N * J + 2 * K * N * N + 2 * N * N * Ip;
}

/* the site strides st of a C-order lattice of extents L, and its volume S */
static void strides(long D, const long *L, long st[8], long *S)
{
    *S = 1;
    for (long mu = D - 1; mu >= 0; mu--) {
        st[mu] = *S;
        *S *= L[mu];
    }
}

/* the site next to s in direction mu, forward or backward, periodic (C-order sites, strides
 * st, extents L) */
static inline long neighbour(long s, long mu, int fwd, const long *L, const long *st)
{
    const long x = (s / st[mu]) % L[mu];
    if (fwd)
        return x == L[mu] - 1 ? s - (L[mu] - 1) * st[mu] : s + st[mu];
    return x == 0 ? s + (L[mu] - 1) * st[mu] : s - st[mu];
}

#define T float
#define V vf32
#define VU vf32u
#define VL (VBYTES / 4)

#define N 3
#define FN lcnn_bilinear_f32_n3
#define BBWD lcnn_bilinear_backward_f32_n3
#define FWD lcnn_conv_f32_n3
#define BWD lcnn_conv_backward_f32_n3
#define LOADV load_v_f32_n3
#define TRANSPORT_ROW transport_row_f32_n3
#define HSUM hsum_f32_n3
#define ROW row_f32_n3
#define ROWS_GEMM rows_gemm_f32_n3
#define TFWD lcnn_trace_f32_n3
#define TBWD lcnn_trace_backward_f32_n3
#define TPACK trace_pack_f32_n3
#define TVECMAT trace_vecmat_f32_n3
#include "bilinear_impl.h"
#include "bilinear_bwd_impl.h"
#include "conv_impl.h"
#include "trace_impl.h"
#undef N
#undef FN
#undef BBWD
#undef FWD
#undef BWD
#undef LOADV
#undef TRANSPORT_ROW
#undef HSUM
#undef ROW
#undef ROWS_GEMM
#undef TFWD
#undef TBWD
#undef TPACK
#undef TVECMAT

#define N 2
#define FN lcnn_bilinear_f32_n2
#define BBWD lcnn_bilinear_backward_f32_n2
#define FWD lcnn_conv_f32_n2
#define BWD lcnn_conv_backward_f32_n2
#define LOADV load_v_f32_n2
#define TRANSPORT_ROW transport_row_f32_n2
#define HSUM hsum_f32_n2
#define ROW row_f32_n2
#define ROWS_GEMM rows_gemm_f32_n2
#define TFWD lcnn_trace_f32_n2
#define TBWD lcnn_trace_backward_f32_n2
#define TPACK trace_pack_f32_n2
#define TVECMAT trace_vecmat_f32_n2
#include "bilinear_impl.h"
#include "bilinear_bwd_impl.h"
#include "conv_impl.h"
#include "trace_impl.h"
#undef N
#undef FN
#undef BBWD
#undef FWD
#undef BWD
#undef LOADV
#undef TRANSPORT_ROW
#undef HSUM
#undef ROW
#undef ROWS_GEMM
#undef TFWD
#undef TBWD
#undef TPACK
#undef TVECMAT

#undef T
#undef V
#undef VU
#undef VL

#define T double
#define V vf64
#define VU vf64u
#define VL (VBYTES / 8)

#define N 3
#define FN lcnn_bilinear_f64_n3
#define BBWD lcnn_bilinear_backward_f64_n3
#define FWD lcnn_conv_f64_n3
#define BWD lcnn_conv_backward_f64_n3
#define LOADV load_v_f64_n3
#define TRANSPORT_ROW transport_row_f64_n3
#define HSUM hsum_f64_n3
#define ROW row_f64_n3
#define ROWS_GEMM rows_gemm_f64_n3
#define TFWD lcnn_trace_f64_n3
#define TBWD lcnn_trace_backward_f64_n3
#define TPACK trace_pack_f64_n3
#define TVECMAT trace_vecmat_f64_n3
#include "bilinear_impl.h"
#include "bilinear_bwd_impl.h"
#include "conv_impl.h"
#include "trace_impl.h"
#undef N
#undef FN
#undef BBWD
#undef FWD
#undef BWD
#undef LOADV
#undef TRANSPORT_ROW
#undef HSUM
#undef ROW
#undef ROWS_GEMM
#undef TFWD
#undef TBWD
#undef TPACK
#undef TVECMAT

#define N 2
#define FN lcnn_bilinear_f64_n2
#define BBWD lcnn_bilinear_backward_f64_n2
#define FWD lcnn_conv_f64_n2
#define BWD lcnn_conv_backward_f64_n2
#define LOADV load_v_f64_n2
#define TRANSPORT_ROW transport_row_f64_n2
#define HSUM hsum_f64_n2
#define ROW row_f64_n2
#define ROWS_GEMM rows_gemm_f64_n2
#define TFWD lcnn_trace_f64_n2
#define TBWD lcnn_trace_backward_f64_n2
#define TPACK trace_pack_f64_n2
#define TVECMAT trace_vecmat_f64_n2
#include "bilinear_impl.h"
#include "bilinear_bwd_impl.h"
#include "conv_impl.h"
#include "trace_impl.h"
#undef N
#undef FN
#undef BBWD
#undef FWD
#undef BWD
#undef LOADV
#undef TRANSPORT_ROW
#undef HSUM
#undef ROW
#undef ROWS_GEMM
#undef TFWD
#undef TBWD
#undef TPACK
#undef TVECMAT

#undef T
#undef V
#undef VU
#undef VL
