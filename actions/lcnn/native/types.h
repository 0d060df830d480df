/* Every kernel for the element type T (name suffix TS), which lcnn.c defines before it
 * includes this file: the vector types V (aligned) and VU (unaligned loads and stores) of VL
 * lanes, the layout changes (layout_impl.h), then specialise.h for N = 3 and N = 2. T and TS
 * are undefined at the end. */

#define TYPE__(base, ts) base##_##ts
#define TYPE_(base, ts) TYPE__(base, ts)
typedef T TYPE_(vec, TS) __attribute__((vector_size(VBYTES)));
typedef T TYPE_(vecu, TS) __attribute__((vector_size(VBYTES), aligned(sizeof(T))));
#define V TYPE_(vec, TS)
#define VU TYPE_(vecu, TS)
#define VL ((int)(VBYTES / sizeof(T)))

#define TILED TYPE_(lcnn_tiled_transpose, TS)
#define LAST TYPE_(lcnn_channels_last, TS)
#define FIRST TYPE_(lcnn_channels_first, TS)
#define WITH TYPE_(lcnn_with_adjoints, TS)
#define FOLD TYPE_(lcnn_fold_adjoints, TS)
#include "layout_impl.h"
#undef TILED
#undef LAST
#undef FIRST
#undef WITH
#undef FOLD

#define N 3
#include "specialise.h"
#undef N
#define N 2
#include "specialise.h"
#undef N

#undef V
#undef VU
#undef VL
#undef T
#undef TS
