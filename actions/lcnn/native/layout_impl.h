/* The convolution's layout changes for one element type T (types.h includes this file once per
 * type; LAST and FIRST name them, TILED their transpose; WITH and FOLD, below, the channel
 * doubling's): complex fields are (n, C, M) channel-first and the convolution kernels'
 * operands (n, M, Cp) channel-last, M = S N^2 2 reals per channel (sites, entries, real and
 * imaginary part), Cp >= C the padded channels (conv_impl.h).
 *   LAST:  dst[b][m][c] = src[b][c][m], zero for C <= c < Cp;
 *   FIRST: dst[b][c][m] = src[b][m][c] for c < C.
 * In tiles of TILE x TILE elements, so that both sides are read and written a cache line at a
 * time (torch's permuted copy moves one element per strided access: 2.4 GB/s on 4^4).
 */

#define TILE 8

/* dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols, tile by tile */
static void TILED(const T *restrict src, long lds, T *restrict dst, long ldd, long rows,
                  long cols)
{
    for (long c0 = 0; c0 < cols; c0 += TILE) {
        const long ce = c0 + TILE < cols ? c0 + TILE : cols;
        for (long r0 = 0; r0 < rows; r0 += TILE) {
            const long re = r0 + TILE < rows ? r0 + TILE : rows;
            for (long c = c0; c < ce; c++)
                for (long r = r0; r < re; r++)
                    dst[c * ldd + r] = src[r * lds + c];
        }
    }
}

void LAST(const T *restrict src, T *restrict dst, long n, long C, long M, long Cp)
{
    for (long b = 0; b < n; b++) {
        T *d = dst + b * M * Cp;
        TILED(src + b * C * M, M, d, Cp, C, M);
        for (long m = 0; C < Cp && m < M; m++)
            for (long c = C; c < Cp; c++)
                d[m * Cp + c] = 0;
    }
}

void FIRST(const T *restrict src, T *restrict dst, long n, long C, long M, long Cp)
{
    for (long b = 0; b < n; b++)
        TILED(src + b * M * Cp, Cp, dst + b * C * M, M, M, C);
}

#undef TILE

/* The channel doubling W~ = (W, W^dagger) and its adjoint, the fold G_1 + G_2^dagger
 * (actions/lcnn/inputs.py), on complex N x N matrices (n, C, S, N, N, 2) per element type T
 * (WITH and FOLD name them): in one pass each, where torch reads the transposed conjugate
 * through strides.
 *   WITH: dst (n, 2C, S, N, N, 2), dst[b][c] = src[b][c], dst[b][C + c] = src[b][c]^dagger;
 *   FOLD: dst (n, C, S, N, N, 2) = src[b][c] + src[b][C + c]^dagger, src (n, 2C, S, N, N, 2).
 */

void WITH(const T *restrict src, T *restrict dst, long n, long C, long S, long N)
{
    const long E2 = 2 * N * N, block = C * S * E2;
    for (long b = 0; b < n; b++) {
        const T *s = src + b * block;
        T *d = dst + 2 * b * block;
        for (long e = 0; e < block; e++)
            d[e] = s[e];
        for (long k = 0; k < C * S; k++)
            for (long i = 0; i < N; i++)
                for (long j = 0; j < N; j++) {
                    d[block + k * E2 + (i * N + j) * 2] = s[k * E2 + (j * N + i) * 2];
                    d[block + k * E2 + (i * N + j) * 2 + 1] = -s[k * E2 + (j * N + i) * 2 + 1];
                }
    }
}

void FOLD(const T *restrict src, T *restrict dst, long n, long C, long S, long N)
{
    const long E2 = 2 * N * N, block = C * S * E2;
    for (long b = 0; b < n; b++) {
        const T *s = src + 2 * b * block, *a = s + block;
        T *d = dst + b * block;
        for (long k = 0; k < C * S; k++)
            for (long i = 0; i < N; i++)
                for (long j = 0; j < N; j++) {
                    const long e = k * E2 + (i * N + j) * 2, t = k * E2 + (j * N + i) * 2;
                    d[e] = s[e] + a[t];
                    d[e + 1] = s[e + 1] - a[t + 1];
                }
    }
}
