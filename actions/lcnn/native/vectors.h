/* The width of the widest registers the compiler targets (-march=native), VBYTES bytes, for
 * the GCC/Clang vector types of types.h. */
#ifndef LCNN_VECTORS_H
#define LCNN_VECTORS_H
#if defined(__AVX512F__)
#define VBYTES 64
#elif defined(__AVX__)
#define VBYTES 32
#else
#define VBYTES 16
#endif
#endif
