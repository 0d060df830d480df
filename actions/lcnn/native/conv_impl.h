/* One specialisation of the convolution kernels (specialise.h includes this file once per
 * element type T, vector types V/VU of VL lanes and colour number N, and names its
 * functions).
 *
 * The L-CNN convolution of kernel size 2 (layers.py, LConv), transports first:
 *   out(x) = sum_h Z_h(x) w_h,  Z_0 = X,  Z_h(x) = T_h X(x)  (h = 1 .. 2D),
 *   T_{+mu} X(x) = V X(x + mu) V^dagger, V = U_mu(x),
 *   T_{-mu} X(x) = V X(x - mu) V^dagger, V = U_mu(x - mu)^dagger,
 * hops 1 + (mu, +), 1 + (mu, -) for mu = 0 .. D-1; per site the row (Z_0 ... Z_2D) times the
 * stacked weights is one real (2 N^2 x (2D+1) Ci)((2D+1) Ci x Co) product in the core's
 * cache. With a tangent field dU (not NULL), the row is the derivative of that row along the
 * links' direction dU instead: Z_0 = 0, Z_h = dV X V^dagger + V X dV^dagger, dV from dU as V
 * from U (training's second derivatives, actions/lcnn/hopconv.py); with X2 (not NULL) the plain
 * row of X2 is added to it, so that one product serves a sum of two convolutions of the same
 * weights (the backward pass of the convolution's gradient). With doubled the convolution is
 * that of (X, X^dagger), 2 Ci channels, from X (and X2) of Ci: the row's second half is the
 * adjoint of its first (ZROW; T(X^dagger) = T(X)^dagger), and BWD folds dZ into the gradient
 * of X, dZ_c + dZ_{Ci + c}^dagger, before transporting it back (the rows, weights and dZ are
 * then H 2Ci wide). Layouts (T arrays, C order,
 * 2 = real and imaginary part, E = N^2; Ci and Co multiples of VL, padded with zero channels):
 *   U, dU (n, D, S, N, N, 2)   X, X2, dX (n, S, E, 2, Ci)   out, G (n, S, E, 2, Co)
 *   w (H Ci, Co) and wt (Co, H Ci), H = 2D + 1, w[(h, j)][i] = w_h(i, j)
 *   dX and dU (n, D, S, N, N, 2) are accumulated into (the caller zeroes them); either may
 *   be NULL (not computed).
 * The backward pass, with G the gradient of out in torch's convention for complex tensors:
 *   dZ_h(x) = G(x) w_h^T;  dX(x) += dZ_0(x);  dX(x + h) += V^dagger dZ_h(x) V;
 *   dV = sum_c dZ_c V X_c^dagger + dZ_c^dagger V X_c  (X = X(x + h))
 *      = sum_{q,p} V_qp (M_{aq,kp} + conj M_{qa,pk}),  M_{e,f} = sum_c dZ_c(e) conj X_c(f);
 *   dU_mu(x) += dV (hop +mu), dU_mu(x - mu) += dV^dagger (hop -mu).
 * The weight gradient (CWGRAD): dw[(h, j)][i] += sum_{n,x} Re <Z_hj(x), G_i(x)>, the row
 * (or its tangent) times G summed over configurations and sites.
 */

typedef struct {
    V r[N], i[N];
} ROW;

static void LOADV(const T *u, int fwd, T vr[N][N], T vi[N][N])
{
    for (int a = 0; a < N; a++)
        for (int c = 0; c < N; c++) {
            const long e = fwd ? (a * N + c) * 2 : (c * N + a) * 2;
            vr[a][c] = u[e];
            vi[a][c] = fwd ? u[e + 1] : -u[e + 1];
        }
}

/* acc + (A W B^dagger)(m, .) for row m, over channels c .. c + VL of W (ld elements between
 * its (entry, part) rows); the row is passed by value, so that it stays in registers */
