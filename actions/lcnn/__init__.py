"""L-CNNs: input layers (:mod:`.inputs`), gauge equivariant layers (:mod:`.layers`, the
site-local ones in :mod:`.sitewise`; parallel
transport in :mod:`.transport`; the bilinear layer's fast path in :mod:`.bilinear`, the last
layer's traced product in :mod:`.traced`; the C kernels that serve the fast path on a CPU in
:mod:`.native`, the convolution's in :mod:`.hopconv`; what their autograd functions share in
:mod:`.autograd`;
``use_fast_path(module, False)`` selects the reference path), the network (:mod:`.network`),
the L-CNN fixed-point action ``lcnn`` (:mod:`.action`). Its offline trainer (``lqcd-hmc
train``) is a workflow: :mod:`workflows.training`."""

from .action import LCNNAction, LCNNFixedPoint, load_checkpoint, save_checkpoint
from .inputs import Plaq, Poly, plaquette_adjoint
from .layers import LBilin, LConv, LConvBilin, use_fast_path
from .network import LCNN, Architecture
from .sitewise import LAct, LExp, Trace
from .transport import laplacian, transport, transport_hops

__all__ = [
    "LCNNAction",
    "LCNNFixedPoint",
    "load_checkpoint",
    "save_checkpoint",
    "LAct",
    "LBilin",
    "LConv",
    "LConvBilin",
    "LExp",
    "Plaq",
    "Poly",
    "plaquette_adjoint",
    "Trace",
    "laplacian",
    "transport",
    "transport_hops",
    "use_fast_path",
    "LCNN",
    "Architecture",
]
