"""Closed loops and open lines built from links by shifts and products (no loops over sites).

``links`` always has shape ``(B, D, *dims, N, N)``; per-direction fields ``(B, *dims, N, N)``.
"""
from __future__ import annotations

from torch import Tensor

from .lattice import shift


def real_trace_product(A: Tensor, B: Tensor) -> Tensor:
    """``Re Tr(A B^dagger)`` without forming the product: ``Re sum_ij A_ij conj(B_ij)``."""
    return (A.real * B.real + A.imag * B.imag).sum((-2, -1))


def line(U_mu: Tensor, mu: int, length: int, D: int) -> Tensor:
    """Straight Wilson line ``U_mu(x) U_mu(x+mu) ... U_mu(x+(length-1)mu)``."""
    out = U_mu
    for k in range(1, length):
        out = out @ shift(U_mu, mu, k, D)
    return out


def rectangle(links: Tensor, mu: int, nu: int, R: int = 1, T: int = 1) -> Tensor:
    """The R x T loop matrix at x, ``R`` links along ``mu`` then ``T`` along ``nu``:
    ``L_mu(x) L_nu(x + R mu) L_mu(x + T nu)^dagger L_nu(x)^dagger`` with straight lines L."""
    D = links.shape[1]
    Lm = line(links[:, mu], mu, R, D)
    Ln = line(links[:, nu], nu, T, D)
    return (Lm @ shift(Ln, mu, R, D)) @ (Ln @ shift(Lm, nu, T, D)).mH


def rectangle_re_trace(links: Tensor, mu: int, nu: int, R: int = 1, T: int = 1) -> Tensor:
    """``Re Tr`` of :func:`rectangle` per site, with two products fewer."""
    D = links.shape[1]
    Lm = line(links[:, mu], mu, R, D)
    Ln = line(links[:, nu], nu, T, D)
    return real_trace_product(Lm @ shift(Ln, mu, R, D), Ln @ shift(Lm, nu, T, D))


def plaquette(links: Tensor, mu: int, nu: int) -> Tensor:
    """``U_{mu nu}(x) = U_mu(x) U_nu(x+mu) U_mu(x+nu)^dagger U_nu(x)^dagger``."""
    return rectangle(links, mu, nu, 1, 1)


def plaquette_re_trace(links: Tensor, mu: int, nu: int) -> Tensor:
    """``Re Tr U_{mu nu}(x)`` per site, shape ``(B, *dims)``."""
    return rectangle_re_trace(links, mu, nu, 1, 1)


def plaquette_staples(links: Tensor, mu: int) -> Tensor:
    """Sum of the 2(D-1) plaquette staples of ``U_mu(x)``, so that the plaquettes containing
    ``U_mu(x)`` sum to ``Re Tr(U_mu(x) A_mu(x))``:
    ``A_mu(x) = sum_{nu != mu} U_nu(x+mu) U_mu(x+nu)^dag U_nu(x)^dag
                             + U_nu(x+mu-nu)^dag U_mu(x-nu)^dag U_nu(x-nu)``."""
    D = links.shape[1]
    U_mu = links[:, mu]
    A = None
    for nu in range(D):
        if nu == mu:
            continue
        U_nu = links[:, nu]
        U_nu_xpmu = shift(U_nu, mu, 1, D)
        upper = U_nu_xpmu @ (U_nu @ shift(U_mu, nu, 1, D)).mH
        lower = shift(U_nu_xpmu.mH @ U_mu.mH @ U_nu, nu, -1, D)
        term = upper + lower
        A = term if A is None else A + term
    return A


def average_plaquette(links: Tensor) -> Tensor:
    """``P = < Re Tr U_{mu nu} > / N`` over all sites and the D(D-1)/2 planes, per chain,
    accumulated in float64 (1 on a cold field)."""
    D, N = links.shape[1], links.shape[-1]
    total = sum(plaquette_re_trace(links, mu, nu).double().flatten(1).sum(1)
                for mu in range(D) for nu in range(mu + 1, D))
    n = links[0, 0, ..., 0, 0].numel() * D * (D - 1) // 2
    return total / (n * N)
