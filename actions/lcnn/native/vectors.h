/* Vector types of the widest registers the compiler targets (-march=native): GCC/Clang
 * vector extensions, VBYTES bytes; the U types allow unaligned loads and stores. */
#ifndef LCNN_VECTORS_H
#define LCNN_VECTORS_H
#if defined(__AVX512F__)
#define VBYTES 64
#elif defined(__AVX__)
#define VBYTES 32
#else
#define VBYTES 16
#endif
typedef float vf32 __attribute__((vector_size(VBYTES)));
typedef float vf32u __attribute__((vector_size(VBYTES), aligned(4)));
typedef double vf64 __attribute__((vector_size(VBYTES)));
typedef double vf64u __attribute__((vector_size(VBYTES), aligned(8)));
#endif
