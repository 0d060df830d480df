/* One specialisation of the traced bilinear kernels (specialise.h includes this file once per
 * element type T, vector types V/VU of VL lanes and colour number N; TFWD, TBWD, TWGRAD and
 * TPAIR name them).
 *
 * out_i = sum_{j,k} a_ijk Re Tr(X_j Y_k) per site, from the Gram matrix
 * G_jk = Re Tr(X_j Y_k) = sum_r x[j][r] y[r][k], r = (m, l, re/im), x[j][(m,l)] = X_j(m, l),
 * y[(m,l)][k] = conj Y_k(l, m) (so the real products give Re Tr); X (Y) extended by the
 * identity as its last channel where id_x (id_y). Layouts (T arrays, C order):
 *   w  (J, K, Ip)   w[j][k][i] = a_ijk    wt (I, J, Kp)   wt[i][j][k] = a_ijk (backward)
 *   X (n, J - id_x, S, N, N, 2)  Y (n, K - id_y, S, N, N, 2)  out, g (n, I, S)
 * Backward, with g the gradient of out: dG_jk = sum_i g_i a_ijk, dX_j = sum_k dG_jk Y_k^dagger,
 * dY_k = sum_j dG_jk X_j^dagger, as the real products dx = dG y^T and dy = x^T dG.
 * TBWD skips dX or dY where it is NULL. The weight gradient (TWGRAD): da_ijk = sum_{n,x} g_i
 * G_jk. TPAIR: both contractions of the sum of two Gram matrices (below).
 * Ip, Kp, Rp (>= 2 N^2) and JKp (>= J K) are multiples of VL. Every product is a ROWS_GEMM of
 * 2N rows: the Gram matrix in blocks of rows j (x padded to Jp rows), the weight contractions
 * (o = Gc w, dG = g wt) over blocks of 2N sites, dx and dy per site.
 */

/* The operands of site s, at any strides. TPACKX: x[j sj + r sr] = X_j entry r (r = (m, l,
 * re/im)) for X's Jx stored channels, the identity at channel Jx where id_x, zero up to J.
 * TPACKY: y[r sr + k sk] = entry r of Y_k^dagger transposed, conj Y_k(l, m), so that products
 * of x and y rows are Re Tr(X_j Y_k); Y's Ky channels, the identity at Ky where id_y, zero up
 * to K. TGRAM packs x (J x 2N^2) and y (2N^2 x Kp), TBWD both transposed. */
#define PF 3
static void TPACKX(const T *restrict X, long b, long s, long S, long Jx, int id_x, long J,
                   T *restrict x, long sj, long sr)
{
    const long E2 = 2 * N * N;
    for (long j = 0; j < Jx; j++) {
        const T *src = X + ((b * Jx + j) * S + s) * E2;
        PREFETCH(src, 0);
        for (int r = 0; r < E2; r++)
            x[j * sj + r * sr] = src[r];
    }
    for (long j = Jx; j < J; j++)
        for (int r = 0; r < E2; r++)
            x[j * sj + r * sr] = j == Jx && id_x && r % (2 * (N + 1)) == 0;
}

static void TPACKY(const T *restrict Y, long b, long s, long S, long Ky, int id_y, long K,
                   T *restrict y, long sk, long sr)
{
    const long E2 = 2 * N * N;
    for (long k = 0; k < Ky; k++) {
        const T *src = Y + ((b * Ky + k) * S + s) * E2;
        PREFETCH(src, 0);
        for (int m = 0; m < N; m++)
            for (int l = 0; l < N; l++) {
                const long r = (m * N + l) * 2, e = (l * N + m) * 2;
                y[r * sr + k * sk] = src[e];
                y[(r + 1) * sr + k * sk] = -src[e + 1];
            }
    }
    for (long k = Ky; k < K; k++)
        for (int r = 0; r < E2; r++)
            y[r * sr + k * sk] = k == Ky && id_y && r % (2 * (N + 1)) == 0;
}

#define R (2 * N)

/* scratch elements of one call of TFWD, TBWD, TWGRAD or TPAIR (the largest) */
long TSCRATCH(long J, long I, long Ip, long Kp, long Rp, long JKp)
{
    const long E2 = 2 * N * N, Jp = (J + R - 1) / R * R;
    const long fwd = Jp * E2 + E2 * Kp + Jp * Kp + R * JKp + R * Ip;
    const long bwd = Kp * Rp + E2 * Jp + R * I + R * J * Kp + (Jp - J) * Kp + Jp * Rp + E2 * Kp;
    const long wgrad = Jp * E2 + E2 * Kp + Jp * Kp + R * JKp + R * I;
    const long pair = wgrad + R * Ip;
    const long most = fwd > bwd ? (fwd > wgrad ? fwd : wgrad) : (bwd > wgrad ? bwd : wgrad);
    return most > pair ? most : pair;
}

