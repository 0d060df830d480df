/* One specialisation of the traced bilinear kernels (lcnn.c includes this file once per
 * element type T, vector types V/VU of VL lanes and colour number N; TFWD and TBWD name them).
 *
 * out_i = sum_{j,k} a_ijk Re Tr(X_j Y_k) per site, from the Gram matrix
 * G_jk = Re Tr(X_j Y_k) = sum_r x[j][r] y[r][k], r = (m, l, re/im), x[j][(m,l)] = X_j(m, l),
 * y[(m,l)][k] = conj Y_k(l, m) (so the real products give Re Tr); X (Y) extended by the
 * identity as its last channel where id_x (id_y). Layouts (T arrays, C order):
 *   w  (J, K, Ip)   w[j][k][i] = a_ijk    wt (I, J, Kp)   wt[i][j][k] = a_ijk (backward)
 *   X (n, J - id_x, S, N, N, 2)  Y (n, K - id_y, S, N, N, 2)  out, g (n, I, S)
 * Backward, with g the gradient of out: dG_jk = sum_i g_i a_ijk, dX_j = sum_k dG_jk Y_k^dagger,
 * dY_k = sum_j dG_jk X_j^dagger, as the real products dx = dG y^T and dy = x^T dG.
 * Ip, Kp and Rp (>= 2 N^2) are multiples of VL.
 */

static void TPACK(const T *restrict X, const T *restrict Y, long b, long s, long S, long J,
                  long K, long Kp, long Rp, int id_x, int id_y, T *restrict x, T *restrict y,
                  T *restrict yt)
{
    const long E = N * N, Jx = J - id_x, Ky = K - id_y;
    for (long j = 0; j < J; j++) {
        const T *src = j < Jx ? X + ((b * Jx + j) * S + s) * 2 * E : X;
        for (int e = 0; e < E; e++) {
            const int diag = e % (N + 1) == 0;
            x[j * 2 * E + 2 * e] = j < Jx ? src[2 * e] : diag;
            x[j * 2 * E + 2 * e + 1] = j < Jx ? src[2 * e + 1] : 0;
        }
    }
    for (long k = 0; k < Kp; k++) {
        const T *src = k < Ky ? Y + ((b * Ky + k) * S + s) * 2 * E : Y;
        for (int m = 0; m < N; m++)
            for (int l = 0; l < N; l++) {
                const long r = (m * N + l) * 2, e = (l * N + m) * 2;
                const T re = k < Ky ? src[e] : k == Ky && id_y ? l == m : 0;
                const T im = k < Ky ? -src[e + 1] : 0;
                y[r * Kp + k] = re;
                y[(r + 1) * Kp + k] = im;
                if (yt) {
                    yt[k * Rp + r] = re;
                    yt[k * Rp + r + 1] = im;
                }
            }
    }
    if (yt)
        for (long k = 0; k < Kp; k++)
            for (long r = 2 * E; r < Rp; r++)
                yt[k * Rp + r] = 0;
}

/* G[j][k] = sum_r x[j][r] y[r][k], over k in vectors */
static void TGRAM(const T *restrict x, const T *restrict y, T *restrict G, long J, long Kp)
{
    for (long j = 0; j < J; j++)
        for (long k = 0; k < Kp; k += VL) {
            V acc = {0};
            for (int r = 0; r < 2 * N * N; r++)
                acc += x[j * 2 * N * N + r] * *(const VU *)(y + r * Kp + k);
            *(VU *)(G + j * Kp + k) = acc;
        }
}

void TFWD(const T *restrict w, const T *restrict X, const T *restrict Y, T *restrict out,
          long n, long S, long J, long K, long I, long Ip, long Kp, int id_x, int id_y,
          T *restrict scratch)
{
    T *x = scratch, *y = x + J * 2 * N * N, *G = y + 2 * N * N * Kp, *o = G + J * Kp;
    for (long b = 0; b < n; b++)
        for (long s = 0; s < S; s++) {
            TPACK(X, Y, b, s, S, J, K, Kp, 0, id_x, id_y, x, y, 0);
            TGRAM(x, y, G, J, Kp);
            for (long i = 0; i < Ip; i += VL) {
                V acc = {0};
                for (long j = 0; j < J; j++)
                    for (long k = 0; k < K; k++)
                        acc += G[j * Kp + k] * *(const VU *)(w + (j * K + k) * Ip + i);
                *(VU *)(o + i) = acc;
            }
            for (long i = 0; i < I; i++)
                out[(b * I + i) * S + s] = o[i];
        }
}

void TBWD(const T *restrict wt, const T *restrict X, const T *restrict Y, const T *restrict g,
          T *restrict dX, T *restrict dY, long n, long S, long J, long K, long I, long Kp,
          long Rp, int id_x, int id_y, T *restrict scratch)
{
    const long E = N * N, Jx = J - id_x, Ky = K - id_y;
    T *x = scratch, *y = x + J * 2 * E, *yt = y + 2 * E * Kp, *dG = yt + Kp * Rp;
    T *dx = dG + J * Kp, *dy = dx + J * Rp;
    for (long b = 0; b < n; b++)
        for (long s = 0; s < S; s++) {
            TPACK(X, Y, b, s, S, J, K, Kp, Rp, id_x, id_y, x, y, yt);
            for (long j = 0; j < J; j++) /* dG = sum_i g_i a_i.. */
                for (long k = 0; k < Kp; k += VL) {
                    V acc = {0};
                    for (long i = 0; i < I; i++)
                        acc += g[(b * I + i) * S + s] * *(const VU *)(wt + (i * J + j) * Kp + k);
                    *(VU *)(dG + j * Kp + k) = acc;
                }
            for (long j = 0; j < Jx; j++) /* dx[j][r] = sum_k dG[j][k] y[r][k] */
                for (long r = 0; r < Rp; r += VL) {
                    V acc = {0};
                    for (long k = 0; k < K; k++)
                        acc += dG[j * Kp + k] * *(const VU *)(yt + k * Rp + r);
                    *(VU *)(dx + j * Rp + r) = acc;
                }
            for (int r = 0; r < 2 * E; r++) /* dy[r][k] = sum_j x[j][r] dG[j][k] */
                for (long k = 0; k < Kp; k += VL) {
                    V acc = {0};
                    for (long j = 0; j < J; j++)
                        acc += x[j * 2 * E + r] * *(const VU *)(dG + j * Kp + k);
                    *(VU *)(dy + r * Kp + k) = acc;
                }
            for (long j = 0; j < Jx; j++) {
                T *dst = dX + ((b * Jx + j) * S + s) * 2 * E;
                for (int e = 0; e < 2 * E; e++)
                    dst[e] = dx[j * Rp + e];
            }
            for (long k = 0; k < Ky; k++) {
                T *dst = dY + ((b * Ky + k) * S + s) * 2 * E;
                for (int m = 0; m < N; m++)
                    for (int l = 0; l < N; l++) {
                        const long r = (m * N + l) * 2, e = (l * N + m) * 2;
                        dst[e] = dy[r * Kp + k];
                        dst[e + 1] = -dy[(r + 1) * Kp + k];
                    }
            }
        }
}
