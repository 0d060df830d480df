/* One specialisation of the convolution's hop kernels (lcnn.c includes this file once per
 * element type T, vector types V/VU of VL lanes and colour number N; FWD and BWD name them).
 *
 * out(x) = Y_0(x) + sum_h T_h Y_h(x): the L-CNN convolution of kernel size 2 (layers.py,
 * LConv) after its channel mixing, with the one-hop transports (transport.py)
 *   T_{+mu} W(x) = V W(x + mu) V^dagger, V = U_mu(x),
 *   T_{-mu} W(x) = V W(x - mu) V^dagger, V = U_mu(x - mu)^dagger,
 * hops h = (mu, +), (mu, -) for mu = 0 .. D-1. Layouts (T arrays, C order, 2 = real and
 * imaginary part; E = N^2 matrix entries; C a multiple of VL; Cy = (2D + 1) C):
 *   U (n, D, S, N, N, 2)   Y (n, S, E, 2, Cy): block 0 the local term, block 1 + h hop h
 *   out, G (n, S, E, 2, C) dU (n, D, S, N, N, 2), accumulated into (the caller zeroes it)
 * The backward pass, with G the gradient of out in torch's convention for complex tensors:
 *   dY_0(x) = G(x),  dY_h(x + h) = V^dagger G(x) V,
 *   dV = sum over channels of G V Y^dagger + G^dagger V Y (Y = Y_h(x + h)), and
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

void FWD(const T *restrict U, const T *restrict Y, T *restrict out, long n, long D,
         const long *L, long C)
{
    long st[8], S = 1;
    for (long mu = D - 1; mu >= 0; mu--) {
        st[mu] = S;
        S *= L[mu];
    }
    const long E = N * N, Cy = (2 * D + 1) * C;
    for (long b = 0; b < n; b++)
        for (long s = 0; s < S; s++) {
            const T *Ys = Y + (b * S + s) * E * 2 * Cy;
            T *o = out + (b * S + s) * E * 2 * C;
            T vr[8][N][N], vi[8][N][N];
            const T *Yn[8];
            for (long h = 0; h < 2 * D; h++) {
                const long mu = h / 2, y = neighbour(s, mu, h % 2 == 0, L, st);
                LOADV(U + ((b * D + mu) * S + (h % 2 == 0 ? s : y)) * E * 2, h % 2 == 0, vr[h],
                      vi[h]);
                Yn[h] = Y + (b * S + y) * E * 2 * Cy + (1 + h) * C;
            }
            for (long c = 0; c < C; c += VL)
                for (int m = 0; m < N; m++) {
                    V ar[N], ai[N];
                    for (int q = 0; q < N; q++) {
                        ar[q] = *(const VU *)(Ys + ((m * N + q) * 2) * Cy + c);
                        ai[q] = *(const VU *)(Ys + ((m * N + q) * 2 + 1) * Cy + c);
                    }
                    for (long h = 0; h < 2 * D; h++) {
                        V zr[N] = {0}, zi[N] = {0}; /* Z = (V W)[m][p] */
                        for (int k = 0; k < N; k++) {
                            const T a = vr[h][m][k], bb = vi[h][m][k];
                            for (int p = 0; p < N; p++) {
                                const V wr = *(const VU *)(Yn[h] + ((k * N + p) * 2) * Cy + c);
                                const V wi = *(const VU *)(Yn[h] + ((k * N + p) * 2 + 1) * Cy + c);
                                zr[p] += a * wr - bb * wi;
                                zi[p] += a * wi + bb * wr;
                            }
                        }
                        for (int q = 0; q < N; q++) /* (Z V^dagger)[m][q] */
                            for (int p = 0; p < N; p++) {
                                const T a = vr[h][q][p], bb = vi[h][q][p];
                                ar[q] += zr[p] * a + zi[p] * bb;
                                ai[q] += zi[p] * a - zr[p] * bb;
                            }
                    }
                    for (int q = 0; q < N; q++) {
                        *(VU *)(o + ((m * N + q) * 2) * C + c) = ar[q];
                        *(VU *)(o + ((m * N + q) * 2 + 1) * C + c) = ai[q];
                    }
                }
        }
}

