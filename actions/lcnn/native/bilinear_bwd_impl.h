/* One specialisation of the bilinear layer's backward pass (specialise.h includes this file
 * once per element type T, vector types V/VU of VL lanes and colour number N; BBWD names it).
 *
 * For out_i = sum_{j,k} a_ijk A_j B_k (A, B extended by the identity as their last channel
 * where id_a, id_b) and G_i the gradient of out_i (torch's convention for complex tensors):
 *   H_jk = sum_i a_ijk G_i,  dA_j = sum_k H_jk B_k^dagger,  dB_k = sum_j A_j^dagger H_jk,
 * one weight contraction for both (against two for the backward as two forward products).
 * Per site and row m: H(m, .) = a (2N x I)(I x J Kp) real product; then
 *   dB_k(l, p) += sum_j conj A_j(m, l) H_jk(m, p) over k in vectors, and
 *   dA_j(m, l) = sum_{p,k} H_jk(m, p) conj B_k(l, p), a sum over k in vectors reduced at the end.
 * Layouts (T arrays, C order, 2 = real and imaginary part):
 *   w (I, J, Kp)  w[i][j][k] = a_ijk, zero for K <= k < Kp (a multiple of VL)
 *   A, dA (n, J - id_a, S, N, N, 2)  B, dB (n, K - id_b, S, N, N, 2)  G (n, I, S, N, N, 2)
 */

#define R (2 * N)

void BBWD(const T *restrict w, const T *restrict A, const T *restrict B, const T *restrict G,
          T *restrict dA, T *restrict dB, long n, long S, long J, long K, long I, long Kp,
          int id_a, int id_b, T *restrict scratch)
{
    const long Ja = J - id_a, Kb = K - id_b, mat = 2 * N * N, row = J * Kp, nv = row / VL;
    T *restrict H = scratch;          /* R x row: rows (pl, p) of H(m, .), columns (j, k) */
    T *restrict g = H + R * row;      /* R x I: rows (pl, p) of G(m, .) */
    T *restrict bc = g + R * I;       /* N x N x 2 x Kp: conj B_k(l, p) */
    T *restrict db = bc + mat * Kp;   /* N x N x 2 x Kp: dB_k(l, p) */
    T *restrict x = db + mat * Kp;    /* J x N x N x 2: A_j(m, l) */
    for (long b = 0; b < n; b++)
        for (long s = 0; s < S; s++) {
            for (long k = 0; k < Kp; k++) {
                const T *src = k < Kb ? B + ((b * Kb + k) * S + s) * mat : B;
                if (k < Kb)
                    PREFETCH(src, 0);
                for (int e = 0; e < N * N; e++) {
                    const T diag = k == Kb && id_b && e % (N + 1) == 0;
                    bc[(e * 2) * Kp + k] = k < Kb ? src[2 * e] : diag;
                    bc[(e * 2 + 1) * Kp + k] = k < Kb ? -src[2 * e + 1] : 0;
                }
            }
            for (long j = 0; j < Ja; j++)
                PREFETCH(A + ((b * Ja + j) * S + s) * mat, 0);
            for (long j = 0; j < J; j++)
                for (int e = 0; e < N * N; e++) {
                    const T *src = j < Ja ? A + ((b * Ja + j) * S + s) * mat : A;
                    x[j * mat + 2 * e] = j < Ja ? src[2 * e] : e % (N + 1) == 0;
                    x[j * mat + 2 * e + 1] = j < Ja ? src[2 * e + 1] : 0;
                }
            for (long e = 0; e < mat * Kp; e++)
                db[e] = 0;
            for (int m = 0; m < N; m++) {
                for (long i = 0; i < I; i++) {
                    const T *src = G + ((b * I + i) * S + s) * mat + m * N * 2;
                    if (m == 0)
                        PREFETCH(src, 0);
                    for (int p = 0; p < N; p++) {
                        g[p * I + i] = src[2 * p];
                        g[(N + p) * I + i] = src[2 * p + 1];
                    }
                }
                ROWS_GEMM(g, I, w, row, I, nv, H, row); /* H(m, .) */
                /* dB_k(l, p) += sum_j conj A_j(m, l) H_jk(m, p) */
                for (int l = 0; l < N; l++)
                    for (long k = 0; k < Kp; k += VL) {
                        V re[N] = {0}, im[N] = {0};
                        for (long j = 0; j < J; j++) {
                            const T ar = x[j * mat + (m * N + l) * 2];
                            const T ai = x[j * mat + (m * N + l) * 2 + 1];
                            _Pragma("GCC unroll 16") for (int p = 0; p < N; p++)
                            {
                                const V hr = *(const VU *)(H + p * row + j * Kp + k);
                                const V hi = *(const VU *)(H + (N + p) * row + j * Kp + k);
                                re[p] += ar * hr + ai * hi;
                                im[p] += ar * hi - ai * hr;
                            }
                        }
                        for (int p = 0; p < N; p++) {
                            T *d = db + ((l * N + p) * 2) * Kp + k;
                            *(VU *)d = *(const VU *)d + re[p];
                            *(VU *)(d + Kp) = *(const VU *)(d + Kp) + im[p];
                        }
                    }
                /* dA_j(m, l) = sum_{p,k} H_jk(m, p) conj B_k(l, p) */
                for (long j = 0; j < Ja; j++) {
                    V re[N] = {0}, im[N] = {0};
                    for (int p = 0; p < N; p++)
                        for (long k = 0; k < Kp; k += VL) {
                            const V hr = *(const VU *)(H + p * row + j * Kp + k);
                            const V hi = *(const VU *)(H + (N + p) * row + j * Kp + k);
                            _Pragma("GCC unroll 16") for (int l = 0; l < N; l++)
                            {
                                const V br = *(const VU *)(bc + ((l * N + p) * 2) * Kp + k);
                                const V bi = *(const VU *)(bc + ((l * N + p) * 2 + 1) * Kp + k);
                                re[l] += hr * br - hi * bi;
                                im[l] += hr * bi + hi * br;
                            }
                        }
                    T *dst = dA + ((b * Ja + j) * S + s) * mat + m * N * 2;
                    if (m == 0)
                        PREFETCH(dst, 1);
                    for (int l = 0; l < N; l++) {
                        T sr = 0, si = 0;
                        for (int v = 0; v < VL; v++) {
                            sr += re[l][v];
                            si += im[l][v];
                        }
                        dst[2 * l] = sr;
                        dst[2 * l + 1] = si;
                    }
                }
            }
            for (long k = 0; k < Kb; k++) {
                T *dst = dB + ((b * Kb + k) * S + s) * mat;
                PREFETCH(dst, 1);
                for (int e = 0; e < N * N; e++) {
                    dst[2 * e] = db[(e * 2) * Kp + k];
                    dst[2 * e + 1] = db[(e * 2 + 1) * Kp + k];
                }
            }
        }
}

#undef R
