/* One specialisation of the convolution's hop kernels (lcnn.c includes this file once per
 * element type T, vector types V/VU of VL lanes and colour number N; FWD, BWD and LOADV name
 * its functions).
 *
 * out(x) = Y_0(x) + sum_h T_h Y_h(x): the L-CNN convolution of kernel size 2 (layers.py,
 * LConv) after its channel mixing, with the one-hop transports (transport.py)
 *   T_{+mu} W(x) = V W(x + mu) V^dagger, V = U_mu(x),
 *   T_{-mu} W(x) = V W(x - mu) V^dagger, V = U_mu(x - mu)^dagger,
 * hops h = (mu, +), (mu, -) for mu = 0 .. D-1. Layouts (T arrays, C order, 2 = real and
 * imaginary part; E = N^2 matrix entries; C a multiple of VL):
 *   U (n, D, S, N, N, 2)   Y, dY (2 D + 1, n, S, E, 2, C): block 0 the local term, block
 *   1 + h hop h, so that a site's block of one hop is contiguous
 *   out, G (n, S, E, 2, C) dU (n, D, S, N, N, 2), accumulated into (the caller zeroes it)
 * The backward pass, with G the gradient of out in torch's convention for complex tensors:
 *   dY_0(x) = G(x),  dY_h(x + h) = V^dagger G(x) V,
 *   dV = sum_c G_c V Y_c^dagger + G_c^dagger V Y_c (Y = Y_h(x + h))
 *      = sum_{q,p} V_qp M_{aq,kp} + sum_{p,n} V_pn conj(M_{pa,nk}) with the channel sum
 *        M_{aq,kp} = sum_c G_c(a, q) conj(Y_c(k, p)),
 *   dU_mu(x) += dV (hop +mu), dU_mu(x - mu) += dV^dagger (hop -mu).
 */

static void LOADV(const T *u, int fwd, T vr[N][N], T vi[N][N])
{
    for (int a = 0; a < N; a++)
        for (int c = 0; c < N; c++) {
            const long e = fwd ? (a * N + c) * 2 : (c * N + a) * 2;
            vr[a][c] = u[e];
            vi[a][c] = fwd ? u[e + 1] : -u[e + 1];
        }
}

/* acc + (V W V^dagger)(m, .) for one row m, over channels c .. c + VL of W (row stride 2 C
 * between (entry, part) rows); the row is passed by value, so that it stays in registers */
typedef struct {
    V r[N], i[N];
} ROW;

static inline ROW TRANSPORT_ROW(const T vr[N][N], const T vi[N][N], const T *restrict W,
                                long C, long c, int m, ROW acc)
{
    V *ar = acc.r, *ai = acc.i;
    V zr[N] = {0}, zi[N] = {0}; /* Z = (V W)(m, .) */
    _Pragma("GCC unroll 16") for (int k = 0; k < N; k++)
    {
        const T a = vr[m][k], b = vi[m][k];
        _Pragma("GCC unroll 16") for (int p = 0; p < N; p++)
        {
            const V wr = *(const VU *)(W + ((k * N + p) * 2) * C + c);
            const V wi = *(const VU *)(W + ((k * N + p) * 2 + 1) * C + c);
            zr[p] += a * wr - b * wi;
            zi[p] += a * wi + b * wr;
        }
    }
    _Pragma("GCC unroll 16") for (int q = 0; q < N; q++)
        _Pragma("GCC unroll 16") for (int p = 0; p < N; p++)
        {
            const T a = vr[q][p], b = vi[q][p];
            ar[q] += zr[p] * a + zi[p] * b;
            ai[q] += zi[p] * a - zr[p] * b;
        }
    return acc;
}

void FWD(const T *restrict U, const T *restrict Y, T *restrict out, long n, long D,
         const long *L, long C)
{
    long st[8], S = 1;
    for (long mu = D - 1; mu >= 0; mu--) {
        st[mu] = S;
        S *= L[mu];
    }
    const long E = N * N, blk = E * 2 * C;
    for (long b = 0; b < n; b++)
        for (long s = 0; s < S; s++) {
            const T *Ys = Y + (b * S + s) * blk;
            T *o = out + (b * S + s) * blk;
            T vr[8][N][N], vi[8][N][N];
            const T *Yn[8];
            for (long h = 0; h < 2 * D; h++) {
                const long mu = h / 2, y = neighbour(s, mu, h % 2 == 0, L, st);
                LOADV(U + ((b * D + mu) * S + (h % 2 == 0 ? s : y)) * E * 2, h % 2 == 0, vr[h],
                      vi[h]);
                Yn[h] = Y + (((1 + h) * n + b) * S + y) * blk;
            }
            for (long c = 0; c < C; c += VL)
                for (int m = 0; m < N; m++) {
                    ROW acc;
                    for (int q = 0; q < N; q++) {
                        acc.r[q] = *(const VU *)(Ys + ((m * N + q) * 2) * C + c);
                        acc.i[q] = *(const VU *)(Ys + ((m * N + q) * 2 + 1) * C + c);
                    }
                    for (long h = 0; h < 2 * D; h++)
                        acc = TRANSPORT_ROW(vr[h], vi[h], Yn[h], C, c, m, acc);
                    for (int q = 0; q < N; q++) {
                        *(VU *)(o + ((m * N + q) * 2) * C + c) = acc.r[q];
                        *(VU *)(o + ((m * N + q) * 2 + 1) * C + c) = acc.i[q];
                    }
                }
        }
}

