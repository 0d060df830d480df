/* One specialisation of the bilinear kernel (specialise.h includes this file once per element
 * type T, vector type V/VU of VL lanes and colour number N; FN is the function's name).
 *
 * out_i = sum_{j,k} a_ijk X_j Y_k per site, X_j -> X_j^dagger where adj_x, Y_k -> Y_k^dagger
 * where adj_y; where id_x, X's last channel X_{J-1} is the identity and not stored (likewise
 * id_y). Layouts (T arrays, C order, 2 = real and imaginary part):
 *   w   (J, K, Ip)                 w[j][k][i] = a_ijk, zero for I <= i < Ip, Ip a multiple of VL
 *   X   (n, J - id_x, S, N, N, 2)  Y (n, K - id_y, S, N, N, 2)  out (n, I, S, N, N, 2)
 * Per site and row m of the result, in two stages:
 *   1. M[(pl, l)][k][i] = sum_j X_j(m, l)[pl] a_ijk, a (2N x J)(J x K Ip) real product,
 *   2. out_i(m, p) = sum_{l,k} (M_re + i M_im)[l][k][i] Y_k(l, p), over i in vectors.
 * Flops per site: 2 * 2N^2 * J * K * I (stage 1) + 8 N^3 K I (stage 2).
 */

#define R (2 * N)

void FN(const T *restrict w, const T *restrict X, const T *restrict Y, T *restrict out,
               long n, long S, long J, long K, long I, long Ip, int adj_x, int adj_y,
               int id_x, int id_y, T *restrict scratch)
{
    const long Jx = J - id_x, Ky = K - id_y, mat = 2 * N * N;
    const long row = K * Ip, nv = row / VL, iv_n = Ip / VL;
    T *restrict M = scratch;                 /* R x row */
    T *restrict x = M + R * row;             /* R x J: rows (pl, l) of X(m, .) */
    T *restrict y = x + R * J;               /* K x N x N x 2: Y_k(l, p) */
    T *restrict o = y + K * mat;             /* N x N x 2 x Ip: out(m, p)[pl][i] */
    for (long b = 0; b < n; b++) {
        for (long s = 0; s < S; s++) {
            for (long k = 0; k < Ky; k++) {
                const T *src = Y + ((b * Ky + k) * S + s) * mat;
                PREFETCH(src, 0);
                for (int l = 0; l < N; l++)
                    for (int p = 0; p < N; p++) {
                        const long e = adj_y ? (p * N + l) * 2 : (l * N + p) * 2;
                        y[(k * N * N + l * N + p) * 2] = src[e];
                        y[(k * N * N + l * N + p) * 2 + 1] = adj_y ? -src[e + 1] : src[e + 1];
                    }
            }
            if (id_y)
                for (int e = 0; e < N * N; e++) {
                    y[(Ky * N * N + e) * 2] = e % (N + 1) == 0;
                    y[(Ky * N * N + e) * 2 + 1] = 0;
                }
            for (int m = 0; m < N; m++) {
                if (id_x)
                    for (int l = 0; l < N; l++) {
                        x[l * J + Jx] = l == m;
                        x[(N + l) * J + Jx] = 0;
                    }
                for (long j = 0; j < Jx; j++) {
                    const T *src = X + ((b * Jx + j) * S + s) * mat;
                    if (m == 0)
                        PREFETCH(src, 0);
                    for (int l = 0; l < N; l++) {
                        const long e = adj_x ? (l * N + m) * 2 : (m * N + l) * 2;
                        x[l * J + j] = src[e];
                        x[(N + l) * J + j] = adj_x ? -src[e + 1] : src[e + 1];
                    }
                }
                ROWS_GEMM(x, J, w, row, J, nv, M, row); /* stage 1 */
                /* stage 2: out_i(m, p) over i in vectors */
                for (long iv = 0; iv < iv_n; iv++) {
                    V re[N] = {0}, im[N] = {0};
                    for (int l = 0; l < N; l++)
                        for (long k = 0; k < K; k++) {
                            const V mr = *(const VU *)(M + l * row + k * Ip + iv * VL);
                            const V mi = *(const VU *)(M + (N + l) * row + k * Ip + iv * VL);
                            const T *yk = y + (k * N * N + l * N) * 2;
                            for (int p = 0; p < N; p++) {
                                const T yr = yk[2 * p], yi = yk[2 * p + 1];
                                re[p] += mr * yr - mi * yi;
                                im[p] += mr * yi + mi * yr;
                            }
                        }
                    for (int p = 0; p < N; p++) {
                        *(VU *)(o + ((m * N + p) * 2) * Ip + iv * VL) = re[p];
                        *(VU *)(o + ((m * N + p) * 2 + 1) * Ip + iv * VL) = im[p];
                    }
                }
            }
            for (long i = 0; i < I; i++) {
                T *dst = out + ((b * I + i) * S + s) * mat;
                PREFETCH(dst, 1);
                for (int e = 0; e < N * N; e++) {
                    dst[2 * e] = o[(2 * e) * Ip + i];
                    dst[2 * e + 1] = o[(2 * e + 1) * Ip + i];
                }
            }
        }
    }
}

#undef R
