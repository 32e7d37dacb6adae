"""Simulation: gymnasium envs (blimp MJCF, N-link swimmer), HAR datasets, the sensing-to-action loop and metrics."""
