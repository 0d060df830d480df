/* The L-CNN bilinear layer's per-site products on a CPU, out_i = sum_{j,k} a_ijk X_j Y_k
 * (actions/lcnn/native/__init__.py compiles this file with the machine's C compiler and
 * calls it through ctypes; actions/lcnn/bilinear.py is the reference it reproduces).
 *
 * Exported: lcnn_bilinear_{f32,f64}_n{2,3}(w, X, Y, out, n, S, J, K, I, Ip, adj_x, adj_y,
 * scratch) and lcnn_bilinear_scratch(N, J, K, Ip), the scratch elements the call needs.
 * Vectors are GCC/Clang vector extensions of the widest registers the compiler targets
 * (-march=native), VBYTES bytes.
 */

#if defined(__AVX512F__)
#define VBYTES 64
#elif defined(__AVX__)
#define VBYTES 32
#else
#define VBYTES 16
#endif

typedef float vf32 __attribute__((vector_size(VBYTES)));
typedef float vf32u __attribute__((vector_size(VBYTES), aligned(4)));
typedef double vf64 __attribute__((vector_size(VBYTES)));
typedef double vf64u __attribute__((vector_size(VBYTES), aligned(8)));

long lcnn_vector_bytes(void) { return VBYTES; }

long lcnn_bilinear_scratch(long N, long J, long K, long Ip)
{
    return 2 * N * K * Ip + 2 * N * J + 2 * K * N * N + 2 * N * N * Ip;
}

#define T float
#define V vf32
#define VU vf32u
#define VL (VBYTES / 4)
#define N 3
#define FN lcnn_bilinear_f32_n3
#include "bilinear_impl.h"
#undef N
#undef FN
#define N 2
#define FN lcnn_bilinear_f32_n2
#include "bilinear_impl.h"
#undef N
#undef FN
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
#include "bilinear_impl.h"
#undef N
#undef FN
#define N 2
#define FN lcnn_bilinear_f64_n2
#include "bilinear_impl.h"
#undef N
#undef FN
#undef T
#undef V
#undef VU
#undef VL