static inline ROW TRANSPORT_ROW(const T ar[N][N], const T ai[N][N], const T br[N][N],
                                const T bi[N][N], const T *restrict W, long ld, long c, int m,
                                ROW acc)
{
    V zr[N] = {0}, zi[N] = {0}; /* (A W)(m, .) */
    _Pragma("GCC unroll 16") for (int k = 0; k < N; k++)
    {
        const T a = ar[m][k], b = ai[m][k];
        _Pragma("GCC unroll 16") for (int p = 0; p < N; p++)
        {
            const V wr = *(const VU *)(W + ((k * N + p) * 2) * ld + c);
            const V wi = *(const VU *)(W + ((k * N + p) * 2 + 1) * ld + c);
            zr[p] += a * wr - b * wi;
            zi[p] += a * wi + b * wr;
        }
    }
    _Pragma("GCC unroll 16") for (int q = 0; q < N; q++)
        _Pragma("GCC unroll 16") for (int p = 0; p < N; p++)
        {
            const T a = br[q][p], b = bi[q][p];
            acc.r[q] += zr[p] * a + zi[p] * b;
            acc.i[q] += zi[p] * a - zr[p] * b;
        }
    return acc;
}

static inline T HSUM(V v)
{
    T s = 0;
    for (int l = 0; l < VL; l++)
        s += v[l];
    return s;
}

/* columns [Ci, 2 Ci) of the row block Zb (leading dimension ldz) from columns [0, Ci): entry
 * (m, q) of B^dagger is conj B(q, m) */
static void ADJOINT_HALF(T *restrict Zb, long ldz, long Ci)
{
    for (long c = 0; c < Ci; c += VL)
        for (int m = 0; m < N; m++)
            for (int q = 0; q < N; q++) {
                const T *src = Zb + ((q * N + m) * 2) * ldz + c;
                *(VU *)(Zb + ((m * N + q) * 2) * ldz + Ci + c) = *(const VU *)src;
                *(VU *)(Zb + ((m * N + q) * 2 + 1) * ldz + Ci + c) = -*(const VU *)(src + ldz);
            }
}

/* columns [0, Ci) of the block Zb plus the adjoints of columns [Ci, 2 Ci): the gradient of
 * X from that of (X, X^dagger) */
static void FOLD_HALF(T *restrict Zb, long ldz, long Ci)
{
    for (long c = 0; c < Ci; c += VL)
        for (int m = 0; m < N; m++)
            for (int q = 0; q < N; q++) {
                const T *src = Zb + ((q * N + m) * 2) * ldz + Ci + c;
                T *re = Zb + ((m * N + q) * 2) * ldz + c;
                *(VU *)re = *(const VU *)re + *(const VU *)src;
                *(VU *)(re + ldz) = *(const VU *)(re + ldz) - *(const VU *)(src + ldz);
            }
}

/* the row (Z_0 ... Z_2D) of site s of configuration b into Z (2 E, H Cr), or its tangent
 * along dU where dU is not NULL; Cr = Ci, or with doubled Cr = 2 Ci: the row of (X, X^dagger),
 * whose second half is the adjoint of the first, T(X^dagger) = T(X)^dagger (and so the
 * tangents), copied instead of transported */
