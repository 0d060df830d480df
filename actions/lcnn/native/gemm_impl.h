/* The real products the kernels share (specialise.h includes this file once per element type
 * T, vector types V/VU of VL lanes and colour number N).
 *
 * ROWS_GEMM: out[r][.] = sum_{q < nq} A[r][q] B[q][.] for the 2N rows r of A and nv vectors of
 * columns; all rows by two vectors in registers (4N accumulators), leading dimensions lda,
 * ldb and ldo in elements. PREFETCH: a site's matrix a few sites ahead (below).
 */

#define R (2 * N)

/* Channel-first operands (n, C, S, N, N, 2) are read one site of every channel at a time: more
 * streams than the hardware prefetcher follows. PREFETCH(p, write) asks for the matrix
 * PF_SITES sites further along the channel of the site matrix at p, for writing where write
 * (a prefetch past the end of an operand is harmless: it never faults). */
#define PF_SITES 2
static inline void PREFETCH(const T *p, int write)
{
    const T *ahead = p + PF_SITES * 2 * N * N;
    for (int e = 0; e < 2 * N * N; e += 64 / (int)sizeof(T)) {
        if (write)
            __builtin_prefetch(ahead + e, 1);
        else
            __builtin_prefetch(ahead + e, 0);
    }
    if (write)
        __builtin_prefetch(ahead + 2 * N * N - 1, 1);
    else
        __builtin_prefetch(ahead + 2 * N * N - 1, 0);
}

static void ROWS_GEMM(const T *restrict A, long lda, const T *restrict B, long ldb, long nq,
                      long nv, T *restrict out, long ldo)
{
    long c = 0;
    for (; c + 2 <= nv; c += 2) {
        V a0[R] = {0}, a1[R] = {0};
        for (long q = 0; q < nq; q++) {
            const V b0 = *(const VU *)(B + q * ldb + c * VL);
            const V b1 = *(const VU *)(B + q * ldb + (c + 1) * VL);
            for (int r = 0; r < R; r++) {
                const T f = A[r * lda + q];
                a0[r] += f * b0;
                a1[r] += f * b1;
            }
        }
        for (int r = 0; r < R; r++) {
            *(VU *)(out + r * ldo + c * VL) = a0[r];
            *(VU *)(out + r * ldo + (c + 1) * VL) = a1[r];
        }
    }
    for (; c < nv; c++) {
        V a0[R] = {0};
        for (long q = 0; q < nq; q++) {
            const V b0 = *(const VU *)(B + q * ldb + c * VL);
            for (int r = 0; r < R; r++)
                a0[r] += A[r * lda + q] * b0;
        }
        for (int r = 0; r < R; r++)
            *(VU *)(out + r * ldo + c * VL) = a0[r];
    }
}

#undef R
