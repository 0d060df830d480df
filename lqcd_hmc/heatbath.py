"""Heatbath and overrelaxation for actions linear in each link (they provide staples).

In ``U = U_mu(x)`` such an action is ``S = const - Re Tr(U A)`` with the staple ``A`` (action
coefficients included, :meth:`Action.staples`).

* SU(N): Cabibbo-Marinari (Phys. Lett. B 119 (1982) 387): left-multiply U by SU(2) matrices R
  embedded in each subgroup (i, j), i < j. With ``W = U A`` and its 2x2 block ``w``, projected
  onto ``k V`` (V in SU(2), k >= 0), the conditional density of ``X = r V`` is
  ``exp(k Re Tr X) = exp(2k x0)`` on SU(2); x0 is drawn with Kennedy-Pendleton (Phys. Lett. B 156
  (1985) 393) for ``a = 2k >= 1`` and Creutz (Phys. Rev. D 21 (1980) 2308) below, the direction
  of (x1, x2, x3) uniformly; then ``r = X V^dagger``.
* Overrelaxation (Adler; Creutz, Phys. Rev. D 36 (1987) 515; Brown-Woch, PRL 58 (1987) 2394):
  ``r = (V^dagger)^2`` keeps ``Re Tr(r w)`` and is an involution.
* U(1): ``S = const - |W| cos(theta + arg W)`` for ``U -> e^{i theta} U``; theta from the von
  Mises distribution (Best-Fisher, Appl. Statist. 28 (1979) 152), overrelaxation
  ``theta = -2 arg W``.

Links of one direction are updated together on a colouring of the sites, ``c(x) = w.x mod m``,
chosen so that no two links of a colour share a term of the action (:meth:`coupled_offsets`):
parity for plaquettes, ``m = 4`` for rectangles on extents that are multiples of 4 (``m = 5, 6``
on extents 5, 6), ``m = 8`` with parallelograms; the smallest ``m`` is searched.
Random numbers come from each chain's own generator, so chain b of a batch is the chain b a run
of its own would produce.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from .action import Action
from .field import GaugeField
from .paths import Sites
from .rng import ChainRNG
from .update import Update, UpdateStats


# -- colouring ------------------------------------------------------------------------------
def find_colouring(
    dims: Sequence[int], offsets: set[tuple[int, ...]], max_m: int = 16
) -> tuple[int, tuple[int, ...]]:
    """The smallest ``m`` and weights ``w`` with ``w.d != 0 mod m`` for every coupled offset d
    and ``w_nu L_nu = 0 mod m`` (consistent with periodic boundaries)."""
    D = len(dims)
    if not offsets:
        return 1, (0,) * D
    for m in range(2, max_m + 1):
        allowed = [[wi for wi in range(m) if (wi * L) % m == 0] for L in dims]
        for w in itertools.product(*allowed):
            if all(sum(a * b for a, b in zip(w, d)) % m for d in offsets):
                return m, w
    raise ValueError(
        f"no colouring of a {'x'.join(map(str, dims))} lattice keeps the links "
        f"updated together independent for this action (a loop of it holds a "
        f"link twice, or the extents allow no {max_m}-colouring)"
    )


def colour_masks(dims: Sequence[int], m: int, w: Sequence[int], device=None) -> list[Tensor]:
    grids = torch.meshgrid(*[torch.arange(L, device=device) for L in dims], indexing="ij")
    colour = torch.zeros_like(grids[0])
    for wi, g in zip(w, grids):
        colour = colour + wi * g
    colour = colour % m
    return [colour == c for c in range(m) if bool((colour == c).any())]


# -- sampling -------------------------------------------------------------------------------
def _rejection(
    rng: ChainRNG,
    param: Tensor,
    u: Tensor,
    propose: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]],
) -> Tensor:
    """Per site of ``param`` ``(B, M)``: a value from ``propose(u, param)`` (``u (B, M, n)``:
    the first round's uniforms), repeated where it is rejected. Later rounds draw from each
    chain's generator only for that chain's rejected sites, so every chain's stream is its
    own."""
    n_uniform = u.shape[-1]
    value, ok = propose(u, param)
    while not bool(ok.all()):
        for b, g in enumerate(rng.generators):
            idx = (~ok[b]).nonzero().squeeze(1)
            if idx.numel() == 0:
                continue
            ub = torch.rand(
                idx.numel(), n_uniform, generator=g, dtype=torch.float64, device=param.device
            )
            vb, okb = propose(ub, param[b, idx])
            value[b, idx] = torch.where(okb, vb, value[b, idx])
            ok[b, idx] = okb
    return value


def _propose_x0(u: Tensor, a: Tensor) -> tuple[Tensor, Tensor]:
    """x0 with density ~ sqrt(1 - x0^2) exp(a x0): Kennedy-Pendleton for a >= 1, Creutz below
    (computed only where some a < 1)."""
    a = a.clamp_min(1e-300)
    lam2 = -(
        torch.log1p(-u[..., 0]) + torch.cos(2 * math.pi * u[..., 1]) ** 2 * torch.log1p(-u[..., 2])
    ) / (2 * a)
    kp = 1 - 2 * lam2
    ok_kp = u[..., 3] ** 2 <= 1 - lam2
    big = a >= 1
    if bool(big.all()):
        return kp, ok_kp
    cr = 1 + torch.log(torch.exp(-2 * a) + u[..., 0] * (-torch.expm1(-2 * a))) / a
    ok_cr = u[..., 3] ** 2 <= 1 - cr**2
    return torch.where(big, kp, cr), torch.where(big, ok_kp, ok_cr)


def su2_heatbath_quaternions(
    a: Tensor, rng: ChainRNG, u: tuple[Tensor, Tensor] | None = None
) -> Tensor:
    """Components ``(x0, x1, x2, x3)`` (last axis) of SU(2) matrices with density ``exp(a x0)``
    (Haar measure), shape ``(B, M, 4)``. ``u``: Philox uniforms drawn ahead, ``(B, M, 4)`` for
    the first round of x0 and ``(B, M, 2)`` for the direction; drawn here if not given, in
    that order, so both give the same numbers."""
    M = a.shape[1]
    u4, u2 = (rng.uniform((M, 4)), rng.uniform((M, 2))) if u is None else u
    x0 = _rejection(rng, a, u4, _propose_x0)
    cos_t = 2 * u2[..., 0] - 1
    phi = 2 * math.pi * u2[..., 1]
    r = torch.sqrt((1 - x0**2).clamp_min(0))
    s = torch.sqrt((1 - cos_t**2).clamp_min(0))
    return torch.stack((x0, r * s * torch.cos(phi), r * s * torch.sin(phi), r * cos_t), -1)


def su2_heatbath_elements(a: Tensor, rng: ChainRNG) -> Tensor:
    """SU(2) matrices ``X`` with density ``exp(a x0)`` (Haar measure), shape ``(B, M, 2, 2)``."""
    return _quaternion(*su2_heatbath_quaternions(a, rng).unbind(-1))


def _quaternion(x0: Tensor, x1: Tensor, x2: Tensor, x3: Tensor) -> Tensor:
    """``x0 + i x.sigma`` = [[x0 + i x3, x2 + i x1], [-x2 + i x1, x0 - i x3]]."""
    alpha = torch.complex(x0, x3)
    beta = torch.complex(x2, x1)
    return torch.stack(
        [torch.stack([alpha, beta], -1), torch.stack([-beta.conj(), alpha.conj()], -1)], -2
    )


def su2_projection(w: Tensor) -> tuple[Tensor, Tensor]:
    """``w`` (2x2) -> ``(k, V)``: the part ``[[p, q], [-q*, p*]]`` of w that ``Re Tr(r w)``
    sees for r in SU(2), as ``k V`` with ``V`` in SU(2) (:func:`_su2_part` as matrices)."""
    k, p, q = _su2_part(w, 0, 1)
    V = torch.stack([torch.stack([p, q], -1), torch.stack([-q.conj(), p.conj()], -1)], -2)
    return k, V


def von_mises(kappa: Tensor, rng: ChainRNG) -> Tensor:
    """Angles with density ~ exp(kappa cos theta) on (-pi, pi] (Best-Fisher)."""

    def propose(u: Tensor, kk: Tensor) -> tuple[Tensor, Tensor]:
        t = 1 + torch.sqrt(1 + 4 * kk**2)
        rh = (t - torch.sqrt(2 * t)) / (2 * kk)
        rr = (1 + rh**2) / (2 * rh)
        z = torch.cos(math.pi * u[..., 0])
        f = (1 + rr * z) / (rr + z)
        c = kk * (rr - f)
        u2 = u[..., 1].clamp_min(1e-300)
        ok = (c * (2 - c) - u2 > 0) | (torch.log(c / u2) + 1 - c >= 0)
        theta = torch.sign(u[..., 2] - 0.5) * torch.acos(f.clamp(-1, 1))
        small = kk < 1e-6  # flat: theta uniform
        return torch.where(small, math.pi * (2 * u[..., 0] - 1), theta), ok | small

    kappa = kappa.clamp_min(1e-12)
    return _rejection(rng, kappa, rng.uniform((kappa.shape[1], 3)), propose)


# -- the update -----------------------------------------------------------------------------
class Heatbath(Update):
    """One update = one heatbath sweep and ``overrelaxation`` overrelaxation sweeps over all
    links, direction by direction and colour by colour (:class:`~lqcd_hmc.update.Update`
    ``"heatbath"``; in a run card's ``[update]`` table: ``overrelaxation``, ``reunitarize``).
    Every update is accepted: ``metropolis`` is ignored."""

    name = "heatbath"
    config_keys = ("overrelaxation", "reunitarize")

    def __init__(self, action: Action, overrelaxation: int = 4, reunitarize: bool = True):
        if not action.has_staples:
            raise ValueError(
                f"the heatbath needs an action linear in each link; "
                f"{action.name!r} provides no staples (use HMC)"
            )
        if overrelaxation < 0:
            raise ValueError(f"overrelaxation steps must be >= 0, got {overrelaxation}")
        self.action = action
        self.overrelaxation = int(overrelaxation)
        self.reunitarize = reunitarize
        self._masks: dict[tuple, list[list[Tensor]]] = {}
        self._sites: dict[tuple, list[list[Sites]]] = {}  # the sites of each mask

    def working_memory(self) -> float:
        """Staples and proposals of one colour at a time: 5 link fields (``bench/memory.py``,
        SU(3) 12^4 x 4: 4.9)."""
        return 5.0

    def prepare(self, dims: Sequence[int], device: torch.device | str = "cpu") -> None:
        """Refuses (one line) a lattice that admits no colouring for this action."""
        self.colour_masks(dims, device)

    def colour_masks(
        self, dims: Sequence[int], device: torch.device | str = "cpu"
    ) -> list[list[Tensor]]:
        """Colour masks per direction (cached per lattice and device); raises if the lattice
        admits no colouring for this action."""
        dims = tuple(dims)
        key = (dims, str(device))
        if key not in self._masks:
            per_mu = []
            for mu in range(len(dims)):
                m, w = find_colouring(dims, self.action.coupled_offsets(len(dims), mu))
                per_mu.append(colour_masks(dims, m, w, device))
            self._masks[key] = per_mu
            self._sites[key] = [
                [Sites(m.flatten().nonzero()[:, 0], dims) for m in ms] for ms in per_mu
            ]
        return self._masks[key]

    def update(
        self, field: GaugeField, rng: ChainRNG, *, metropolis: bool = True
    ) -> tuple[GaugeField, UpdateStats]:
        t0 = time.perf_counter()
        field = self.sweep(field, rng, heatbath=True)
        for _ in range(self.overrelaxation):
            field = self.sweep(field, rng, heatbath=False)
        if self.reunitarize:
            field = field.reunitarize()
        if field.device.type == "cuda":
            torch.cuda.synchronize(field.device)
        return field, UpdateStats(seconds=time.perf_counter() - t0)

    def sweep(self, field: GaugeField, rng: ChainRNG | None, heatbath: bool) -> GaugeField:
        """One sweep of heatbath (``heatbath=True``) or overrelaxation updates."""
        links = field.links.clone()
        masks = self.colour_masks(field.dims, field.device)
        sites = self._sites[tuple(field.dims), str(field.device)]
        for mu in range(field.D):
            for mask, where in zip(masks[mu], sites[mu]):
                self.update_links(links, field.group, mu, mask, rng, heatbath, sites=where)
        return field.with_links(links)

    def update_links(
        self,
        links: Tensor,
        group,
        mu: int,
        mask: Tensor,
        rng: ChainRNG | None,
        heatbath: bool,
        subgroups: Sequence[tuple[int, int]] | None = None,
        sites: Sites | None = None,
    ) -> None:
        """Update ``U_mu(x)`` for the sites in ``mask`` in place (they must be independent;
        ``sites`` holds them as :class:`~.paths.Sites`, made from the mask if not given),
        through the SU(2) subgroups in the given order (default: (0,1), (0,2), ..., (N-2,N-1)).
        Each subgroup step ``r = [[a, b], [-b*, a*]]`` rotates rows i, j of ``[U | W]``
        (``W = U A``) in place. Each overrelaxation step is an involution; so the
        overrelaxation of a link is undone by the same steps in reverse order."""
        if sites is None:
            sites = Sites(mask.flatten().nonzero()[:, 0], mask.shape)
        A = self.action.staples(GaugeField(links, group), mu, sites)
        N = group.N
        flat = links.view(*links.shape[:2], -1, N, N)[:, mu]  # a view (raises if none)
        U = flat.index_select(1, sites.flat)
        if group.N == 1:
            R = _u1_rotation((U @ A)[..., 0, 0], rng, heatbath)[..., None, None]
            U = R * U
        else:
            if subgroups is None:
                subgroups = list(itertools.combinations(range(group.N), 2))
            if heatbath:
                assert rng is not None, "the heatbath draws random numbers"
                # every subgroup's Philox uniforms in one draw, in the order of one draw per
                # subgroup and purpose (4 per site for x0, then 2 for the direction)
                M = U.shape[1]
                u = rng.uniform((len(subgroups), 6 * M))
            UW = torch.cat((U, U @ A), dim=-1)  # [U | W]: R acts on the rows of both
            W = UW[..., N:]
            for n, (i, j) in enumerate(subgroups):
                k, p, q = _su2_part(W, i, j)
                if heatbath:
                    assert rng is not None
                    un = (u[:, n, : 4 * M].view(-1, M, 4), u[:, n, 4 * M :].view(-1, M, 2))
                    x = su2_heatbath_quaternions((2 * k).double(), rng, un).to(k.dtype)
                    ax, bx = (
                        torch.complex(x[..., 0], x[..., 3]),
                        torch.complex(x[..., 2], x[..., 1]),
                    )
                    a = ax * p.conj() + bx * q.conj()  # r = X V^dagger
                    b = bx * p - ax * q
                else:
                    a = p.conj() ** 2 - (q.real**2 + q.imag**2)  # r = (V^dagger)^2
                    b = -2 * q * p.real
                _rotate_rows(UW, a, b, i, j)  # R U and R W, R = r embedded in ij
            U = UW[..., :N]
        flat.index_copy_(1, sites.flat, U)


def _su2_part(W: Tensor, i: int, j: int) -> tuple[Tensor, Tensor, Tensor]:
    """The block ``w`` of rows and columns ``i, j`` of ``W`` as ``k V``, ``V = [[p, q], [-q*,
    p*]]`` in SU(2) (:func:`su2_projection` without building matrices): ``(k, p, q)``."""
    p = (W[..., i, i] + W[..., j, j].conj()) / 2
    q = (W[..., i, j] - W[..., j, i].conj()) / 2
    k = torch.sqrt(p.real**2 + p.imag**2 + q.real**2 + q.imag**2)
    safe = torch.where(k > 0, k, torch.ones_like(k))
    return k, torch.where(k > 0, p / safe, torch.ones_like(p)), q / safe


def _rotate_rows(X: Tensor, a: Tensor, b: Tensor, i: int, j: int) -> None:
    """``X -> r X`` in place for ``r = [[a, b], [-b*, a*]]`` acting on rows ``i, j``."""
    a, b = a.to(X.dtype)[..., None], b.to(X.dtype)[..., None]
    xi, xj = X[..., i, :].clone(), X[..., j, :]
    X[..., i, :] = a * xi + b * xj
    X[..., j, :] = a.conj() * xj - b.conj() * xi


def _u1_rotation(W: Tensor, rng: ChainRNG | None, heatbath: bool) -> Tensor:
    """``e^{i theta}`` for U(1): von Mises heatbath or the reflection theta = -2 arg W."""
    phase = torch.angle(W)
    if heatbath:
        assert rng is not None, "the heatbath draws random numbers"
        theta = von_mises(W.abs().double(), rng).to(phase.dtype) - phase
    else:
        theta = -2 * phase
    return torch.polar(torch.ones_like(theta), theta).to(W.dtype)
