/* The convolution's layout changes for one element type T (types.h includes this file once per
 * type; LAST and FIRST name them): complex fields are (n, C, M) channel-first and the
 * convolution kernels' operands (n, M, Cp) channel-last, M = S N^2 2 reals per channel (sites,
 * entries, real and imaginary part), Cp >= C the padded channels (conv_impl.h).
 *   LAST:  dst[b][m][c] = src[b][c][m], zero for C <= c < Cp;
 *   FIRST: dst[b][c][m] = src[b][m][c] for c < C.
 * In tiles of TILE x TILE elements, so that both sides are read and written a cache line at a
 * time (torch's permuted copy moves one element per strided access: 2.4 GB/s on 4^4).
 */

#define TILE 8

void LAST(const T *restrict src, T *restrict dst, long n, long C, long M, long Cp)
{
    for (long b = 0; b < n; b++) {
        const T *s = src + b * C * M;
        T *d = dst + b * M * Cp;
        for (long m0 = 0; m0 < M; m0 += TILE) {
            const long me = m0 + TILE < M ? m0 + TILE : M;
            for (long c0 = 0; c0 < C; c0 += TILE) {
                const long ce = c0 + TILE < C ? c0 + TILE : C;
                for (long m = m0; m < me; m++)
                    for (long c = c0; c < ce; c++)
                        d[m * Cp + c] = s[c * M + m];
            }
            for (long m = m0; m < me; m++)
                for (long c = C; c < Cp; c++)
                    d[m * Cp + c] = 0;
        }
    }
}

void FIRST(const T *restrict src, T *restrict dst, long n, long C, long M, long Cp)
{
    for (long b = 0; b < n; b++) {
        const T *s = src + b * M * Cp;
        T *d = dst + b * C * M;
        for (long c0 = 0; c0 < C; c0 += TILE) {
            const long ce = c0 + TILE < C ? c0 + TILE : C;
            for (long m0 = 0; m0 < M; m0 += TILE) {
                const long me = m0 + TILE < M ? m0 + TILE : M;
                for (long c = c0; c < ce; c++)
                    for (long m = m0; m < me; m++)
                        d[c * M + m] = s[m * Cp + c];
            }
        }
    }
}

#undef TILE