void BWD(const T *restrict U, const T *restrict Y, const T *restrict G, T *restrict dY,
         T *restrict dU, long n, long D, const long *L, long C)
{
    long st[8], S = 1;
    for (long mu = D - 1; mu >= 0; mu--) {
        st[mu] = S;
        S *= L[mu];
    }
    const long E = N * N, Cy = (2 * D + 1) * C;
    for (long b = 0; b < n; b++)
        for (long s = 0; s < S; s++) {
            const T *g = G + (b * S + s) * E * 2 * C;
            T *d0 = dY + (b * S + s) * E * 2 * Cy;
            for (long r = 0; r < E * 2; r++)
                for (long c = 0; c < C; c++)
                    d0[r * Cy + c] = g[r * C + c];
            for (long h = 0; h < 2 * D; h++) {
                const long mu = h / 2;
                const int fwd = h % 2 == 0;
                const long y = neighbour(s, mu, fwd, L, st);
                T vr[N][N], vi[N][N];
                T *du = dU + ((b * D + mu) * S + (fwd ? s : y)) * E * 2;
                LOADV(U + ((b * D + mu) * S + (fwd ? s : y)) * E * 2, fwd, vr, vi);
                const T *Yn = Y + (b * S + y) * E * 2 * Cy + (1 + h) * C;
                T *dYn = dY + (b * S + y) * E * 2 * Cy + (1 + h) * C;
                V dr[N][N] = {0}, di[N][N] = {0};
                for (long c = 0; c < C; c += VL) {
                    V gr[N][N], gi[N][N], yr[N][N], yi[N][N];
                    for (int a = 0; a < N; a++)
                        for (int p = 0; p < N; p++) {
                            gr[a][p] = *(const VU *)(g + ((a * N + p) * 2) * C + c);
                            gi[a][p] = *(const VU *)(g + ((a * N + p) * 2 + 1) * C + c);
                            yr[a][p] = *(const VU *)(Yn + ((a * N + p) * 2) * Cy + c);
                            yi[a][p] = *(const VU *)(Yn + ((a * N + p) * 2 + 1) * Cy + c);
                        }
                    V pr[N][N] = {0}, pi[N][N] = {0}, qr[N][N] = {0}, qi[N][N] = {0};
                    for (int a = 0; a < N; a++) /* P = G V, Q = V Y */
                        for (int k = 0; k < N; k++)
                            for (int p = 0; p < N; p++) {
                                const T xr = vr[k][p], xi = vi[k][p], wr = vr[a][k], wi = vi[a][k];
                                pr[a][p] += gr[a][k] * xr - gi[a][k] * xi;
                                pi[a][p] += gr[a][k] * xi + gi[a][k] * xr;
                                qr[a][p] += wr * yr[k][p] - wi * yi[k][p];
                                qi[a][p] += wr * yi[k][p] + wi * yr[k][p];
                            }
                    for (int k = 0; k < N; k++) /* dY_h = V^dagger P */
                        for (int p = 0; p < N; p++) {
                            V sr = {0}, si = {0};
                            for (int a = 0; a < N; a++) {
                                const T xr = vr[a][k], xi = vi[a][k];
                                sr += xr * pr[a][p] + xi * pi[a][p];
                                si += xr * pi[a][p] - xi * pr[a][p];
                            }
                            *(VU *)(dYn + ((k * N + p) * 2) * Cy + c) = sr;
                            *(VU *)(dYn + ((k * N + p) * 2 + 1) * Cy + c) = si;
                        }
                    for (int a = 0; a < N; a++) /* dV += P Y^dagger + G^dagger Q */
                        for (int k = 0; k < N; k++)
                            for (int p = 0; p < N; p++) {
                                dr[a][k] += pr[a][p] * yr[k][p] + pi[a][p] * yi[k][p];
                                di[a][k] += pi[a][p] * yr[k][p] - pr[a][p] * yi[k][p];
                                dr[a][k] += gr[p][a] * qr[p][k] + gi[p][a] * qi[p][k];
                                di[a][k] += gr[p][a] * qi[p][k] - gi[p][a] * qr[p][k];
                            }
                }
                for (int a = 0; a < N; a++)
                    for (int k = 0; k < N; k++) {
                        T sr = 0, si = 0;
                        for (int l = 0; l < VL; l++) {
                            sr += dr[a][k][l];
                            si += di[a][k][l];
                        }
                        const long e = fwd ? (a * N + k) * 2 : (k * N + a) * 2;
                        du[e] += sr;
                        du[e + 1] += fwd ? si : -si;
                    }
            }
        }
}
