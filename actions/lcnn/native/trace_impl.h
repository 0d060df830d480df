/* One specialisation of the traced bilinear kernels (specialise.h includes this file once per
 * element type T, vector types V/VU of VL lanes and colour number N; TFWD, TBWD and TWGRAD
 * name them).
 *
 * out_i = sum_{j,k} a_ijk Re Tr(X_j Y_k) per site, from the Gram matrix
 * G_jk = Re Tr(X_j Y_k) = sum_r x[j][r] y[r][k], r = (m, l, re/im), x[j][(m,l)] = X_j(m, l),
 * y[(m,l)][k] = conj Y_k(l, m) (so the real products give Re Tr); X (Y) extended by the
 * identity as its last channel where id_x (id_y). Layouts (T arrays, C order):
 *   w  (J, K, Ip)   w[j][k][i] = a_ijk    wt (I, J, Kp)   wt[i][j][k] = a_ijk (backward)
 *   X (n, J - id_x, S, N, N, 2)  Y (n, K - id_y, S, N, N, 2)  out, g (n, I, S)
 * Backward, with g the gradient of out: dG_jk = sum_i g_i a_ijk, dX_j = sum_k dG_jk Y_k^dagger,
 * dY_k = sum_j dG_jk X_j^dagger, as the real products dx = dG y^T and dy = x^T dG.
 * The weight gradient (TWGRAD): da_ijk = sum_{n,x} g_i G_jk.
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

/* out[0 .. nv VL) = sum_{q < nq} c[q sc] M[q ld + (0 .. nv VL)]: a row vector times a matrix,
 * four output vectors at a time (four independent chains of multiply-adds) */
static void TVECMAT(const T *restrict c, long sc, const T *restrict M, long ld, long nq,
                    long nv, T *restrict out)
{
    long v = 0;
    for (; v + 4 <= nv; v += 4) {
        V a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        for (long q = 0; q < nq; q++) {
            const T f = c[q * sc];
            const T *m = M + q * ld + v * VL;
            a0 += f * *(const VU *)m;
            a1 += f * *(const VU *)(m + VL);
            a2 += f * *(const VU *)(m + 2 * VL);
            a3 += f * *(const VU *)(m + 3 * VL);
        }
        *(VU *)(out + v * VL) = a0;
        *(VU *)(out + (v + 1) * VL) = a1;
        *(VU *)(out + (v + 2) * VL) = a2;
        *(VU *)(out + (v + 3) * VL) = a3;
    }
    for (; v < nv; v++) {
        V a0 = {0}, a1 = {0};
        long q = 0;
        for (; q + 2 <= nq; q += 2) {
            a0 += c[q * sc] * *(const VU *)(M + q * ld + v * VL);
            a1 += c[(q + 1) * sc] * *(const VU *)(M + (q + 1) * ld + v * VL);
        }
        if (q < nq)
            a0 += c[q * sc] * *(const VU *)(M + q * ld + v * VL);
        *(VU *)(out + v * VL) = a0 + a1;
    }
}

void TFWD(const T *restrict w, const T *restrict X, const T *restrict Y, T *restrict out,
          long n, long S, long J, long K, long I, long Ip, long Kp, int id_x, int id_y,
          T *restrict scratch)
{
    const long E2 = 2 * N * N;
    T *x = scratch, *y = x + J * E2, *G = y + E2 * Kp, *Gc = G + Kp, *o = Gc + J * K;
    for (long b = 0; b < n; b++)
        for (long s = 0; s < S; s++) {
            TPACK(X, Y, b, s, S, J, K, Kp, 0, id_x, id_y, x, y, 0);
            for (long j = 0; j < J; j++) { /* G_jk = sum_r x[j][r] y[r][k] */
                TVECMAT(x + j * E2, 1, y, Kp, E2, Kp / VL, G);
                for (long k = 0; k < K; k++)
                    Gc[j * K + k] = G[k];
            }
            TVECMAT(Gc, 1, w, Ip, J * K, Ip / VL, o);
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
    T *dx = dG + J * Kp, *dy = dx + J * Rp, *gs = dy + 2 * E * Kp;
    for (long b = 0; b < n; b++)
        for (long s = 0; s < S; s++) {
            TPACK(X, Y, b, s, S, J, K, Kp, Rp, id_x, id_y, x, y, yt);
            for (long i = 0; i < I; i++)
                gs[i] = g[(b * I + i) * S + s];
            for (long j = 0; j < J; j++) /* dG[j][k] = sum_i g_i a_ijk */
                TVECMAT(gs, 1, wt + j * Kp, J * Kp, I, Kp / VL, dG + j * Kp);
            for (long j = 0; j < Jx; j++) /* dx[j][r] = sum_k dG[j][k] y[r][k] */
                TVECMAT(dG + j * Kp, 1, yt, Rp, K, Rp / VL, dx + j * Rp);
            for (int r = 0; r < 2 * E; r++) /* dy[r][k] = sum_j x[j][r] dG[j][k] */
                TVECMAT(x + r, 2 * E, dG, Kp, J, Kp / VL, dy + r * Kp);
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

/* The weight gradient: da[i][(j, k)] += sum_{b,x} g_i G_jk, per site the Gram matrix as in TFWD
 * and a rank-one update of da (I, JKp), JKp >= J K a multiple of VL */
void TWGRAD(const T *restrict X, const T *restrict Y, const T *restrict g, T *restrict da, long n,
            long S, long J, long K, long I, long Kp, long JKp, int id_x, int id_y,
            T *restrict scratch)
{
    const long E2 = 2 * N * N;
    T *x = scratch, *y = x + J * E2, *G = y + E2 * Kp, *Gc = G + Kp;
    for (long e = 0; e < JKp; e++)
        Gc[e] = 0; /* entries past J K stay zero */
    for (long b = 0; b < n; b++)
        for (long s = 0; s < S; s++) {
            TPACK(X, Y, b, s, S, J, K, Kp, 0, id_x, id_y, x, y, 0);
            for (long j = 0; j < J; j++) {
                TVECMAT(x + j * E2, 1, y, Kp, E2, Kp / VL, G);
                for (long k = 0; k < K; k++)
                    Gc[j * K + k] = G[k];
            }
            for (long i = 0; i < I; i++) {
                const T f = g[(b * I + i) * S + s];
                T *d = da + i * JKp;
                for (long e = 0; e < JKp; e += VL)
                    *(VU *)(d + e) = *(const VU *)(d + e) + f * *(const VU *)(Gc + e);
            }
        }
}