/* the Gram matrix G_jk of site s into row gc[0 .. J K), or added to it where add (x: Jp x E2,
 * rows past J zero; stored channels and identities as TPACKX and TPACKY) */
static void TGRAM(const T *restrict X, const T *restrict Y, long b, long s, long S, long J,
                  long K, long Kp, long Jx, int id_x, long Ky, int id_y, int add, T *restrict x,
                  T *restrict y, T *restrict G, T *restrict gc)
{
    const long E2 = 2 * N * N, Jp = (J + R - 1) / R * R;
    TPACKX(X, b, s, S, Jx, id_x, J, x, E2, 1);
    TPACKY(Y, b, s, S, Ky, id_y, Kp, y, 1, Kp);
    for (long j = 0; j < Jp; j += R)
        ROWS_GEMM(x + j * E2, E2, y, Kp, E2, Kp / VL, G + j * Kp, Kp);
    for (long j = 0; j < J; j++)
        for (long k = 0; k < K; k++)
            gc[j * K + k] = (add ? gc[j * K + k] : 0) + G[j * Kp + k];
}

static void TZERO(T *p, long n)
{
    for (long e = 0; e < n; e++)
        p[e] = 0;
}

void TFWD(const T *restrict w, const T *restrict X, const T *restrict Y, T *restrict out,
          long n, long S, long J, long K, long I, long Ip, long Kp, int id_x, int id_y,
          T *restrict scratch)
{
    const long E2 = 2 * N * N, Jp = (J + R - 1) / R * R, JK = J * K;
    T *x = scratch, *y = x + Jp * E2, *G = y + E2 * Kp, *Gc = G + Jp * Kp, *o = Gc + R * JK;
    TZERO(x, Jp * E2);
    for (long b = 0; b < n; b++)
        for (long s0 = 0; s0 < S; s0 += R) {
            const long ns = S - s0 < R ? S - s0 : R;
            TZERO(Gc, R * JK);
            for (long t = 0; t < ns; t++)
                TGRAM(X, Y, b, s0 + t, S, J, K, Kp, J - id_x, id_x, K - id_y, id_y, 0, x, y, G,
                      Gc + t * JK);
            ROWS_GEMM(Gc, JK, w, Ip, JK, Ip / VL, o, Ip); /* o = Gc w, 2N sites */
            for (long t = 0; t < ns; t++)
                for (long i = 0; i < I; i++)
                    out[(b * I + i) * S + s0 + t] = o[t * Ip + i];
        }
}

void TBWD(const T *restrict wt, const T *restrict X, const T *restrict Y, const T *restrict g,
          T *restrict dX, T *restrict dY, long n, long S, long J, long K, long I, long Kp,
          long Rp, int id_x, int id_y, T *restrict scratch)
{
    const long E = N * N, E2 = 2 * E, Jx = J - id_x, Ky = K - id_y, Jp = (J + R - 1) / R * R;
    const long JKp = J * Kp;
    /* dGb: dG of 2N sites, then Jp - J zero rows, which the last site's dx reads (rows past J
     * of the others are the next site's: dx rows past J are not kept) */
    T *yt = scratch, *xt = yt + K * Rp, *gs = xt + E2 * Jp, *dGb = gs + R * I;
    T *dx = dGb + R * JKp + (Jp - J) * Kp, *dy = dx + Jp * Rp;
    TZERO(yt, K * Rp);
    TZERO(dGb + R * JKp, (Jp - J) * Kp);
    for (long b = 0; b < n; b++)
        for (long s0 = 0; s0 < S; s0 += R) {
            const long ns = S - s0 < R ? S - s0 : R;
            for (long t = 0; t < R; t++)
                for (long i = 0; i < I; i++)
                    gs[t * I + i] = t < ns ? g[(b * I + i) * S + s0 + t] : 0;
            ROWS_GEMM(gs, I, wt, JKp, I, JKp / VL, dGb, JKp); /* dG_jk = sum_i g_i a_ijk */
            for (long t = 0; t < ns; t++) {
                const long s = s0 + t;
                const T *dG = dGb + t * JKp;
                if (dY) /* xt[r][j] = x[j][r], yt[k][r] = y[r][k]: only where wanted */
                    TPACKX(X, b, s, S, Jx, id_x, J, xt, 1, Jp);
                if (dX)
                    TPACKY(Y, b, s, S, Ky, id_y, K, yt, Rp, 1);
                for (long j = 0; dX && j < J; j += R) /* dx[j][r] = sum_k dG[j][k] y[r][k] */
                    ROWS_GEMM(dG + j * Kp, Kp, yt, Rp, K, Rp / VL, dx + j * Rp, Rp);
                for (long r = 0; dY && r < E2; r += R) /* dy[r][k] = sum_j x[j][r] dG[j][k] */
                    ROWS_GEMM(xt + r * Jp, Jp, dG, Kp, J, Kp / VL, dy + r * Kp, Kp);
                for (long j = 0; dX && j < Jx; j++) {
                    T *dst = dX + ((b * Jx + j) * S + s) * E2;
                    PREFETCH(dst, 1);
                    for (int e = 0; e < E2; e++)
                        dst[e] = dx[j * Rp + e];
                }
                for (long k = 0; dY && k < Ky; k++) {
                    T *dst = dY + ((b * Ky + k) * S + s) * E2;
                    PREFETCH(dst, 1);
                    for (int m = 0; m < N; m++)
                        for (int l = 0; l < N; l++) {
                            const long r = (m * N + l) * 2, e = (l * N + m) * 2;
                            dst[e] = dy[r * Kp + k];
                            dst[e + 1] = -dy[(r + 1) * Kp + k];
                        }
                }
            }
        }
}

