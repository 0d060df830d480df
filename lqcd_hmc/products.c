/* C = op(A) op(B) for a batch of n complex N x N matrices (lqcd_hmc/products.py calls it
 * through ctypes), op the identity or the adjoint (adj_a, adj_b). Layouts: A, B, C (n, N, N,
 * 2), C order, 2 = real and imaginary part. The matrices are taken L at a time (L the lanes of
 * the widest vector registers, -march=native), one matrix per lane, so that every
 * multiply-add works on L products at once. Exported: product_T_nN, T in {f32, f64}, N in
 * {2, 3}. */

/* the widest vector registers' bytes: 64 with AVX-512, 32 with AVX, else 16 */
#define VBYTES __BIGGEST_ALIGNMENT__

#define PRODUCT(NAME, T, NN)                                                                   \
    typedef T NAME##_vec __attribute__((vector_size(VBYTES)));                                 \
    void NAME(const T *restrict A, const T *restrict B, T *restrict C, long n, int adj_a,     \
              int adj_b)                                                                       \
    {                                                                                          \
        enum { M = NN * NN * 2, L = VBYTES / sizeof(T) };                                      \
        const T sa = adj_a ? -1 : 1, sb = adj_b ? -1 : 1;                                      \
        for (long b0 = 0; b0 < n; b0 += L) {                                                   \
            const long nb = n - b0 < L ? n - b0 : L;                                           \
            NAME##_vec ar[NN][NN], ai[NN][NN], br[NN][NN], bi[NN][NN];                         \
            for (int i = 0; i < NN; i++)                                                       \
                for (int k = 0; k < NN; k++) {                                                 \
                    const int ea = adj_a ? (k * NN + i) * 2 : (i * NN + k) * 2;                \
                    const int eb = adj_b ? (k * NN + i) * 2 : (i * NN + k) * 2;                \
                    for (int l = 0; l < L; l++) { /* lanes past n repeat the first matrix */   \
                        const long m = (l < nb ? b0 + l : b0) * M;                             \
                        ar[i][k][l] = A[m + ea];                                               \
                        ai[i][k][l] = sa * A[m + ea + 1];                                      \
                        br[i][k][l] = B[m + eb];                                               \
                        bi[i][k][l] = sb * B[m + eb + 1];                                      \
                    }                                                                          \
                }                                                                              \
            for (int i = 0; i < NN; i++)                                                       \
                for (int j = 0; j < NN; j++) {                                                 \
                    NAME##_vec re = ar[i][0] * br[0][j] - ai[i][0] * bi[0][j];                 \
                    NAME##_vec im = ar[i][0] * bi[0][j] + ai[i][0] * br[0][j];                 \
                    for (int k = 1; k < NN; k++) {                                             \
                        re += ar[i][k] * br[k][j] - ai[i][k] * bi[k][j];                       \
                        im += ar[i][k] * bi[k][j] + ai[i][k] * br[k][j];                       \
                    }                                                                          \
                    for (int l = 0; l < nb; l++) {                                             \
                        C[(b0 + l) * M + (i * NN + j) * 2] = re[l];                            \
                        C[(b0 + l) * M + (i * NN + j) * 2 + 1] = im[l];                        \
                    }                                                                          \
                }                                                                              \
        }                                                                                      \
    }

PRODUCT(product_f32_n3, float, 3)
PRODUCT(product_f64_n3, double, 3)
PRODUCT(product_f32_n2, float, 2)
PRODUCT(product_f64_n2, double, 2)
