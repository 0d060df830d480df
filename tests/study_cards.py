"""A tiny SU(2) 4^4 study card of two actions at two spacings for the compare tests."""

STUDY = """
[study]
output = "{out}"
{extra_study}
[classical]
L = 16
modes = [1, 2, 3]
[lattice]
dims = [4, 4, 4, 4]
group = "SU(2)"
batch = 4
seed = 11
start = "hot"
[update]
algorithm = "hmc"
integrator = "omelyan2"
steps = 5
[run]
thermalisation = 6
trajectories = 12
save_interval = 12
checkpoint_interval = 6
[[measure]]
name = "gradient_flow"
interval = 2
epsilon = 0.1
t_max = 1.5
spacing = 0.1
topology = true
[[measure]]
name = "wilson_loops"
interval = 2
r_max = 2
t_max = 3
shapes = [[1, 1], [2, 1], [2, 2]]
[[action]]
name = "wilson"
betas = [2.0, 2.2]
[[action]]
name = "symanzik"
label = "LW"
betas = [1.7, 1.9]
{extra_action}
"""


def write_study(path, out, extra_study="", extra_action=""):
    path.write_text(
        STUDY.format(out=out.as_posix(), extra_study=extra_study, extra_action=extra_action)
    )
    return path