/* The paired traced product (the backward pass of TBWD's function in g and a): per site
 * P_jk = Re Tr(X_j Y_k) + Re Tr(X2_j Y2_k) (the second term where X2 is not NULL), each
 * operand's nc stored channels, then the identity where id, then zero; then out_i = sum_jk
 * a_ijk P_jk (out not NULL) and da[i][(j, k)] += sum_{b,x} g_i P_jk (da not NULL), over
 * blocks of 2N sites as TFWD */
void TPAIR(const T *restrict w, const T *restrict X, const T *restrict Y, const T *restrict X2,
           const T *restrict Y2, const T *restrict g, T *restrict out, T *restrict da, long n,
           long S, long J, long K, long I, long Ip, long Kp, long JKp, const long *restrict nc,
           const int *restrict id, T *restrict scratch)
{
    const long E2 = 2 * N * N, Jp = (J + R - 1) / R * R;
    T *x = scratch, *y = x + Jp * E2, *G = y + E2 * Kp, *Gc = G + Jp * Kp, *gs = Gc + R * JKp;
    T *o = gs + R * I;
    TZERO(x, Jp * E2);
    TZERO(Gc, R * JKp); /* entries past J K stay zero */
    for (long b = 0; b < n; b++)
        for (long s0 = 0; s0 < S; s0 += R) {
            const long ns = S - s0 < R ? S - s0 : R;
            for (long t = 0; t < R; t++) {
                for (long i = 0; da && i < I; i++)
                    gs[t * I + i] = t < ns ? g[(b * I + i) * S + s0 + t] : 0;
                if (t >= ns)
                    continue;
                T *gc = Gc + t * JKp;
                TGRAM(X, Y, b, s0 + t, S, J, K, Kp, nc[0], id[0], nc[1], id[1], 0, x, y, G, gc);
                if (X2)
                    TGRAM(X2, Y2, b, s0 + t, S, J, K, Kp, nc[2], id[2], nc[3], id[3], 1, x, y, G,
                          gc);
            }
            if (out) {
                ROWS_GEMM(Gc, JKp, w, Ip, JKp, Ip / VL, o, Ip); /* o = Gc w, 2N sites */
                for (long t = 0; t < ns; t++)
                    for (long i = 0; i < I; i++)
                        out[(b * I + i) * S + s0 + t] = o[t * Ip + i];
            }
            for (long i = 0; da && i < I; i++)
                for (long e = 0; e < JKp; e += VL) {
                    V acc = *(const VU *)(da + i * JKp + e);
                    for (int t = 0; t < R; t++)
                        acc += gs[t * I + i] * *(const VU *)(Gc + t * JKp + e);
                    *(VU *)(da + i * JKp + e) = acc;
                }
        }
}

/* The weight gradient: da[i][(j, k)] += sum_{b,x} g_i G_jk, the Gram matrices of 2N sites at a
 * time, then da (I, JKp) updated once per block (TPAIR without a second product or out) */
void TWGRAD(const T *restrict X, const T *restrict Y, const T *restrict g, T *restrict da, long n,
            long S, long J, long K, long I, long Kp, long JKp, int id_x, int id_y,
            T *restrict scratch)
{
    const long nc[4] = {J - id_x, K - id_y, 0, 0};
    const int id[4] = {id_x, id_y, 0, 0};
    TPAIR(NULL, X, Y, NULL, NULL, g, NULL, da, n, S, J, K, I, 0, Kp, JKp, nc, id, scratch);
}

#undef R
