/* Every kernel once for the element type T (name suffix TS), vector types V/VU of VL lanes and
 * colour number N, which types.h defines before it includes this file: the functions of one
 * specialisation are named <base>_<TS>_n<N>. */

#ifndef NAME
#define NAME__(base, ts, n) base##_##ts##_n##n
#define NAME_(base, ts, n) NAME__(base, ts, n)
#define NAME(base) NAME_(base, TS, N)
#endif

#define ROWS_GEMM NAME(rows_gemm)
#define PREFETCH NAME(prefetch_site)
#define FN NAME(lcnn_bilinear)
#define BBWD NAME(lcnn_bilinear_backward)
#define WGRAD NAME(lcnn_bilinear_weight_grad)
#define PAIR NAME(lcnn_bilinear_pair)
#define WSUM NAME(wgrad_sum)
#define PLOAD NAME(pair_load)
#define WBLOCK NAME(wgrad_block)
#define FWD NAME(lcnn_conv)
#define BWD NAME(lcnn_conv_backward)
#define CWGRAD NAME(lcnn_conv_weight_grad)
#define ZROW NAME(conv_row)
#define ZROWS NAME(conv_rows)
#define ADJOINT_HALF NAME(conv_adjoint_half)
#define FOLD_HALF NAME(conv_fold_half)
#define LOADV NAME(load_v)
#define TRANSPORT_ROW NAME(transport_row)
#define HSUM NAME(hsum)
#define ROW NAME(row)
#define TFWD NAME(lcnn_trace)
#define TBWD NAME(lcnn_trace_backward)
#define TWGRAD NAME(lcnn_trace_weight_grad)
#define TPAIR NAME(lcnn_trace_pair)
#define TPACKX NAME(trace_pack_x)
#define TPACKY NAME(trace_pack_y)
#define TGRAM NAME(trace_gram)
#define TSCRATCH NAME(lcnn_trace_scratch)
#define TZERO NAME(trace_zero)

#include "gemm_impl.h"
#include "bilinear_impl.h"
#include "bilinear_bwd_impl.h"
#include "bilinear_wgrad_impl.h"
#include "bilinear_pair_impl.h"
#include "conv_impl.h"
#include "trace_impl.h"

#undef ROWS_GEMM
#undef PREFETCH
#undef FN
#undef BBWD
#undef WGRAD
#undef PAIR
#undef WSUM
#undef PLOAD
#undef WBLOCK
#undef FWD
#undef BWD
#undef CWGRAD
#undef ZROW
#undef ZROWS
#undef ADJOINT_HALF
#undef FOLD_HALF
#undef WROWS
#undef WDEPTH
#undef LOADV
#undef TRANSPORT_ROW
#undef HSUM
#undef ROW
#undef TFWD
#undef TBWD
#undef TWGRAD
#undef TPAIR
#undef TPACKX
#undef TPACKY
#undef TGRAM
#undef TSCRATCH
#undef TZERO
