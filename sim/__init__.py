"""Simulation: gymnasium envs (blimp MJCF, N-link swimmer), HAR datasets, the sensing-to-action loop and metrics.

Importing ``sim`` registers the environments with gymnasium by entry-point string only; MuJoCo is
loaded when an environment is made (``gymnasium.make("snnctl/BlimpAltitude-v0")``,
``gymnasium.make("snnctl/SwimmerN-v0", n_links=8)``) or a module such as ``sim.blimp`` is imported.
"""

from gymnasium.envs.registration import register, registry

if "snnctl/BlimpAltitude-v0" not in registry:
    register(
        id="snnctl/BlimpAltitude-v0",
        entry_point="sim.blimp:BlimpAltitudeEnv",
        # One step = one 10-Hz control period; the env truncates itself after episode_s (120 s).
        max_episode_steps=None,
    )

if "snnctl/SwimmerN-v0" not in registry:
    register(
        id="snnctl/SwimmerN-v0",
        entry_point="sim.swimmer:SwimmerNEnv",
        # As Swimmer-v5: 1000 steps of 0.04 s. The body length is a make() kwarg: n_links=3..16 (default 6).
        max_episode_steps=1000,
    )
