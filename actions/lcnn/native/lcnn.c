/* The L-CNN's per-site kernels on a CPU (lqcd_hmc/kernels/native.py compiles this file with
 * the machine's C compiler, actions/lcnn/native/__init__.py calls it through ctypes;
 * actions/lcnn/bilinear.py, hopconv.py and layers.py hold the PyTorch paths they reproduce).
 *
 * Exported, for T in {f32, f64} and N in {2, 3}:
 *   lcnn_bilinear_T_nN (bilinear_impl.h), lcnn_bilinear_scratch(N, J, K, Ip), the scratch
 *   elements a bilinear call needs; lcnn_bilinear_backward_T_nN (bilinear_bwd_impl.h);
 *   lcnn_bilinear_weight_grad_T_nN (bilinear_wgrad_impl.h); lcnn_bilinear_pair_T_nN
 *   (bilinear_pair_impl.h);
 *   lcnn_conv_T_nN, lcnn_conv_backward_T_nN, lcnn_conv_weight_grad_T_nN (conv_impl.h);
 *   lcnn_trace_T_nN, lcnn_trace_backward_T_nN, lcnn_trace_weight_grad_T_nN,
 *   lcnn_trace_pair_T_nN and lcnn_trace_scratch_T_nN, the scratch elements they need (trace_impl.h);
 *   lcnn_channels_last_T and lcnn_channels_first_T, the convolution's layout changes, and
 *   lcnn_with_adjoints_T and lcnn_fold_adjoints_T, the channel doubling (layout_impl.h);
 *   lcnn_vector_bytes(), the width of the vectors (vectors.h) that channel counts are
 *   padded to. types.h makes the vector types of one element type, specialise.h names and
 *   includes the kernels of one type and N.
 */

#include <stddef.h>

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
#define TS f32
#include "types.h"

#define T double
#define TS f64
#include "types.h"