static void ZROW(const T *restrict U, const T *restrict dU, const T *restrict X, long b, long s,
                 long S, long D, const long *L, const long *st, long Ci, int doubled,
                 T *restrict Z)
{
    const long E = N * N, Cr = doubled ? 2 * Ci : Ci, ldz = (2 * D + 1) * Cr;
    const T *Xs = X + (b * S + s) * E * 2 * Ci;
    for (long r = 0; r < 2 * E; r++)
        for (long c = 0; c < Cr; c++)
            Z[r * ldz + c] = dU || c >= Ci ? 0 : Xs[r * Ci + c];
    if (doubled && !dU)
        ADJOINT_HALF(Z, ldz, Ci);
    for (long h = 0; h < 2 * D; h++) {
        const long mu = h / 2, y = neighbour(s, mu, h % 2 == 0, L, st);
        const long link = ((b * D + mu) * S + (h % 2 == 0 ? s : y)) * E * 2;
        T vr[N][N], vi[N][N], dr[N][N], di[N][N];
        LOADV(U + link, h % 2 == 0, vr, vi);
        if (dU)
            LOADV(dU + link, h % 2 == 0, dr, di);
        const T *Xy = X + (b * S + y) * E * 2 * Ci;
        T *Zh = Z + (1 + h) * Cr;
        for (long c = 0; c < Ci; c += VL)
            for (int m = 0; m < N; m++) {
                ROW acc = {0};
                if (dU) {
                    acc = TRANSPORT_ROW(dr, di, vr, vi, Xy, Ci, c, m, acc);
                    acc = TRANSPORT_ROW(vr, vi, dr, di, Xy, Ci, c, m, acc);
                } else
                    acc = TRANSPORT_ROW(vr, vi, vr, vi, Xy, Ci, c, m, acc);
                for (int q = 0; q < N; q++) {
                    *(VU *)(Zh + ((m * N + q) * 2) * ldz + c) = acc.r[q];
                    *(VU *)(Zh + ((m * N + q) * 2 + 1) * ldz + c) = acc.i[q];
                }
            }
        if (doubled)
            ADJOINT_HALF(Zh, ldz, Ci);
    }
}

/* the row of site s into Z (ZROW), plus the plain row of X2 where X2 is not NULL (Z2: scratch
 * of the same size; doubled for both) */
static void ZROWS(const T *restrict U, const T *restrict dU, const T *restrict X,
                  const T *restrict X2, long b, long s, long S, long D, const long *L,
                  const long *st, long Ci, int doubled, T *restrict Z, T *restrict Z2)
{
    ZROW(U, dU, X, b, s, S, D, L, st, Ci, doubled, Z);
    if (!X2)
        return;
    ZROW(U, NULL, X2, b, s, S, D, L, st, Ci, doubled, Z2);
    for (long e = 0; e < 2 * N * N * (2 * D + 1) * (doubled ? 2 : 1) * Ci; e++)
        Z[e] += Z2[e];
}

void FWD(const T *restrict U, const T *restrict dU, const T *restrict X, const T *restrict X2,
         const T *restrict w, T *restrict out, long n, long D, const long *L, long Ci, long Co,
         int doubled, T *restrict scratch)
{
    long st[8], S;
    strides(D, L, st, &S);
    const long E = N * N, ldz = (2 * D + 1) * (doubled ? 2 : 1) * Ci;
    T *Z = scratch; /* (2 E, H Ci): the row (Z_0 ... Z_2D) of one site; Z2 after it */
    for (long b = 0; b < n; b++)
        for (long s = 0; s < S; s++) {
            ZROWS(U, dU, X, X2, b, s, S, D, L, st, Ci, doubled, Z, Z + 2 * E * ldz);
            T *os = out + (b * S + s) * E * 2 * Co;
            for (int r = 0; r < 2 * E; r += 2 * N)
                ROWS_GEMM(Z + r * ldz, ldz, w, Co, ldz, Co / VL, os + r * Co, Co);
        }
}

void CWGRAD(const T *restrict U, const T *restrict dU, const T *restrict X, const T *restrict X2,
            const T *restrict G, T *restrict dw, long n, long D, const long *L, long Ci, long Co,
            int doubled, T *restrict scratch)
{
    long st[8], S;
    strides(D, L, st, &S);
    const long E = N * N, ldz = (2 * D + 1) * (doubled ? 2 : 1) * Ci, nv = Co / VL;
    T *Z = scratch;
    for (long b = 0; b < n; b++)
        for (long s = 0; s < S; s++) {
            ZROWS(U, dU, X, X2, b, s, S, D, L, st, Ci, doubled, Z, Z + 2 * E * ldz);
            const T *Gs = G + (b * S + s) * E * 2 * Co;
            WSUM(Z, 1, ldz, Gs, dw, Co, ldz, nv);
        }
}

