"""The ``GaugeField`` container: B configurations of links ``U_mu(x)`` in one tensor.

``links`` has shape ``(B, D, L_0, ..., L_{D-1}, N, N)``; axis ``2 + mu`` is ``x_mu``; direction
``D - 1`` is time; boundaries are periodic (docs/conventions.md, section 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from .groups import Group, get_group
from .lattice import check_dims, shift, volume
from .rng import ChainRNG

DTYPES = {"complex128": torch.complex128, "complex64": torch.complex64}


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; asking for CUDA without it is an error."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(
            f"unknown device {device!r} (use 'cpu', 'cuda', 'cuda:K' or 'auto')"
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} requested but CUDA is not available")
    return dev


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        if dtype not in DTYPES.values():
            raise ValueError(f"links must be complex64 or complex128, got {dtype}")
        return dtype
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r} (use 'complex128' or 'complex64')")
    return DTYPES[dtype]


@dataclass(init=False)
class GaugeField:
    """Links of ``B`` gauge configurations and the group they live in (a :class:`Group` or its
    name)."""

    links: Tensor
    group: Group

    def __init__(self, links: Tensor, group: str | Group):
        self.links = links
        self.group = get_group(group)
        L = self.links
        if L.dim() < 6 or L.shape[-1] != L.shape[-2] or L.shape[-1] != self.group.N:
            raise ValueError(
                f"links of shape {tuple(L.shape)} do not fit {self.group}: expected "
                f"(B, D, *dims, {self.group.N}, {self.group.N})"
            )
        if L.shape[1] != L.dim() - 4:
            raise ValueError(
                f"links of shape {tuple(L.shape)}: axis 1 must hold D = {L.dim() - 4} directions"
            )

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def cold(
        cls,
        dims: Sequence[int],
        group: str | Group,
        batch: int = 1,
        dtype: str | torch.dtype = torch.complex128,
        device: str | torch.device = "cpu",
    ) -> GaugeField:
        """All links equal to the identity."""
        dims, group = check_dims(dims), get_group(group)
        links = group.identity(
            (batch, len(dims), *dims), resolve_dtype(dtype), resolve_device(device)
        )
        return cls(links, group)

    @classmethod
    def hot(
        cls,
        dims: Sequence[int],
        group: str | Group,
        rng: ChainRNG,
        dtype: str | torch.dtype = torch.complex128,
    ) -> GaugeField:
        """Haar-random links, chain b drawn from generator b of ``rng``."""
        dims, group = check_dims(dims), get_group(group)
        shape = (len(dims), *dims)
        links = rng.per_chain(lambda g: group.random_haar(shape, g, device=rng.device))
        return cls(links.to(resolve_dtype(dtype)), group)

    @classmethod
    def near_identity(
        cls,
        dims: Sequence[int],
        group: str | Group,
        rng: ChainRNG,
        eps: float,
        dtype: str | torch.dtype = torch.complex128,
    ) -> GaugeField:
        """Links ``exp(i eps w_a T_a)`` with ``w_a ~ N(0, 1)``: a smooth, small-action field."""
        dims, group = check_dims(dims), get_group(group)
        shape = (len(dims), *dims)
        links = rng.per_chain(
            lambda g: group.random_near_identity(shape, eps, g, device=rng.device)
        )
        return cls(links.to(resolve_dtype(dtype)), group)

    def with_links(self, links: Tensor) -> GaugeField:
        return GaugeField(links, self.group)

    # -- shape and storage --------------------------------------------------------------------
    @property
    def batch(self) -> int:
        return self.links.shape[0]

    @property
    def D(self) -> int:
        return self.links.shape[1]

    @property
    def dims(self) -> tuple[int, ...]:
        return tuple(self.links.shape[2 : 2 + self.D])

    @property
    def N(self) -> int:
        return self.group.N

    @property
    def volume(self) -> int:
        return volume(self.dims)

    @property
    def dtype(self) -> torch.dtype:
        return self.links.dtype

    @property
    def device(self) -> torch.device:
        return self.links.device

    def to(self, device=None, dtype=None) -> GaugeField:
        dtype = resolve_dtype(dtype) if dtype is not None else None
        device = resolve_device(device) if device is not None else None
        return self.with_links(self.links.to(device=device, dtype=dtype))

    def clone(self) -> GaugeField:
        return self.with_links(self.links.clone())

    def __getitem__(self, mu: int) -> Tensor:
        """Links of direction ``mu``: shape ``(B, *dims, N, N)``."""
        return self.links[:, mu]

    # -- group operations ---------------------------------------------------------------------
    def gauge_transform(self, O: Tensor) -> GaugeField:
        """``U_mu(x) -> O(x) U_mu(x) O(x + mu)^dagger`` for ``O`` of shape ``(B, *dims, N, N)``."""
        D = self.D
        new = [O @ self.links[:, mu] @ shift(O, mu, 1, D).mH for mu in range(D)]
        return self.with_links(torch.stack(new, dim=1))

    def random_gauge(self, rng: ChainRNG) -> Tensor:
        """A Haar-random gauge transformation ``O(x)``, one per chain."""
        return rng.per_chain(lambda g: self.group.random_haar(self.dims, g, device=self.device)).to(
            self.dtype
        )

    def reunitarize(self) -> GaugeField:
        return self.with_links(self.group.reunitarize(self.links))

    def unitarity_violation(self) -> Tensor:
        """``max |U U^dagger - 1|`` per chain (rounding drift monitor)."""
        eye = torch.eye(self.N, dtype=self.dtype, device=self.device)
        dev = (self.links @ self.links.mH - eye).abs()
        return dev.reshape(self.batch, -1).amax(-1)
