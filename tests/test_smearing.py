"""APE, stout and HYP smearing: group membership, gauge covariance, fixed points, and stout as
an Euler step of the Wilson flow."""

import pytest
import torch
from helpers import random_field

from lqcd_hmc import ChainRNG, GaugeField
from lqcd_hmc.groups import project_to_group
from lqcd_hmc.smearing import ape, hyp, smear, stout
from lqcd_hmc.smooth import abelian_flux
from observables.flow import Flow

SMEARINGS = {
    "ape": lambda f, s: ape(f, 0.6, 2, s),
    "stout": lambda f, s: stout(f, 0.12, 2, s),
    "hyp": lambda f, s: hyp(f, (0.75, 0.6, 0.3), 1, s),
}


def in_group(f: GaugeField) -> None:
    assert f.unitarity_violation().max() < 1e-12
    if f.N > 1:
        det = torch.linalg.det(f.links)
        assert torch.allclose(det, torch.ones_like(det), atol=1e-12)


@pytest.mark.parametrize("name", sorted(SMEARINGS))
@pytest.mark.parametrize("group,D", [("SU(3)", 4), ("SU(2)", 3), ("U(1)", 3)])
@pytest.mark.parametrize("spatial", [False, True])
def test_group_and_covariance(name, group, D, spatial):
    f = random_field(group, D, eps=0.8)
    O = f.random_gauge(ChainRNG(5, 2))
    sm = SMEARINGS[name]
    a = sm(f, spatial)
    in_group(a)
    assert torch.allclose(
        sm(f.gauge_transform(O), spatial).links, a.gauge_transform(O).links, atol=1e-12
    )
    assert not torch.allclose(a.links, f.links)
    if spatial:  # time links untouched
        assert torch.equal(a.links[:, -1], f.links[:, -1])


@pytest.mark.parametrize("name", sorted(SMEARINGS))
def test_cold_and_flux_fields_are_fixed_points(name):
    """Identity links stay; so does a constant abelian flux: the two staples of a link in the
    flux plane are exp(-+i phi H) U, their sum 2 cos(phi) U is a real multiple of U."""
    cold = GaugeField.cold([4, 4, 4, 4], "SU(3)")
    assert torch.allclose(SMEARINGS[name](cold, False).links, cold.links, atol=1e-14)
    flux = abelian_flux([4, 4, 4, 4], "SU(2)", 1, 0, 1)
    for spatial in (False, True):
        assert torch.allclose(SMEARINGS[name](flux, spatial).links, flux.links, atol=1e-12)


def test_stout_is_an_euler_step_of_the_wilson_flow():
    """exp(eps Z(U)) U with Z the Wilson-flow generator equals one stout step at rho = eps
    (Lüscher 2010, section 2): pins the flow generator's sign and normalisation."""
    f = random_field("SU(3)", 4, eps=0.5)
    eps = 0.03
    Z = Flow("wilson").generator(f.links, f)
    euler = f.group.exp(eps * Z) @ f.links
    assert torch.allclose(stout(f, eps).links, euler, atol=1e-12)


def test_small_alpha_is_near_identity_and_projection():
    f = random_field("SU(3)", 4, eps=0.5)
    assert torch.allclose(ape(f, 0.0).links, f.links, atol=1e-12)
    assert torch.allclose(stout(f, 0.0).links, f.links, atol=1e-14)
    assert torch.allclose(hyp(f, (0, 0, 0)).links, f.links, atol=1e-12)
    assert torch.allclose(project_to_group(f.links, 3), f.links, atol=1e-12)
    assert torch.equal(ape(f, 0.5, steps=0).links, f.links)


def test_smearing_reduces_the_action():
    """Smearing smooths: the plaquette of a rough field rises."""
    from observables import plaquette

    f = random_field("SU(3)", 4, eps=1.0)
    for name in SMEARINGS:
        assert (plaquette(SMEARINGS[name](f, False)) > plaquette(f)).all(), name


def test_smear_dispatch_and_bad_input():
    f = random_field("SU(2)", 4, eps=0.5)
    assert torch.allclose(
        smear(f, {"method": "ape", "alpha": 0.3, "steps": 2}).links, ape(f, 0.3, 2).links
    )
    assert smear(f, None) is f
    with pytest.raises(ValueError, match="unknown smearing"):
        smear(f, {"method": "gauss"})
    with pytest.raises(ValueError, match="bad parameters"):
        smear(f, {"method": "ape", "rho": 0.1})
    with pytest.raises(ValueError, match="steps"):
        ape(f, 0.5, -1)
    with pytest.raises(ValueError, match="three weights"):
        hyp(f, (0.7, 0.6))
    with pytest.raises(ValueError, match="two"):
        ape(random_field("U(1)", 2), 0.5, 1, spatial=True)