void BWD(const T *restrict U, const T *restrict X, const T *restrict wt, const T *restrict G,
         T *restrict dX, T *restrict dU, long n, long D, const long *L, long Ci, long Co,
         int doubled, T *restrict scratch)
{
    long st[8], S;
    strides(D, L, st, &S);
    const long E = N * N, H = 2 * D + 1, Cr = doubled ? 2 * Ci : Ci, ldz = H * Cr;
    T *dZ = scratch; /* (2 E, H Cr) */
    for (long b = 0; b < n; b++)
        for (long s = 0; s < S; s++) {
            const T *Gs = G + (b * S + s) * E * 2 * Co;
            for (int r = 0; r < 2 * E; r += 2 * N)
                ROWS_GEMM(Gs + r * Co, Co, wt, ldz, Co, ldz / VL, dZ + r * ldz, ldz);
            for (long h = 0; doubled && h < H; h++) /* dZ_c += dZ_{Ci + c}^dagger: X's own */
                FOLD_HALF(dZ + h * Cr, ldz, Ci);
            T *dXs = dX ? dX + (b * S + s) * E * 2 * Ci : NULL;
            for (long r = 0; dX && r < 2 * E; r++)
                for (long c = 0; c < Ci; c++)
                    dXs[r * Ci + c] += dZ[r * ldz + c];
            for (long h = 0; h < 2 * D; h++) {
                const long mu = h / 2;
                const int fwd = h % 2 == 0;
                const long y = neighbour(s, mu, fwd, L, st);
                T vr[N][N], vi[N][N], hr[N][N], hi[N][N];
                LOADV(U + ((b * D + mu) * S + (fwd ? s : y)) * E * 2, fwd, vr, vi);
                for (int a = 0; a < N; a++) /* V^dagger */
                    for (int k = 0; k < N; k++) {
                        hr[a][k] = vr[k][a];
                        hi[a][k] = -vi[k][a];
                    }
                const T *Xy = X + (b * S + y) * E * 2 * Ci, *dZh = dZ + (1 + h) * Cr;
                T *dXy = dX ? dX + (b * S + y) * E * 2 * Ci : NULL;
                for (long c = 0; dX && c < Ci; c += VL) /* dX(x + h) += V^dagger dZ_h V */
                    for (int m = 0; m < N; m++) {
                        ROW acc;
                        for (int q = 0; q < N; q++) {
                            acc.r[q] = *(const VU *)(dXy + ((m * N + q) * 2) * Ci + c);
                            acc.i[q] = *(const VU *)(dXy + ((m * N + q) * 2 + 1) * Ci + c);
                        }
                        acc = TRANSPORT_ROW(hr, hi, hr, hi, dZh, ldz, c, m, acc);
                        for (int q = 0; q < N; q++) {
                            *(VU *)(dXy + ((m * N + q) * 2) * Ci + c) = acc.r[q];
                            *(VU *)(dXy + ((m * N + q) * 2 + 1) * Ci + c) = acc.i[q];
                        }
                    }
                if (!dU)
                    continue;
                T Mr[N * N][N * N], Mi[N * N][N * N];
                for (int e = 0; e < E; e++)
                    for (int f = 0; f < E; f += N) {
                        V sr[N] = {0}, si[N] = {0};
                        for (long c = 0; c < Ci; c += VL) {
                            const V gr = *(const VU *)(dZh + (e * 2) * ldz + c);
                            const V gi = *(const VU *)(dZh + (e * 2 + 1) * ldz + c);
                            _Pragma("GCC unroll 16") for (int t = 0; t < N; t++)
                            {
                                const V xr = *(const VU *)(Xy + ((f + t) * 2) * Ci + c);
                                const V xi = *(const VU *)(Xy + ((f + t) * 2 + 1) * Ci + c);
                                sr[t] += gr * xr + gi * xi;
                                si[t] += gi * xr - gr * xi;
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
                            const int a = e / N, k = e % N, ok = e < N * N;
                            const int e1 = a * N + q, f1 = k * N + p, e2 = q * N + a, f2 = p * N + k;
                            Ar[q * N + p][e] = ok ? Mr[e1][f1] + Mr[e2][f2] : 0;
                            Ai[q * N + p][e] = ok ? Mi[e1][f1] - Mi[e2][f2] : 0;
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
}
