/* One specialisation of the bilinear layer's weight gradient (specialise.h includes this file
 * once per element type T, vector types V/VU of VL lanes and colour number N; WGRAD names it).
 *
 * For out_i = sum_{j,k} a_ijk A_j B_k (A, B extended by the identity as their last channel
 * where id_a, id_b) and G_i the gradient of out_i (torch's convention for complex tensors):
 *   da_ijk += Re sum_{b,x} <A_j, Z_ik>,  Z_ik = G_i B_k^dagger  (<X, Y> = tr X^dagger Y),
 * accumulated into da over all configurations and sites. Per site:
 *   1. Z[(m, l, pl)][k][i] = sum_p G_i(m, p) conj B_k(l, p), over i in vectors,
 *   2. da[j][k][i] += sum_q A_j[q] Z[q][k][i], q = (m, l, pl): a (J x 2N^2)(2N^2 x K Ip) real
 *      product added to da in registers (rows of da in blocks of WROWS, two vectors).
 * Layouts (T arrays, C order, 2 = real and imaginary part):
 *   A (n, J - id_a, S, N, N, 2)  B (n, K - id_b, S, N, N, 2)  G (n, I, S, N, N, 2)
 *   da (J, K, Ip), Ip a multiple of VL, entries i >= I left zero
 * Flops per site: 8 N^3 K I (stage 1) + 4 N^2 J K I (stage 2).
 */

#define WDEPTH (2 * N * N)
#define WROWS 4

/* da[j][c] += sum_q a[j sj + q sq] z[q][c] for rows j0 <= j < j0 + nr (nr <= WROWS), column
 * vectors c0 and c0 + 1 (two == 1) or c0 alone, q < WDEPTH = 2 N^2; z (WDEPTH x ld), da (rows
 * x ld); the convolution's weight gradient takes it too (conv_impl.h) */
static inline void WBLOCK(const T *restrict a, long sj, long sq, const T *restrict z,
                          T *restrict da, long ld, long j0, int nr, long c0, int two)
{
    V acc0[WROWS], acc1[WROWS];
    for (int r = 0; r < nr; r++) {
        acc0[r] = *(const VU *)(da + (j0 + r) * ld + c0 * VL);
        acc1[r] = two ? *(const VU *)(da + (j0 + r) * ld + (c0 + 1) * VL) : acc0[r] * 0;
    }
    for (int q = 0; q < WDEPTH; q++) {
        const V b0 = *(const VU *)(z + q * ld + c0 * VL);
        const V b1 = two ? *(const VU *)(z + q * ld + (c0 + 1) * VL) : b0;
        for (int r = 0; r < nr; r++) {
            const T f = a[(j0 + r) * sj + q * sq];
            acc0[r] += f * b0;
            acc1[r] += f * b1;
        }
    }
    for (int r = 0; r < nr; r++) {
        *(VU *)(da + (j0 + r) * ld + c0 * VL) = acc0[r];
        if (two)
            *(VU *)(da + (j0 + r) * ld + (c0 + 1) * VL) = acc1[r];
    }
}

/* da[j][.] += sum_q a[j sj + q sq] z[q][.] for all rows j < rows and nv column vectors (WBLOCK
 * on blocks of WROWS rows by two vectors): the per-site product of this weight gradient, the
 * paired product's (bilinear_pair_impl.h) and the convolution's (conv_impl.h); inlined, so
 * that each kernel's loop is its own */
static inline __attribute__((always_inline)) void WSUM(const T *restrict a, long sj, long sq,
                                                       const T *restrict z, T *restrict da,
                                                       long ld, long rows, long nv)
{
    for (long j0 = 0; j0 < rows; j0 += WROWS) {
        const int nr = rows - j0 < WROWS ? (int)(rows - j0) : WROWS;
        long c = 0;
        for (; c + 2 <= nv; c += 2)
            WBLOCK(a, sj, sq, z, da, ld, j0, nr, c, 1);
        if (c < nv)
            WBLOCK(a, sj, sq, z, da, ld, j0, nr, c, 0);
    }
}

