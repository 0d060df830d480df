/* One specialisation of the bilinear layer's paired product (specialise.h includes this file
 * once per element type T, vector types V/VU of VL lanes and colour number N; PAIR names it).
 *
 * Per site the sum of two products over the extended channels j < J, k < K,
 *   P_jk = X_j Y_k + X'_j Y'_k,
 * each operand's stored channels followed by the identity where its flag is set and zero
 * after that; then, each where its output is not NULL,
 *   out_i = sum_{j,k} a_ijk P_jk,   da_ijk += Re sum_{b,x} <P_jk, G_i>.
 * The backward pass of the bilinear backward (dA_j = sum_ik a_ijk G_i B_k^dagger, dB_k =
 * sum_ij a_ijk A_j^dagger G_i) in G and a is this with X = R, Y = B, X' = A, Y' = S for the
 * upstream gradients R_j of dA_j and S_k of dB_k: one weight contraction for each of the two
 * outputs, where two products would take two.
 * Per site: Pt[(m, p, pl)][j Kp + k] (2N^2 x J Kp) over k in vectors; out = Pt wT, a
 * (2N^2 x J Kp)(J Kp x Ip) real product (ROWS_GEMM, 2N rows at a time); da += Pt^T g, rows of
 * da (WSUM of bilinear_wgrad_impl.h).
 * Layouts (T arrays, C order, 2 = real and imaginary part):
 *   wT (J, Kp, Ip)  wT[j][k][i] = a_ijk, zero for k >= K or i >= I
 *   X (n, nx, S, N, N, 2), Y (n, ny, ...), X2 (n, nx2, ...), Y2 (n, ny2, ...): stored channels
 *   G (n, I, S, N, N, 2)  out (n, I, S, N, N, 2)  da (J, Kp, Ip), accumulated
 *   id[4]: whether X, Y, X2, Y2 have the identity after their stored channels
 */

/* x[j][(m, l, pl)] = channel j of an operand with nc stored channels at site (b, s) */
static void PLOAD(const T *restrict X, long nc, int id, long C, long b, long s, long S,
                  T *restrict x)
{
    const long mat = 2 * N * N;
    for (long j = 0; j < nc; j++)
        PREFETCH(X + ((b * nc + j) * S + s) * mat, 0);
    for (long j = 0; j < C; j++)
        for (int e = 0; e < N * N; e++) {
            const T *src = X + ((b * nc + j) * S + s) * mat;
            x[j * mat + 2 * e] = j < nc ? src[2 * e] : j == nc && id && e % (N + 1) == 0;
            x[j * mat + 2 * e + 1] = j < nc ? src[2 * e + 1] : 0;
        }
}

void PAIR(const T *restrict wT, const T *restrict X, const T *restrict Y, const T *restrict X2,
          const T *restrict Y2, const T *restrict G, T *restrict out, T *restrict da, long n,
          long S, long J, long K, long I, long Ip, long Kp, const long *restrict nc,
          const int *restrict id, T *restrict scratch)
{
    const long mat = 2 * N * N, row = J * Kp;
    T *restrict Pt = scratch;             /* mat x row */
    T *restrict yt = Pt + mat * row;      /* 2 x mat x Kp: Y_k(l, p), Y'_k(l, p) over k */
    T *restrict x = yt + 2 * mat * Kp;    /* 2 x J x mat: X_j(m, l), X'_j(m, l) */
    T *restrict g = x + 2 * J * mat;      /* mat x Ip: G_i(m, p) over i */
    T *restrict o = g + mat * Ip;         /* mat x Ip: out_i(m, p) over i */
    T *restrict y = o + mat * Ip;         /* K x mat: one operand's channels */
    for (long e = 0; e < mat * Ip; e++)
        g[e] = 0; /* lanes i >= I stay zero */
    for (long e = 0; e < 2 * mat * Kp; e++)
        yt[e] = 0; /* lanes k >= K stay zero */
    for (long b = 0; b < n; b++)
        for (long s = 0; s < S; s++) {
            PLOAD(X, nc[0], id[0], J, b, s, S, x);
            PLOAD(X2, nc[2], id[2], J, b, s, S, x + J * mat);
            for (int t = 0; t < 2; t++) {
                PLOAD(t ? Y2 : Y, nc[1 + 2 * t], id[1 + 2 * t], K, b, s, S, y);
                for (long k = 0; k < K; k++)
                    for (int e = 0; e < mat; e++)
                        yt[(t * mat + e) * Kp + k] = y[k * mat + e];
            }
            /* Pt[(m, p, pl)][j, k] = sum_l X_j(m, l) Y_k(l, p) + X'_j(m, l) Y'_k(l, p) */
            for (long j = 0; j < J; j++)
                for (int m = 0; m < N; m++)
                    for (long k = 0; k < Kp; k += VL) {
                        V re[N] = {0}, im[N] = {0};
                        for (int t = 0; t < 2; t++)
                            for (int l = 0; l < N; l++) {
                                const T xr = x[(t * J + j) * mat + (m * N + l) * 2];
                                const T xi = x[(t * J + j) * mat + (m * N + l) * 2 + 1];
                                _Pragma("GCC unroll 16") for (int p = 0; p < N; p++)
                                {
                                    const T *yp = yt + (t * mat + (l * N + p) * 2) * Kp + k;
                                    const V yr = *(const VU *)yp, yi = *(const VU *)(yp + Kp);
                                    re[p] += xr * yr - xi * yi;
                                    im[p] += xr * yi + xi * yr;
                                }
                            }
                        for (int p = 0; p < N; p++) {
                            *(VU *)(Pt + ((m * N + p) * 2) * row + j * Kp + k) = re[p];
                            *(VU *)(Pt + ((m * N + p) * 2 + 1) * row + j * Kp + k) = im[p];
                        }
                    }
            if (out) {
                for (int r = 0; r < N; r++) /* rows 2N r .. 2N r + 2N - 1 of Pt */
                    ROWS_GEMM(Pt + 2 * N * r * row, row, wT, Ip, row, Ip / VL, o + 2 * N * r * Ip,
                              Ip);
                for (long i = 0; i < I; i++) {
                    T *dst = out + ((b * I + i) * S + s) * mat;
                    PREFETCH(dst, 1);
                    for (int e = 0; e < mat; e++)
                        dst[e] = o[e * Ip + i];
                }
            }
            if (da) {
                for (long i = 0; i < I; i++) {
                    const T *src = G + ((b * I + i) * S + s) * mat;
                    PREFETCH(src, 0);
                    for (int e = 0; e < mat; e++)
                        g[e * Ip + i] = src[e];
                }
                WSUM(Pt, 1, row, g, da, Ip, row, Ip / VL);
            }
        }
}