static inline T HSUM(V v)
{
    T s = 0;
    for (int l = 0; l < VL; l++)
        s += v[l];
    return s;
}

void BWD(const T *restrict U, const T *restrict Y, const T *restrict G, T *restrict dY,
         T *restrict dU, long n, long D, const long *L, long C)
{
    long st[8], S = 1;
    for (long mu = D - 1; mu >= 0; mu--) {
        st[mu] = S;
        S *= L[mu];
    }
    const long E = N * N, blk = E * 2 * C;
    for (long r = 0; r < n * S * blk; r++)
        dY[r] = G[r];
    /* hop by hop over all sites: four streams through memory (G, Y_h, dY_h, dU_mu) that the
     * prefetchers follow, where all hops at once took 2.5x longer per site on 8^4 than 4^4 */
    for (long h = 0; h < 2 * D; h++)
        for (long b = 0; b < n; b++)
            for (long s = 0; s < S; s++) {
                const T *g = G + (b * S + s) * blk;
                const long mu = h / 2;
                const int fwd = h % 2 == 0;
                const long y = neighbour(s, mu, fwd, L, st);
                T vr[N][N], vi[N][N], hr[N][N], hi[N][N];
                LOADV(U + ((b * D + mu) * S + (fwd ? s : y)) * E * 2, fwd, vr, vi);
                for (int a = 0; a < N; a++) /* V^dagger, as a matrix to transport with */
                    for (int k = 0; k < N; k++) {
                        hr[a][k] = vr[k][a];
                        hi[a][k] = -vi[k][a];
                    }
                const T *Yn = Y + (((1 + h) * n + b) * S + y) * blk;
                T *dYn = dY + (((1 + h) * n + b) * S + y) * blk;
                for (long c = 0; c < C; c += VL) /* dY_h = V^dagger G V, row by row */
                    for (int m = 0; m < N; m++) {
                        const ROW acc = TRANSPORT_ROW(hr, hi, g, C, c, m, (ROW){0});
                        for (int q = 0; q < N; q++) {
                            *(VU *)(dYn + ((m * N + q) * 2) * C + c) = acc.r[q];
                            *(VU *)(dYn + ((m * N + q) * 2 + 1) * C + c) = acc.i[q];
                        }
                    }
                T Mr[N * N][N * N], Mi[N * N][N * N]; /* M_{e,f} = sum_c G_c(e) conj Y_c(f) */
                for (int e = 0; e < E; e++)
                    for (int f = 0; f < E; f += N) {
                        V sr[N] = {0}, si[N] = {0};
                        for (long c = 0; c < C; c += VL) {
                            const V gr = *(const VU *)(g + (e * 2) * C + c);
                            const V gi = *(const VU *)(g + (e * 2 + 1) * C + c);
                            _Pragma("GCC unroll 16") for (int t = 0; t < N; t++)
                            {
                                const V yr = *(const VU *)(Yn + ((f + t) * 2) * C + c);
                                const V yi = *(const VU *)(Yn + ((f + t) * 2 + 1) * C + c);
                                sr[t] += gr * yr + gi * yi;
                                si[t] += gi * yr - gr * yi;
                            }
                        }
                        for (int t = 0; t < N; t++) {
                            Mr[e][f + t] = HSUM(sr[t]);
                            Mi[e][f + t] = HSUM(si[t]);
                        }
                    }
                /* dV(a, k) = sum_{q,p} V_qp A_{qp,ak}, A_{qp,ak} = M_{aq,kp} + conj M_{qa,pk},
                 * over (a, k) in vectors */
                enum { EP = (N * N + VL - 1) / VL * VL };
                T Ar[N * N][EP], Ai[N * N][EP];
                for (int q = 0; q < N; q++)
                    for (int p = 0; p < N; p++)
                        for (int e = 0; e < EP; e++) {
                            const int a = e / N, k = e % N;
                            const int ok = e < N * N;
                            Ar[q * N + p][e] = ok ? Mr[a * N + q][k * N + p] + Mr[q * N + a][p * N + k] : 0;
                            Ai[q * N + p][e] = ok ? Mi[a * N + q][k * N + p] - Mi[q * N + a][p * N + k] : 0;
                        }
                T dr[EP], di[EP];
                for (int e = 0; e < EP; e += VL) {
                    V sr = {0}, si = {0};
                    for (int f = 0; f < N * N; f++) {
                        const T xr = vr[f / N][f % N], xi = vi[f / N][f % N];
                        const V ar = *(const VU *)(Ar[f] + e), ai = *(const VU *)(Ai[f] + e);
                        sr += xr * ar - xi * ai;
                        si += xr * ai + xi * ar;
                    }
                    *(VU *)(dr + e) = sr;
                    *(VU *)(di + e) = si;
                }
                T *du = dU + ((b * D + mu) * S + (fwd ? s : y)) * E * 2;
                for (int a = 0; a < N; a++)
                    for (int k = 0; k < N; k++) {
                        const long e = fwd ? (a * N + k) * 2 : (k * N + a) * 2;
                        du[e] += dr[a * N + k];
                        du[e + 1] += fwd ? di[a * N + k] : -di[a * N + k];
                    }
            }
}
