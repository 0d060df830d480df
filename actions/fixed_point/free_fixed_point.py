"""The free fixed-point action: the quadratic form that one RG step of the blocking kernel maps
onto itself (D = 4, U(1) normalisation of :mod:`.free`).

Iteration (:func:`free_fixed_point`): from the Wilson kernel, ``rho <- R[rho]`` with the exact
step R of :func:`.free.blocked_kernel`, rho held as position-space couplings in an odd box of
L^D offsets (the FP action's range; it decays as ``exp(-d/xi)`` with xi about 0.5) and refined
to the (2L)^D fine momenta by zero padding (:func:`kernel_at`). Two directions of the linearised
RG are not contracting and are held fixed after every step instead:

- the normalisation Z of ``rho(q) -> Z (q^2 delta - q q^T)`` at small q (the coupling; marginal,
  the FP is a line ``Z rho*(kappa/Z)``), so truncation errors would drift along it: we divide by
  Z (:func:`normalisation`), which fixes Z = 1, the continuum normalisation;
- hypercubic symmetry: the box truncation is not symmetric under the link reflections, and a
  reflection-odd term (dimension 3, eigenvalue 2 per step) grows from rounding unless the
  kernel is averaged over the 384 elements of the hypercubic group (:func:`symmetrise`).

The iteration then contracts geometrically (0.7-0.8 per step, set by the box) to a residual of
1e-10. :class:`FreeAction` puts the result on a lattice as a U(1) action, so that the nonlinear
minimiser (:class:`.minimise.FixedPoint`) can check the FP equation on small fields.

References: T. DeGrand, A. Hasenfratz, P. Hasenfratz, F. Niedermayer, Nucl. Phys. B 454 (1995) 587
(the free FP action of this kernel family); W. Bietenholz, U.-J. Wiese, Nucl. Phys. B 464 (1996)
319 (perfect free gauge actions).
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import torch
from torch import Tensor

from lqcd_hmc.action import Action
from lqcd_hmc.field import GaugeField

from .free import (
    D,
    blocking_map,
    coarse_step,
    momenta,
    noise_growth,
    transverse,
    wilson_kernel,
)


def couplings(rho: Tensor) -> Tensor:
    """Position-space couplings ``rho_{mu nu}(r) = L^-D sum_q e^{iqr} rho_{mu nu}(q)``, real,
    ``(L,)*D + (D, D)`` with r mod L: ``A = (1/2) sum_{x, r} theta_mu(x + r) rho_{mu nu}(r)
    theta_nu(x)``."""
    L = round(rho.shape[0] ** (1 / D))
    grid = rho.reshape(*([L] * D), D, D)
    return torch.fft.ifftn(grid, dim=tuple(range(D))).real


def kernel_at(coupling: Tensor, size: int) -> Tensor:
    """``rho(p) = sum_r rho(r) e^{-ipr}`` on the ``size^D`` momenta (:func:`momenta` order) from
    the couplings of an odd box ``L <= size`` (r in [-(L-1)/2, (L-1)/2]; the box is the
    truncation of the FP action's range)."""
    L = coupling.shape[0]
    if L % 2 == 0 or size < L:
        raise ValueError(f"couplings need an odd box no larger than the grid, got {L} and {size}")
    h = (L - 1) // 2
    idx = torch.tensor([r % size for r in range(-h, h + 1)])
    src = torch.tensor([r % L for r in range(-h, h + 1)])
    out = torch.zeros(*([size] * D), D, D, dtype=torch.float64)
    sel = torch.meshgrid(*([idx] * D), indexing="ij")
    out[sel] = coupling[torch.meshgrid(*([src] * D), indexing="ij")]
    rho = torch.fft.fftn(out.to(torch.complex128), dim=tuple(range(D))).reshape(-1, D, D)
    return 0.5 * (rho + rho.mH)


def symmetrise(rho: Tensor) -> Tensor:
    """The average of rho(q) (L^D momenta) over the hypercubic group: the reflection of axis a,
    ``theta'_mu(x) = s_mu theta_mu(Rx - delta_{mu a} e_a)`` with ``s_a = -1``, maps rho(q) to
    ``S^dag rho(Rq) S``, ``S = diag(s_mu e^{-i (Rq)_a delta_{mu a}})``; an axis permutation
    permutes q and the indices."""
    L = round(rho.shape[0] ** (1 / D))
    g = rho.reshape(*[L] * D, D, D)
    q = momenta(L).reshape(*[L] * D, D)
    neg = torch.tensor([(-m) % L for m in range(L)])
    for a in range(D):
        Rq_a = -q[..., a]
        s = torch.ones(*[L] * D, D, dtype=torch.complex128)
        s[..., a] = -torch.polar(torch.ones_like(Rq_a), Rq_a)
        g = 0.5 * (g + s.conj()[..., :, None] * g.index_select(a, neg) * s[..., None, :])
    acc = torch.zeros_like(g)
    for perm in itertools.permutations(range(D)):
        acc += g.permute(*perm, D, D + 1)[..., list(perm), :][..., :, list(perm)]
    return (acc / len(list(itertools.permutations(range(D))))).reshape(-1, D, D)


def normalisation(rho: Tensor) -> float:
    """Z of ``rho(q) -> Z (q^2 delta - q q^T)`` as q -> 0, from the second moment of the
    couplings in the centred box: ``d^2 rho_00 / dq_1^2 = 2 Z = -sum_r r_1^2 rho_00(r)``."""
    c = couplings(rho)
    L = c.shape[0]
    r = torch.tensor([x if x <= (L - 1) // 2 else x - L for x in range(L)], dtype=torch.float64)
    return float(-0.5 * (r[:, None, None] ** 2 * c[:, :, :, :, 0, 0].sum(0)).sum())


@dataclass(frozen=True)
class FreeFixedPoint:
    """The free FP action of a kernel: ``kernel`` rho(q) on the L^D momenta, ``couplings``
    rho_{mu nu}(r) (:func:`couplings`), and the largest change of rho(q) per RG step
    (``residuals``, the last below the tolerance); ``drift``: ``1 - Z`` of the last exact step
    before normalising (:func:`normalisation`), what the box truncation loses per step."""

    kernel: Tensor
    couplings: Tensor
    residuals: list[float]
    drift: float

    @property
    def L(self) -> int:
        return self.couplings.shape[0]

    def at(self, size: int) -> Tensor:
        """rho(q) on the ``size^D`` momenta (:func:`kernel_at`)."""
        return kernel_at(self.couplings, size)

    def envelope(self) -> tuple[Tensor, Tensor]:
        """Distances d and ``max |rho_{mu nu}(r)|`` over the couplings at distance d between the
        links' midpoints, ``d = |r + (e_mu - e_nu)/2|``, for d up to (L-1)/2 (inside the box)."""
        h = (self.L - 1) // 2
        r = torch.tensor(range(-h, h + 1), dtype=torch.float64)
        grid = torch.stack(torch.meshgrid(*([r] * D), indexing="ij"), -1)
        src = [int(x) % self.L for x in r]
        values = self.couplings[torch.meshgrid(*([torch.tensor(src)] * D), indexing="ij")]
        eye = torch.eye(D, dtype=torch.float64)
        mid = grid[..., None, None, :] + (eye[:, None, :] - eye[None, :, :]) / 2
        dist = mid.norm(dim=-1).flatten().round(decimals=6)
        vals = values.abs().flatten()
        keep = dist <= h
        dist, vals = dist[keep], vals[keep]
        d = torch.unique(dist)
        env = torch.zeros_like(d).scatter_reduce(0, torch.searchsorted(d, dist), vals, "amax")
        return d, env

    def decay_length(self, d_min: float = 1.5) -> float:
        """xi of ``max |rho(r)| ~ exp(-d/xi)``: a least-squares line through ``log`` of the
        :meth:`envelope` for ``d >= d_min`` (beyond the nearest neighbours)."""
        d, env = self.envelope()
        keep = (d >= d_min) & (env > 0)
        x, y = d[keep], env[keep].log()
        slope = ((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum()
        return float(-1 / slope)


@functools.lru_cache(maxsize=8)
def free_fixed_point(
    c: float,
    kappa: float,
    c_diagonal: float = 0.0,
    L: int = 9,
    tolerance: float = 1e-10,
    max_steps: int = 200,
) -> FreeFixedPoint:
    """The free FP action of the kernel (c, kappa, c_diagonal): iterate the exact RG step
    (:func:`.free.blocked_kernel`) from the Wilson kernel, symmetrised and normalised after
    each step (module docstring), until rho(q) moves by less than ``tolerance`` in one step. A
    kernel without a free fixed point (:func:`.free.noise_growth` >= 1) is refused with one
    line first. Memoised (the 11^4 box of the trainer costs about two minutes): the result is
    shared between callers and must not be modified."""
    growth = noise_growth(c, c_diagonal)
    if growth >= 1:
        raise ValueError(
            f"no free fixed point for the kernel c = {c}, c_diagonal = {c_diagonal}: the "
            f"white noise it adds grows by {growth:.3f} per RG step (it must shrink)"
        )
    M = blocking_map(momenta(2 * L), c, c_diagonal)
    rho = wilson_kernel(momenta(L))
    residuals: list[float] = []
    for _ in range(max_steps):
        new = symmetrise(coarse_step(kernel_at(couplings(rho), 2 * L), M, kappa, L))
        Z = normalisation(new)
        new = new / Z
        residuals.append(float((new - rho).abs().max()))
        rho = new
        if residuals[-1] < tolerance:
            return FreeFixedPoint(rho, couplings(rho), residuals, 1 - Z)
    raise ValueError(
        f"the free FP iteration for c = {c}, c_diagonal = {c_diagonal}, kappa = {kappa} "
        f"did not converge: rho still moves by {residuals[-1]:.2e} after {max_steps} steps"
    )


class FreeAction(Action):
    """The free FP action as an action of U(1) fields, non-compact: ``A = (V/2) sum_q theta(q)^dag
    rho(q) theta(q)`` with ``theta = arg U`` and ``theta(x) = sum_q e^{iqx} theta(q)`` (beta = 1),
    on ``L^D`` lattices with L at least the box. The couplings cut off at the box's edge leave
    rho(q) transverse only to about 1e-3 on a finer grid, and the near-flat gauge directions this
    leaves stall a minimiser; the kernel is therefore projected, ``P rho P``
    (:func:`.free.transverse`), which makes A exactly gauge invariant and changes it only at the
    size of the truncation. For checking the FP equation with the nonlinear minimiser on small
    fields: ``FixedPoint(..., finest=FreeAction(fp.couplings))``."""

    name = "free-fp"
    beta = 1.0

    def __init__(self, coupling: Tensor):
        self.coupling = coupling

    def kernel(self, L: int) -> Tensor:
        """The projected rho(q) on the L^D momenta (:func:`.free.momenta` order)."""
        return transverse(kernel_at(self.coupling, L), momenta(L))

    def __call__(self, field: GaugeField) -> Tensor:
        if field.N != 1 or field.D != D or len(set(field.dims)) != 1:
            raise ValueError(f"the free FP action takes U(1) fields on L^{D} lattices")
        L = field.dims[0]
        theta = torch.angle(field.links[..., 0, 0]).double()  # (B, D, *dims)
        th = torch.fft.fftn(theta, dim=tuple(range(2, 2 + D))) / L**D
        th = th.flatten(2).transpose(1, 2)  # (B, L^D, D)
        rho = self.kernel(L).to(field.device)
        quad = torch.einsum("bqm,qmn,bqn->b", th.conj(), rho, th)
        return 0.5 * L**D * quad.real

    def params(self) -> dict:
        return {"box": self.coupling.shape[0]}


def of_data(parameters: dict, L: int = 11) -> FreeFixedPoint:
    """The free FP action of the kernel stored with FP data (``c``, ``kappa``, ``c_diagonal``;
    0 for files written before diagonal staples existed), in an L^D box."""
    return free_fixed_point(
        float(parameters["c"]),
        float(parameters["kappa"]),
        float(parameters.get("c_diagonal", 0.0)),
        L=L,
        tolerance=1e-9,
    )
