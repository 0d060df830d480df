"""The RG blocking kernel of the fixed-point (FP) action, blocking factor 2.

``T[U, V] = -(kappa/N) sum_{x_B, mu} [Re Tr(V_mu(x_B) Q_mu(x_B)^dag)
                                     - max_{W in SU(N)} Re Tr(W Q_mu(x_B)^dag)]``
(T. DeGrand, A. Hasenfratz, P. Hasenfratz, F. Niedermayer, Nucl. Phys. B 454 (1995) 587,
hep-lat/9506030, eqs. (2.2)-(2.5)); the max term is the exact normalisation of the classical
limit, so ``T >= 0`` with equality iff V is the projection of Q.

The blocked link is the product of two "fat" links along the blocked direction,
``Q_mu(x_B) = W_mu(2 x_B) W_mu(2 x_B + mu)``, with
``W_mu(x) = (1 - 2(D-1) c - 4(D-1)(D-2) c_d) U_mu(x) + c sum (staples) + c_d sum (diagonal
staples)``: the 2(D-1) staples through one transverse direction and the 4(D-1)(D-2) five-link
diagonal staples ``nu, la, mu, -la, -nu`` through two, the path family of DHHN
(:func:`~.free.fat_link_paths`). The default kernel is the one whose free FP action is most
local (smallest decay length of its couplings) in the scan of ``bench/fp_locality.py``
(bench/RESULTS.md); every FP data set stores its kernel.

The maximum over SU(N) starts at the stationary point in the singular basis of Q
(:func:`optimal_phases`) and is confirmed by Cabibbo-Marinari sweeps over the SU(2) subgroups,
each of which maximises exactly, until the trace stops growing (:func:`max_trace_projection`);
U(1) and SU(2) have closed forms. Its derivative uses the envelope theorem: at the
maximiser W*, ``d max / dQ = d Re Tr(W* Q^dag) / dQ`` with W* held fixed.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from lqcd_hmc.field import GaugeField
from lqcd_hmc.heatbath import su2_projection
from lqcd_hmc.loops import real_trace_product, staple
from lqcd_hmc.paths import flat_sites, link_table, path_rows
from lqcd_hmc.products import product


def optimal_phases(Q: Tensor, newton: int = 8) -> Tensor:
    """The stationary point of ``Re Tr(W Q^dag)`` on SU(N) in the singular basis of Q: with
    ``Q = X diag(sigma) Y^dag``, ``W = X diag(exp(i phi)) Y^dag`` gives
    ``Re Tr(W Q^dag) = sum_k sigma_k cos phi_k``, and its maximum under the determinant
    constraint ``sum_k phi_k = alpha = -arg det(X Y^dag)`` has ``sigma_k sin phi_k = lambda``
    for every k (a Lagrange multiplier), so ``phi_k = arcsin(lambda / sigma_k)``, with lambda
    the root of ``sum_k arcsin(lambda / sigma_k) = alpha`` by ``newton`` Newton steps from
    the linearisation ``alpha / sum_k 1/sigma_k``. Where ``|alpha|`` is beyond the reach of
    these branches (``|lambda| <= min sigma``), the phases are ``alpha / N`` each (the polar
    projection). The SU(N) analogue of the orthogonal Procrustes problem with a determinant
    (W. Kabsch, Acta Cryst. A 32 (1976) 922); on the 8^4 fields of the FP data it is the
    maximum to rounding, where polar start and subgroup sweeps needed 6-12 sweeps."""
    X, sigma, Yh = torch.linalg.svd(torch.nan_to_num(Q, nan=0.0, posinf=0.0, neginf=0.0))
    alpha = -torch.angle(torch.linalg.det(X @ Yh))
    inv = 1 / sigma.clamp_min(1e-300)
    lim = sigma[..., -1] * (1 - 1e-12)
    reach = torch.asin((sigma[..., -1:] * inv).clamp(max=1)).sum(-1)
    lam = alpha / inv.sum(-1)
    for _ in range(newton):
        r = (lam.clamp(-lim, lim)[..., None] * inv).clamp(-1, 1)
        slope = (inv / torch.sqrt((1 - r * r).clamp_min(1e-300))).sum(-1)
        lam = lam.clamp(-lim, lim) - (torch.asin(r).sum(-1) - alpha) / slope
    phi = torch.asin((lam.clamp(-lim, lim)[..., None] * inv).clamp(-1, 1))
    phi = torch.where((alpha.abs() < reach)[..., None], phi, alpha[..., None] / Q.shape[-1])
    return (X * torch.polar(torch.ones_like(phi), phi)[..., None, :].to(X.dtype)) @ Yh


def max_trace_projection(
    Q: Tensor, N: int, sweeps: int = 50, tol: float = 1e-15, start: Tensor | None = None
) -> Tensor:
    """``argmax_{W in SU(N)} Re Tr(W Q^dag)`` (U(1) for N = 1); no gradient flows through it.
    For N >= 3: subgroup sweeps from ``start`` (default :func:`optimal_phases`) until the
    trace stops growing by ``tol`` relative, at most ``sweeps``."""
    with torch.no_grad():
        if N == 1:
            return Q / Q.abs().clamp_min(1e-300)
        if N == 2:
            return su2_projection(Q.mH)[1].mH
        W = optimal_phases(Q) if start is None else start
        best = real_trace_product(W, Q).sum()
        for _ in range(sweeps):
            for i, j in itertools.combinations(range(N), 2):
                idx = torch.tensor([i, j], device=Q.device)
                rows = W.index_select(-2, idx)  # rows i, j of W
                m = rows @ Q.mH.index_select(-1, idx)  # block (i, j) of W Q^dag
                W = W.index_copy(-2, idx, su2_projection(m)[1].mH @ rows)
            now = real_trace_product(W, Q).sum()
            if now - best <= tol * now.abs():
                break
            best = now
        return W


def _mul(A: Tensor, B: Tensor) -> Tensor:
    """``A B`` of gathered rows ``(R, B, N, N)`` of :func:`lqcd_hmc.paths.link_table`, whose
    chains are the second dimension (natively on a CPU: :func:`lqcd_hmc.products.product`)."""
    return product(A, B, chain_dim=1)


def _check_even(dims: Sequence[int]) -> None:
    if any(L % 2 for L in dims):
        raise ValueError(f"blocking by 2 needs even extents, got {list(dims)}")


@functools.lru_cache(maxsize=16)
def _fat_link_rows(dims: tuple[int, ...], device: str) -> dict[str, Tensor]:
    """Rows (:func:`lqcd_hmc.paths.path_rows`) of the pieces of ``W_mu(x)`` at the sites
    ``x = 2 y + p mu``, p = 0, 1, with y row-major on the coarse lattice:

    - ``link``: ``U_mu(x)``, ordered ``(mu, p, y)``;
    - ``arm``, ``back``: ``U_{s nu}(x)`` and ``U_{s nu}(x + mu)^dag`` (steps ``s nu`` from x and
      ``-s nu`` from ``x + s nu + mu``), ordered ``(mu, p, nu s, y)``;
    - ``middle``: ``U_mu(z)`` at ``z = x + s nu``, same order;
    - ``staple``: the staples ``(t la, mu, -t la)`` from z through ``la != mu, nu`` for
      ``s = +1`` alone, ordered ``(mu, p, nu, la t, y)``: the site ``z = 2 y + p mu - nu`` of
      ``s = -1`` is the ``s = +1`` site of ``y - nu``, so the staple sums there are the same;
    - ``fold``: for each ``(mu, p, nu s, y)``, its row among the staple sums ``(mu, p, nu,
      y)``, i.e. ``y`` for ``s = +1`` and ``y - nu`` for ``s = -1``;
    - ``gather``: the rows of link, arm, back, middle and the three steps of the staples in
      turn, for one gather."""
    D = len(dims)
    coarse = torch.stack(
        torch.meshgrid(*(torch.arange(L // 2) for L in dims), indexing="ij"), -1
    ).reshape(-1, D)
    half = [L // 2 for L in dims]
    parts: dict[str, list[Tensor]] = {
        k: [] for k in ("link", "arm", "back", "middle", "staple", "fold")
    }
    for mu in range(D):
        for p in (0, 1):
            x = 2 * coarse
            x[:, mu] += p
            parts["link"].append(path_rows(dims, x, (mu + 1,)))
            for nu in (n for n in range(D) if n != mu):
                first = len(parts["fold"]) // 2 * coarse.shape[0]  # row of (mu, p, nu, y = 0)
                for s in (1, -1):
                    z = x.clone()
                    z[:, nu] += s
                    zmu = z.clone()
                    zmu[:, mu] += 1
                    parts["arm"].append(path_rows(dims, x, (s * (nu + 1),)))
                    parts["back"].append(path_rows(dims, zmu, (-s * (nu + 1),)))
                    parts["middle"].append(path_rows(dims, z, (mu + 1,)))
                    y = coarse.clone()
                    y[:, nu] -= (1 - s) // 2
                    parts["fold"].append(first + flat_sites(y, half))
                    if s == 1:
                        for la in (k for k in range(D) if k not in (mu, nu)):
                            for t in (1, -1):
                                path = (t * (la + 1), mu + 1, -t * (la + 1))
                                parts["staple"].append(path_rows(dims, z, path))
    empty = torch.zeros(3, 0, dtype=torch.long)  # D = 2 has no diagonal staples
    rows = {k: torch.cat(v or [empty], dim=1) for k, v in parts.items() if k != "fold"}
    rows["fold"] = torch.cat(parts["fold"])
    rows["gather"] = torch.cat(
        [rows[k][0] for k in ("link", "arm", "back", "middle")] + list(rows["staple"])
    )
    return {k: v.to(device) for k, v in rows.items()}


@dataclass(frozen=True)
class Blocking:
    """The blocking kernel (module docstring) with staple weight ``c``, diagonal-staple weight
    ``c_diagonal`` and strength ``kappa``."""

    c: float = 0.08
    kappa: float = 16.0
    c_diagonal: float = 0.005

    def __post_init__(self) -> None:
        """A kernel must be a positive quadratic penalty (``kappa > 0``) of a fat link whose
        weights are those of an average (``c, c_d >= 0``, ``1 - 6c - 24c_d >= 0`` in D = 4)."""
        if not (math.isfinite(self.kappa) and self.kappa > 0):
            raise ValueError(f"blocking kernel: kappa must be positive, got {self.kappa}")
        if not (math.isfinite(self.c) and 0 <= self.c <= 1 / 6):
            raise ValueError(
                f"blocking kernel: c must be in [0, 1/6] (the fat link's own weight 1 - 6c "
                f"stays >= 0), got {self.c}"
            )
        if not (math.isfinite(self.c_diagonal) and 0 <= self.c_diagonal <= (1 - 6 * self.c) / 24):
            raise ValueError(
                f"blocking kernel: c_diagonal must be in [0, (1 - 6c)/24] = "
                f"[0, {(1 - 6 * self.c) / 24:.4g}] (the fat link's own weight 1 - 6c - 24c_d "
                f"stays >= 0), got {self.c_diagonal}"
            )

    def fat_links(self, links: Tensor) -> list[Tensor]:
        """``W_mu(x)`` for every fine link, one ``(B, *dims, N, N)`` tensor per direction (the
        links are split by ``unbind``: indexing them once per staple made the backward pass
        zero-fill a whole link field per index)."""
        D = links.shape[1]
        U = links.unbind(1)
        own = self._weights(D)[0]
        out = []
        for mu in range(D):
            others = [nu for nu in range(D) if nu != mu]
            W = own * U[mu]
            if self.c:
                W = W + self.c * sum(staple(U[nu], U[mu], mu, nu, D) for nu in others)
            if self.c_diagonal:
                for la in others:  # staples through la, then carried along nu != la
                    S = staple(U[la], U[mu], mu, la, D)
                    W = W + self.c_diagonal * sum(
                        staple(U[nu], S, mu, nu, D) for nu in others if nu != la
                    )
            out.append(W)
        return out

    def blocked_reference(self, fine: Tensor) -> Tensor:
        """``Q_mu(x_B)`` from the fat links of every fine site (:meth:`fat_links`): the
        definition that :meth:`blocked` reproduces."""
        D = fine.shape[1]
        _check_even(fine.shape[2 : 2 + D])
        even = (slice(None),) + (slice(None, None, 2),) * D
        Q = [
            W[even] @ torch.roll(W, -1, dims=1 + mu)[even]
            for mu, W in enumerate(self.fat_links(fine))
        ]
        return torch.stack(Q, dim=1)

    def blocked(self, fine: Tensor) -> Tensor:
        """``Q_mu(x_B)`` on the coarse lattice, ``(B, D, *dims/2, N, N)``. Only the fat links
        ``W_mu(2 x_B)`` and ``W_mu(2 x_B + mu)`` enter Q, an eighth of them in D = 4, and
        they are built at those sites alone, with the staples nested:
        ``W_mu(x) = w U_mu(x) + sum_{nu, s} U_{s nu}(x) M_{s nu}(x) U_{s nu}(x + mu)^dag``,
        ``M_{s nu} = c U_mu(z) + c_d sum_{la, t} U_{t la}(z) U_mu(z + t la) U_{t la}(z + mu)^dag``
        at ``z = x + s nu``, from one gather of the links on these paths
        (:func:`lqcd_hmc.paths.path_rows`): 6.4 times fewer products than
        :meth:`blocked_reference`."""
        B, D = fine.shape[:2]
        dims = tuple(fine.shape[2 : 2 + D])
        _check_even(dims)
        rows = _fat_link_rows(dims, str(fine.device))
        # one gather of every link the paths read: its backward is one scatter into the table
        steps = [rows[k][0] for k in ("link", "arm", "back", "middle")] + list(rows["staple"])
        link, arm, back, middle, *staple = (
            link_table(fine).index_select(0, rows["gather"]).split([len(r) for r in steps])
        )
        own, c, c_d = self._weights(D)
        vc = math.prod(dims) // 2**D
        M = c * middle
        if c_d and D > 2:
            staples = _mul(_mul(staple[0], staple[1]), staple[2]).unflatten(
                0, (-1, 2 * (D - 2), vc)
            )
            M = M + c_d * staples.sum(1).flatten(0, 1).index_select(0, rows["fold"])
        arms = _mul(_mul(arm, M), back)
        W = own * link.unflatten(0, (D, 2, vc))
        W = W + arms.unflatten(0, (D, 2, 2 * (D - 1), vc)).sum(2)
        Q = product(W[:, 0], W[:, 1], chain_dim=2).movedim(2, 0)  # (B, D, V/2^D, N, N)
        return Q.reshape(B, D, *(L // 2 for L in dims), *fine.shape[-2:])

    def _weights(self, D: int) -> tuple[float, float, float]:
        """Weights of the link itself, its staples and its diagonal staples in ``W_mu``."""
        own = 1 - 2 * (D - 1) * self.c - 4 * (D - 1) * (D - 2) * self.c_diagonal
        return own, self.c, self.c_diagonal

    def __call__(self, fine: GaugeField, coarse: GaugeField) -> Tensor:
        """``T[U, V]`` per configuration, float64 ``(B,)``; differentiable in both."""
        if tuple(2 * L for L in coarse.dims) != fine.dims or coarse.group != fine.group:
            raise ValueError(
                f"blocking needs a fine lattice twice the coarse one in each "
                f"direction, got fine {list(fine.dims)} and coarse "
                f"{list(coarse.dims)}"
            )
        Q = self.blocked(fine.links)
        Wmax = max_trace_projection(Q, fine.N)
        gap = real_trace_product(Wmax, Q) - real_trace_product(coarse.links, Q)
        return (self.kappa / fine.N) * gap.double().flatten(1).sum(1)
