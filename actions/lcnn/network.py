"""The L-CNN: plaquettes (and Polyakov loops) in, gauge-invariant per-site scalars out.

``Plaq [+ Poly] -> (LConvBilin -> LAct) x n -> Re Tr -> linear readout``, with optional
smearing steps before it (``Plaq -> LConvBilin -> LExp`` replaces the links), following
Holland, Ipp, Müller, Wenger, arXiv:2401.06481 (default: three L-CB layers with 12, 24, 24
channels and kernel sizes 2, 2, 1). Only ``Re Tr`` is read out, so with real weights the output
is invariant under charge conjugation ``U -> U*`` as well as under gauge transformations.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, cast

import torch
from torch import Tensor, nn

from lqcd_hmc.groups import get_group

from . import native
from .hopconv import hop_laplacian
from .inputs import Plaq, Poly, plaquette_adjoint, with_adjoints
from .layers import LConvBilin
from .sitewise import LAct, LExp
from .transport import laplacian, transport_hops


@dataclass
class Architecture:
    """Everything that rebuilds an :class:`LCNN` (stored in checkpoints)."""

    D: int
    group: str
    channels: list[int] = field(default_factory=lambda: [12, 24, 24])
    kernel_sizes: list[int] = field(default_factory=lambda: [2, 2, 1])
    activation: str = "sigmoid"
    polyakov: bool = False
    complex_weights: bool = False
    smearing: list[int] = field(default_factory=list)
    smearing_kernel: int = 2
    outputs: int = 1
    inputs: str = "plaquettes"

    def __post_init__(self) -> None:
        self.group = str(get_group(self.group))
        if self.inputs not in ("plaquettes", "laplacians"):
            raise ValueError(f"inputs must be 'plaquettes' or 'laplacians', got {self.inputs!r}")
        if len(self.channels) != len(self.kernel_sizes) or not self.channels:
            raise ValueError(
                f"channels {self.channels} and kernel_sizes {self.kernel_sizes} "
                "must be non-empty lists of one length"
            )
        if min(self.channels + self.kernel_sizes + [self.outputs] + self.smearing) < 1:
            raise ValueError("channels, kernel sizes, smearing channels and outputs must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class LCNN(nn.Module):
    """``N_x[U]``: ``outputs`` real gauge-invariant scalars per site, shape
    ``(B, outputs, *dims)`` in the links' real dtype."""

    def __init__(self, arch: Architecture):
        super().__init__()
        self.arch = arch
        D = arch.D
        self.plaq, self.poly = Plaq(), Poly()
        n_in = D * (D - 1)
        self.smear_conv = nn.ModuleList(
            LConvBilin(n_in, c, arch.smearing_kernel, D, arch.complex_weights)
            for c in arch.smearing
        )
        self.smear_exp = nn.ModuleList(LExp(c, D, arch.group) for c in arch.smearing)
        c_in = n_in + (D if arch.polyakov else 0)
        layers, acts = [], []
        for c, k in zip(arch.channels, arch.kernel_sizes):
            layers.append(LConvBilin(c_in, c, k, D, arch.complex_weights))
            acts.append(LAct(c, arch.activation))
            c_in = c
        self.layers, self.acts = nn.ModuleList(layers), nn.ModuleList(acts)
        self.readout = nn.Parameter(
            torch.randn(arch.outputs, c_in, dtype=torch.float64) / c_in**0.5
        )

    @property
    def reach(self) -> int | None:
        """Links within this Chebyshev distance of x determine the output at x (None with
        Polyakov loops): each smearing step adds its kernel reach and a plaquette, the
        plaquettes one, their Laplacians one more, each L-CB layer ``K - 1``."""
        a = self.arch
        if a.polyakov:
            return None
        laplacians = int(a.inputs == "laplacians")
        return (
            len(a.smearing) * a.smearing_kernel
            + 1
            + laplacians
            + sum(k - 1 for k in a.kernel_sizes)
        )

    def features(self, U: Tensor) -> tuple[Tensor, Tensor, list[Tensor] | None]:
        """Links after the smearing steps, the input channels, and the hops of
        :func:`transport_hops` where they were needed (else None). Channels: plaquettes (and
        Polyakov loops), or with ``inputs = "laplacians"`` the covariant Laplacians of the
        plaquettes, ``sum_mu (T_{+mu} + T_{-mu} - 2) P(x) / (2 D)`` (of the size of ``P``),
        which vanish on covariantly constant fields (constant flux): every channel is then the
        same there as on the cold field, so the network's deviation ``N_x - N_x[1]`` is zero and
        the action exact on them. The Laplacians are the native convolution
        (:func:`.hopconv.hop_laplacian`) where the kernels run, else hop matrices."""
        for conv, exp in zip(self.smear_conv, self.smear_exp):
            U = exp(U, conv(U, self.plaq(U), adjoint=plaquette_adjoint(self.arch.D)))
        W, hops = self.plaq(U), None
        if self.arch.inputs == "laplacians":
            # transport commutes with the adjoint: the Laplacians of the plaquettes' adjoints
            # are the adjoints of theirs, so only the plaquettes are transported
            P = self.plaq.oriented(U)
            if native.available(P):  # as a convolution, no hop matrices
                W = with_adjoints(hop_laplacian(U, P))
            else:
                hops = transport_hops(U)
                W = with_adjoints(laplacian(P, hops))
        if self.arch.polyakov:
            W = torch.cat([W, self.poly(U)], dim=1)
        return U, W, hops

    def forward(self, U: Tensor) -> Tensor:
        U, W, hops = self.features(U)
        if hops is None and any(cast(LConvBilin, m).conv.uses_hops(W) for m in self.layers):
            hops = transport_hops(U)  # shared by the layers
        for i in range(len(self.layers)):
            W = self.block(i, U, W, hops)
        return torch.einsum("oc,bc...->bo...", self.readout.to(W.dtype), W)

    def block(self, i: int, U: Tensor, W: Tensor, hops: list[Tensor] | None) -> Tensor:
        """L-CB layer ``i`` and its activation as :meth:`forward` runs them. The first runs on
        half its input channels where the inputs hold their own adjoints (the plaquettes and
        their Laplacians, :meth:`LConvBilin.forward`). The last gives only ``Re Tr / N``,
        ``(B, C, *dims)`` real, all the readout takes: formed from traces of products, never
        the products themselves (:meth:`LBilin.real_trace`)."""
        layer = cast(LConvBilin, self.layers[i])
        act = cast(LAct, self.acts[i])
        first = i == 0 and not self.arch.polyakov
        adjoint = plaquette_adjoint(self.arch.D) if first else None
        if i == len(self.layers) - 1:
            return act.real_trace(layer.real_trace(U, W, hops, adjoint))
        return act(layer(U, W, hops, adjoint))
