"""SwimmerNEnv: Swimmer-v5 reproduced at 3 links, N-link generation, drag against closed form, framing.

Independent truths: gymnasium's own Swimmer-v5 (same observations, rewards and positions step by
step); capsule volumes for the masses; the closed-form solution of a straight body coasting under
MuJoCo's inertia-box drag (linear + quadratic in the speed); energy that only the fluid can take
away; pinhole projection of the capsules' ends through the track camera.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

gym = pytest.importorskip("gymnasium")
mujoco = pytest.importorskip("mujoco")

from gymnasium.utils.env_checker import check_env  # noqa: E402

import sim  # noqa: E402,F401  (registers the envs)
from sim.swimmer import MAX_LINKS, MIN_LINKS, SwimmerNEnv, swimmer_mjcf  # noqa: E402

pytestmark = [
    # check_env's advice for RL libraries: an unbounded observation is Swimmer-v5's too.
    pytest.mark.filterwarnings("ignore:.*Box observation space m:UserWarning"),
]


def capsule_mass(length: float, radius: float, density: float) -> float:
    """Cylinder plus two half-sphere caps."""
    return density * (math.pi * radius**2 * length + 4.0 / 3.0 * math.pi * radius**3)


@pytest.mark.parametrize("n", [3, 6, 16])
def test_check_env_passes(n):
    env = gym.make("snnctl/SwimmerN-v0", n_links=n)
    # The render check would also open a "human" window; offscreen rendering is tested in test_video.py.
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


@pytest.mark.parametrize("n", [3, 4, 6, 9, 12, 16])
def test_spaces_sizes_and_layout(n):
    env = gym.make("snnctl/SwimmerN-v0", n_links=n)
    base = env.unwrapped
    # qpos: x, y, head angle, n - 1 joints = n + 2; qvel the same; the observation drops x, y.
    assert env.action_space.shape == (n - 1,)
    assert env.observation_space.shape == (n + (n + 2),) == (2 * n + 2,)
    assert np.all(env.action_space.low == -1) and np.all(env.action_space.high == 1)
    assert env.spec.max_episode_steps == 1000
    assert base.dt == pytest.approx(0.04)
    assert base.observation_structure == {"skipped_qpos": 2, "qpos": n, "qvel": n + 2}
    obs, info = env.reset(seed=1)
    np.testing.assert_array_equal(obs[base.joint_angle_slice], base.data.qpos[3:])
    np.testing.assert_array_equal(obs[:n], base.data.qpos[2:])
    np.testing.assert_array_equal(obs[n:], base.data.qvel)
    assert info["x_position"] == base.data.qpos[0]
    env.close()

    full = SwimmerNEnv(n_links=n, exclude_current_positions_from_observation=False)
    obs, _ = full.reset(seed=1)
    assert obs.shape == (2 * n + 4,)
    np.testing.assert_array_equal(obs[full.joint_angle_slice], full.data.qpos[3:])
    full.close()


@pytest.mark.parametrize("n", [3, 5, 8, 13, 16])
def test_generated_model_structure(n):
    env = SwimmerNEnv(n_links=n)
    m = env.model
    assert m.nbody == n + 1  # world + links
    assert m.njnt == n + 2 and m.nq == n + 2 and m.nv == n + 2
    assert m.nu == n - 1
    names = [m.joint(j).name for j in range(m.njnt)]
    assert names == ["slider1", "slider2", "free_body_rot"] + [f"motor{i}_rot" for i in range(1, n)]
    # every motor drives its own joint with gear 150 and a [-1, 1] command range
    assert [m.joint(m.actuator_trnid[a, 0]).name for a in range(m.nu)] == names[3:]
    np.testing.assert_array_equal(m.actuator_gear[:, 0], 150.0)
    np.testing.assert_array_equal(m.actuator_ctrlrange, [[-1.0, 1.0]] * (n - 1))
    np.testing.assert_allclose(m.body_mass[1:], capsule_mass(1.0, 0.1, 1000.0), rtol=1e-12)
    np.testing.assert_allclose(m.jnt_range[3:], [[-math.radians(100), math.radians(100)]] * (n - 1), rtol=1e-12)
    assert np.all(m.jnt_limited[3:]) and not np.any(m.jnt_limited[:3])
    np.testing.assert_array_equal(m.dof_armature, 0.1)
    assert (m.opt.density, m.opt.viscosity, m.opt.timestep) == (4000.0, 0.1, 0.01)
    assert m.opt.integrator == mujoco.mjtIntegrator.mjINT_RK4
    # straight chain along -x: link i's joint sits at x = 0.5 - (i - 1) in the torso frame
    mujoco.mj_resetData(m, env.data)
    mujoco.mj_forward(m, env.data)
    np.testing.assert_allclose(env.data.xpos[2:, 0], 0.5 - np.arange(n - 1), atol=1e-12)
    np.testing.assert_allclose(env.data.xipos[1:, 0], 1.0 - np.arange(n), atol=1e-12)  # capsule centres
    env.close()


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(MIN_LINKS, MAX_LINKS),
    length=st.floats(0.1, 2.0),
    radius=st.floats(0.01, 0.3),
    density=st.floats(100.0, 5000.0),
)
def test_masses_follow_the_link_parameters(n, length, radius, density):
    m = mujoco.MjModel.from_xml_string(swimmer_mjcf(n, link_length=length, link_radius=radius, link_density=density))
    np.testing.assert_allclose(m.body_mass[1:], capsule_mass(length, radius, density), rtol=1e-9)
    assert m.nu == n - 1 and m.nbody == n + 1


def test_three_links_reproduce_swimmer_v5_model():
    ours = SwimmerNEnv(n_links=3).model
    ref = gym.make("Swimmer-v5").unwrapped.model
    for field in ("body_mass", "body_inertia", "body_pos", "body_ipos", "body_iquat", "geom_size", "geom_pos",
                  "jnt_range", "jnt_axis", "dof_armature", "actuator_gear", "actuator_ctrlrange"):  # fmt: skip
        np.testing.assert_array_equal(getattr(ours, field), getattr(ref, field), err_msg=field)
    assert (ours.opt.timestep, ours.opt.density, ours.opt.viscosity) == (ref.opt.timestep, ref.opt.density,
                                                                         ref.opt.viscosity)  # fmt: skip


@pytest.mark.parametrize("seed", [0, 7, 123])
def test_three_links_reproduce_swimmer_v5_step_by_step(seed):
    ref = gym.make("Swimmer-v5")
    ours = gym.make("snnctl/SwimmerN-v0", n_links=3)
    o_ref, i_ref = ref.reset(seed=seed)
    o_ours, i_ours = ours.reset(seed=seed)
    np.testing.assert_allclose(o_ours, o_ref, rtol=0, atol=1e-9)
    assert i_ours.keys() == i_ref.keys()
    rng = np.random.default_rng(seed)
    steps, done = 0, False
    while not done:
        a = rng.uniform(-1.2, 1.2, size=2).astype(np.float32)  # also beyond the range: MuJoCo clamps both
        o_ref, r_ref, term_ref, trunc_ref, i_ref = ref.step(a)
        o_ours, r_ours, term_ours, trunc_ours, i_ours = ours.step(a)
        steps += 1
        np.testing.assert_allclose(o_ours, o_ref, rtol=0, atol=1e-9, err_msg=f"step {steps}")
        assert r_ours == pytest.approx(r_ref, rel=0, abs=1e-9)
        assert i_ours.keys() == i_ref.keys()
        for key in i_ref:
            assert i_ours[key] == pytest.approx(i_ref[key], rel=0, abs=1e-9), key
        assert (term_ours, trunc_ours) == (term_ref, trunc_ref)
        done = term_ref or trunc_ref
    assert steps == 1000 and trunc_ours and not term_ours
    ref.close()
    ours.close()


def test_reward_is_head_x_velocity_minus_control_cost():
    env = SwimmerNEnv(n_links=5, forward_reward_weight=2.0, ctrl_cost_weight=0.01)
    env.reset(seed=3)
    a = np.array([0.5, -1.0, 0.25, 1.0], dtype=np.float32)
    x0 = env.data.qpos[0]
    _, reward, _, _, info = env.step(a)
    vx = (env.data.qpos[0] - x0) / 0.04
    cost = 0.01 * (0.25 + 1.0 + 0.0625 + 1.0)
    assert info["x_velocity"] == pytest.approx(vx, rel=1e-12)
    assert info["reward_ctrl"] == pytest.approx(-cost, rel=1e-6)  # float32 action, as Swimmer-v5
    assert reward == pytest.approx(2.0 * vx - cost, rel=1e-6)
    assert info["x_position"] == env.data.qpos[0] and info["y_position"] == env.data.qpos[1]
    assert info["distance_from_origin"] == pytest.approx(math.hypot(env.data.qpos[0], env.data.qpos[1]))


@pytest.mark.parametrize("n", [3, 10])
def test_zero_control_from_rest_stays_still(n):
    env = SwimmerNEnv(n_links=n, reset_noise_scale=0.0)
    obs, _ = env.reset(seed=0)
    assert not np.any(obs)
    for _ in range(50):
        obs, reward, *_ = env.step(np.zeros(n - 1, dtype=np.float32))
        assert reward == 0.0
    assert not np.any(obs) and not np.any(env.data.qpos)  # gravity acts across the plane: nothing moves


@settings(max_examples=10, deadline=None)
@given(
    n=st.integers(MIN_LINKS, MAX_LINKS),
    v0=st.floats(0.05, 1.0),
    viscosity=st.floats(0.01, 1.0),
    fluid_density=st.floats(100.0, 8000.0),
)
def test_straight_body_coasts_as_the_closed_form(n, v0, viscosity, fluid_density):
    """A straight body sliding along its axis: M v' = -(a + b |v|) v, solved in closed form.

    MuJoCo's inertia-box model per link (box sides d_j = sqrt(6 (I_k + I_l - I_j) / m)): a Stokes
    force 3 pi mean(d) viscosity v and a quadratic drag 0.5 rho d_y d_z |v| v across the end face.
    All forces lie on the body's axis, so it stays straight and on the x axis; M is the total mass
    plus the x-slide's armature. v(t) = 1 / ((1/v0 + b/a) e^(a t / M) - b/a) and
    x(t) = (M / b) ln((1/v0 + b/a - (b/a) e^(-a t / M)) v0).
    """
    env = SwimmerNEnv(n_links=n, reset_noise_scale=0.0, viscosity=viscosity, fluid_density=fluid_density)
    env.reset(seed=0)
    m, d = env.model, env.data
    qvel = np.zeros(m.nv)
    qvel[0] = v0
    env.set_state(env.init_qpos, qvel)
    a = b = 0.0
    mass = m.dof_armature[0]
    for i in range(1, m.nbody):
        inertia, mi = m.body_inertia[i], m.body_mass[i]
        box = np.sqrt(6.0 * (inertia.sum() - 2.0 * inertia) / mi)
        axis = int(np.argmax(np.abs(d.ximat[i].reshape(3, 3)[0])))  # principal axis along world x
        others = [j for j in range(3) if j != axis]
        a += 3.0 * math.pi * box.mean() * viscosity
        b += 0.5 * fluid_density * box[others[0]] * box[others[1]]
        mass += mi
    t = env.dt * np.arange(1, 101)
    v, x = [], []
    for _ in t:
        env.step(np.zeros(n - 1, dtype=np.float32))
        v.append(d.qvel[0])
        x.append(d.qpos[0])
    c, k = b / a, a / mass
    v_cf = 1.0 / ((1.0 / v0 + c) * np.exp(k * t) - c)
    x_cf = (mass / b) * np.log((1.0 / v0 + c - c * np.exp(-k * t)) * v0)
    # RK4 at 10 ms: errors ~1e-10 relative, far below any modelling difference (a wrong box side or
    # coefficient shifts v by percent).
    np.testing.assert_allclose(v, v_cf, rtol=1e-7)
    np.testing.assert_allclose(x, x_cf, rtol=1e-7)
    assert np.max(np.abs(d.qpos[1:])) < 1e-12 and np.max(np.abs(d.qvel[1:])) < 1e-12


@pytest.mark.parametrize("n", [3, 7, 16])
def test_perturbed_body_loses_energy_to_the_fluid(n):
    """Without control only the fluid acts, and it only dissipates: kinetic energy never rises."""
    env = SwimmerNEnv(n_links=n, reset_noise_scale=0.3)
    env.reset(seed=11)
    m, d = env.model, env.data
    m_qvel = np.zeros(m.nv)

    def kinetic():  # 1/2 qvel' M(q) qvel
        mujoco.mj_forward(m, d)
        mujoco.mj_mulM(m, d, m_qvel, d.qvel)
        return 0.5 * d.qvel @ m_qvel

    energy = [kinetic()]
    for _ in range(250):  # 10 s
        env.step(np.zeros(n - 1, dtype=np.float32))
        energy.append(kinetic())
    energy = np.array(energy)
    assert energy[0] > 0
    assert np.all(np.diff(energy) <= 1e-12 * energy[0])
    assert energy[-1] < 0.05 * energy[0]
    assert np.max(np.abs(d.qpos[3:])) < math.radians(100)  # never reached a joint limit (which could store energy)


@pytest.mark.parametrize("bad", [2, 17, 0, -3, 6.0, "6", True, None])
def test_bad_n_links_names_the_range(bad):
    with pytest.raises(ValueError, match=r"n_links must be .*3\.\.16"):
        SwimmerNEnv(n_links=bad)
    with pytest.raises(ValueError, match=r"3\.\.16"):
        swimmer_mjcf(bad)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"link_length": 0.0}, "link_length"),
        ({"link_radius": -0.1}, "link_radius"),
        ({"viscosity": float("nan")}, "viscosity"),
        ({"gear": 0}, "gear"),
        ({"joint_range_deg": 200}, "joint_range_deg"),
        ({"frame_skip": 0}, "frame_skip"),
        ({"reset_noise_scale": -1}, "reset_noise_scale"),
        ({"render_mode": "movie"}, "render_mode"),
    ],
)
def test_bad_parameters_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SwimmerNEnv(n_links=4, **kwargs)


def test_parameters_reach_the_model():
    env = SwimmerNEnv(n_links=4, gear=80.0, joint_range_deg=60.0, armature=0.2, timestep=0.005, frame_skip=8)
    m = env.model
    np.testing.assert_array_equal(m.actuator_gear[:, 0], 80.0)
    np.testing.assert_allclose(m.jnt_range[3:, 1], math.radians(60.0))
    np.testing.assert_array_equal(m.dof_armature, 0.2)
    assert env.dt == pytest.approx(0.04) and env.metadata["render_fps"] == 25
    assert not m.light_castshadow[0]  # shadows off by default (4x faster offscreen frames) ...
    env.close()
    assert SwimmerNEnv(n_links=4, shadows=True).model.light_castshadow[0]  # ... on as in Swimmer-v5


def test_deterministic_for_a_seed():
    def run(seed):
        env = gym.make("snnctl/SwimmerN-v0", n_links=8)
        obs, _ = env.reset(seed=seed)
        rng = np.random.default_rng(0)
        out = [obs]
        for _ in range(100):
            out.append(env.step(rng.uniform(-1, 1, 7).astype(np.float32))[0])
        env.close()
        return np.array(out)

    np.testing.assert_array_equal(run(5), run(5))
    assert not np.array_equal(run(5), run(6))


def _capsule_ends_in_view(env, aspect: float) -> float:
    """Largest |normalised image coordinate| of any capsule end seen by the track camera (1 = frame edge).

    Pinhole model: a point p in camera coordinates (x right, y up, looking along -z) lands at
    x / (-z tan(fovy / 2) aspect), y / (-z tan(fovy / 2)).
    """
    m, d = env.model, env.data
    cam = m.camera("track").id
    pos, rot = d.cam_xpos[cam], d.cam_xmat[cam].reshape(3, 3)
    tan_half = math.tan(math.radians(m.cam_fovy[cam]) / 2)
    worst = 0.0
    for g in range(m.ngeom):
        if m.geom_type[g] != mujoco.mjtGeom.mjGEOM_CAPSULE:
            continue
        axis = d.geom_xmat[g].reshape(3, 3)[:, 2]
        reach = m.geom_size[g, 1] + m.geom_size[g, 0]
        for end in (d.geom_xpos[g] + reach * axis, d.geom_xpos[g] - reach * axis):
            x, y, z = rot.T @ (end - pos)
            worst = max(worst, abs(x / (-z * tan_half * aspect)), abs(y / (-z * tan_half)))
    return worst


@pytest.mark.parametrize("n", [3, 6, 10, 16])
def test_track_camera_keeps_the_whole_body_in_frame(n):
    env = SwimmerNEnv(n_links=n, reset_noise_scale=0.0)
    env.reset(seed=0)
    d = env.data
    for heading in range(0, 360, 30):  # a straight body (the longest it gets) in every heading
        d.qpos[2] = math.radians(heading)
        d.qpos[0:2] = [25.0, -7.0]  # far from the start: the camera follows
        mujoco.mj_forward(env.model, d)
        assert _capsule_ends_in_view(env, aspect=1.0) < 0.96, heading
    rng = np.random.default_rng(n)
    env.reset(seed=1)
    for _ in range(200):  # and bent, swimming
        env.step(rng.uniform(-1, 1, n - 1).astype(np.float32))
        assert _capsule_ends_in_view(env, aspect=4 / 3) < 0.96
    env.close()
