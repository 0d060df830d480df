"""The L-CNN's per-site kernels in C on a CPU (``lcnn.c``, built on first use by
:func:`lqcd_hmc.kernels.native.load`): the bilinear layer's products, their traces, and the
convolution of kernel size 2.

:func:`bilinear` computes ``out_i = sum_{j,k} a_ijk X_j Y_k`` with ``X_j`` or ``Y_k`` replaced
by their adjoints on request (the backward pass's ``G B^dagger`` and ``A^dagger G`` without a
copy), site by site: per row of the result one real ``(2N x J)(J x K I)`` product held in the
core's cache, then ``(M_re + i M_im) Y`` over the output channels in vectors. Nothing of the
size of the lattice is made but the result. It serves :mod:`actions.lcnn.bilinear` where
:func:`available`; the PyTorch path there is the same arithmetic and tests pin both to the
reference layer.

:func:`bilinear_backward` gives both input gradients from one weight contraction,
:func:`bilinear_weight_grad` the weight gradient summed over sites in the core's cache,
:func:`bilinear_pair` the weighted sum of two products per site and its weight gradient (the
backward pass of the differentiated backward, ``bilinear_pair_impl.h``),
:func:`trace_bilinear`, :func:`trace_bilinear_backward` and :func:`trace_bilinear_weight_grad`
the last layer's ``Re Tr`` from one Gram matrix per site (``bilinear_bwd_impl.h``,
``trace_impl.h``).

:func:`convolution` transports each site's neighbours (``V X V^dagger``, each link read
once per site and hop: no shifted copies, no ``N^2 x N^2`` hop matrices) into a row held in
the core's cache and multiplies it by the stacked weights of all offsets; see ``conv_impl.h``
for the layouts and the backward pass. Its operands are channel-last: :func:`channels_last`
and :func:`channels_first` change layouts in tiles (``layout_impl.h``, which also holds the
channel doubling :func:`with_adjoints` and its adjoint :func:`fold_adjoints`).

The kernels use one core each; every call reports its flops to :func:`counting`. Modules:
``_library`` (loading, operands, flop counting), ``products`` (the bilinear layer's kernels),
``transports`` (the convolution's), ``traces`` (the traced products').
"""

from ._library import COLOURS, SOURCE, available, counting, padded_channels
from .products import bilinear, bilinear_backward, bilinear_pair, bilinear_weight_grad
from .traces import (
    trace_bilinear,
    trace_bilinear_backward,
    trace_bilinear_pair,
    trace_bilinear_weight_grad,
)
from .transports import (
    channels_first,
    channels_last,
    convolution,
    convolution_backward,
    convolution_weight_grad,
    fold_adjoints,
    with_adjoints,
)

__all__ = [
    "COLOURS",
    "SOURCE",
    "available",
    "bilinear",
    "bilinear_backward",
    "bilinear_pair",
    "bilinear_weight_grad",
    "channels_first",
    "channels_last",
    "convolution",
    "convolution_backward",
    "convolution_weight_grad",
    "counting",
    "fold_adjoints",
    "padded_channels",
    "trace_bilinear",
    "trace_bilinear_backward",
    "trace_bilinear_pair",
    "trace_bilinear_weight_grad",
    "with_adjoints",
]