void WGRAD(const T *restrict A, const T *restrict B, const T *restrict G, T *restrict da,
           long n, long S, long J, long K, long I, long Ip, int id_a, int id_b,
           T *restrict scratch)
{
    const long Ja = J - id_a, Kb = K - id_b, ld = K * Ip, nv = ld / VL, iv_n = Ip / VL;
    T *restrict z = scratch;           /* WDEPTH x K x Ip */
    T *restrict g = z + WDEPTH * ld;       /* N x N x 2 x Ip: G_i(m, p) over i */
    T *restrict bc = g + WDEPTH * Ip;      /* K x N x N x 2: B_k(l, p) */
    T *restrict a = bc + K * WDEPTH;       /* J x WDEPTH: A_j(m, l) */
    for (long e = 0; e < WDEPTH * Ip; e++)
        g[e] = 0; /* lanes i >= I stay zero */
    for (long b = 0; b < n; b++)
        for (long s = 0; s < S; s++) {
            for (long i = 0; i < I; i++) {
                const T *src = G + ((b * I + i) * S + s) * WDEPTH;
                PREFETCH(src, 0);
                for (int e = 0; e < WDEPTH; e++)
                    g[e * Ip + i] = src[e];
            }
            for (long k = 0; k < Kb; k++)
                PREFETCH(B + ((b * Kb + k) * S + s) * WDEPTH, 0);
            for (long j = 0; j < Ja; j++)
                PREFETCH(A + ((b * Ja + j) * S + s) * WDEPTH, 0);
            for (long k = 0; k < K; k++)
                for (int e = 0; e < N * N; e++) {
                    const T *src = B + ((b * Kb + k) * S + s) * WDEPTH;
                    bc[k * WDEPTH + 2 * e] = k < Kb ? src[2 * e] : e % (N + 1) == 0;
                    bc[k * WDEPTH + 2 * e + 1] = k < Kb ? src[2 * e + 1] : 0;
                }
            for (long j = 0; j < J; j++)
                for (int e = 0; e < N * N; e++) {
                    const T *src = A + ((b * Ja + j) * S + s) * WDEPTH;
                    a[j * WDEPTH + 2 * e] = j < Ja ? src[2 * e] : e % (N + 1) == 0;
                    a[j * WDEPTH + 2 * e + 1] = j < Ja ? src[2 * e + 1] : 0;
                }
            /* 1. Z_ik(m, l) = sum_p G_i(m, p) conj B_k(l, p) */
            for (int m = 0; m < N; m++)
                for (long iv = 0; iv < iv_n; iv++) {
                    V gr[N], gi[N];
                    for (int p = 0; p < N; p++) {
                        gr[p] = *(const VU *)(g + ((m * N + p) * 2) * Ip + iv * VL);
                        gi[p] = *(const VU *)(g + ((m * N + p) * 2 + 1) * Ip + iv * VL);
                    }
                    for (long k = 0; k < K; k++)
                        for (int l = 0; l < N; l++) {
                            const T *bk = bc + k * WDEPTH + l * N * 2;
                            V re = gr[0] * bk[0] + gi[0] * bk[1];
                            V im = gi[0] * bk[0] - gr[0] * bk[1];
                            for (int p = 1; p < N; p++) {
                                re += gr[p] * bk[2 * p] + gi[p] * bk[2 * p + 1];
                                im += gi[p] * bk[2 * p] - gr[p] * bk[2 * p + 1];
                            }
                            T *zq = z + ((m * N + l) * 2) * ld + k * Ip + iv * VL;
                            *(VU *)zq = re;
                            *(VU *)(zq + ld) = im;
                        }
                }
            /* 2. da += A Z */
            WSUM(a, WDEPTH, 1, z, da, ld, J, nv);
        }
}
