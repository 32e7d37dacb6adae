"""Offscreen video of swimmer episodes (GIF, MP4), the OpenGL backend choice, and the swim plot.

Rendering needs an OpenGL backend; on a headless machine that is OSMesa (Debian ``libosmesa6``).
Without it the rendering tests skip and name the package, except under CI=true, where that fails
(CI installs it). MP4 needs the ``imageio-ffmpeg`` wheel, under the same rule.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")
pytest.importorskip("mujoco")

import sim  # noqa: E402,F401  (registers the envs)
from sim import video  # noqa: E402
from sim.swimmer_plots import plot_swim, swim_figure  # noqa: E402
from sim.video import VideoError, VideoWriter, ensure_offscreen_gl, record_episode, write_video  # noqa: E402
from tests.optional_tools import skip_unless_ci  # noqa: E402
from tests.plot_checks import (  # noqa: E402
    PNG,
    assert_distinct,
    assert_labels_inside,
    assert_legends_off_the_axes,
    assert_unit,
    legend_texts,
)

W, H = 160, 120


@pytest.fixture(scope="module")
def gl():
    try:
        return ensure_offscreen_gl()
    except VideoError as e:
        skip_unless_ci(f"no offscreen OpenGL: {e}")


@pytest.fixture(scope="module")
def ffmpeg():
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        skip_unless_ci("writing .mp4 needs imageio-ffmpeg: pip install 'snnctl[video]'")


class Wave:
    """Open-loop travelling wave: joint j gets sin(2 pi (k / period - j / n_joints))."""

    def __init__(self, n_joints: int, period: int = 20) -> None:
        self.n, self.period, self.k = n_joints, period, 0

    def reset(self) -> None:
        self.k = 0

    def act(self, obs: np.ndarray) -> np.ndarray:
        phase = 2 * np.pi * (self.k / self.period - np.arange(self.n) / self.n)
        self.k += 1
        return np.sin(phase)


class SpikingWave(Wave):
    """The wave plus a fake spike vector, as an SNN controller exposes one after each act."""

    def act(self, obs: np.ndarray) -> np.ndarray:
        self.last_spikes = np.zeros(5, dtype=np.uint8)
        self.last_spikes[self.k % 5] = 1
        return super().act(obs)


def render_frames(n_links: int, n_frames: int) -> list[np.ndarray]:
    with gym.make("snnctl/SwimmerN-v0", n_links=n_links, render_mode="rgb_array", width=W, height=H) as env:
        ctrl = Wave(n_links - 1)
        obs, _ = env.reset(seed=0)
        frames = [env.render()]
        while len(frames) < n_frames:
            obs = env.step(ctrl.act(obs).astype(np.float32))[0]
            frames.append(env.render())
    return frames


@pytest.fixture(scope="module")
def frames(gl):
    return render_frames(6, 20)


def test_frames_show_a_moving_body(frames):
    assert len(frames) == 20
    for f in frames:
        assert f.shape == (H, W, 3) and f.dtype == np.uint8
        assert f.std() > 10  # a scene, not a blank buffer
    # the camera follows the centre of mass, but the body bends: consecutive frames differ
    diffs = [np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(frames, frames[1:], strict=False)]
    assert min(diffs) > 0.05


def test_rgb_render_passes_gymnasium_checker(gl):
    from gymnasium.utils.passive_env_checker import env_render_passive_checker

    with gym.make("snnctl/SwimmerN-v0", n_links=4, render_mode="rgb_array", width=W, height=H) as env:
        env.reset(seed=0)
        env_render_passive_checker(env.unwrapped)


def decode_gif(path: Path) -> tuple[list[np.ndarray], list[int], tuple[int, int]]:
    """Frames (RGB), per-frame durations (ms) and size of a GIF file."""
    from PIL import Image

    with Image.open(path) as im:
        frames, durations = [], []
        for i in range(im.n_frames):
            im.seek(i)
            frames.append(np.asarray(im.convert("RGB")))
            durations.append(im.info["duration"])
        return frames, durations, im.size


def test_gif_keeps_every_other_frame_of_a_25_fps_episode(frames, tmp_path):
    path = tmp_path / "swim.gif"
    with VideoWriter(path, fps=25) as writer:
        for f in frames:
            writer.append(f)
    assert writer.n_frames == 20 and writer.stride == 2 and writer.frames_written == 10
    decoded, durations, size = decode_gif(path)
    assert len(decoded) == 10 and size == (W, H)
    assert durations == [80] * 10  # 12.5 fps: the same 0.8 s of swimming as 20 frames at 25 fps
    for got, want in zip(decoded, frames[::2], strict=True):
        # one shared 32-colour palette: a small quantisation error, no other change
        assert np.abs(got.astype(int) - want.astype(int)).mean() < 6


def test_gif_at_full_rate_and_palette_decodes_to_the_frames(frames, tmp_path):
    path = tmp_path / "swim.gif"
    assert write_video(frames, path, fps=25, gif_max_fps=25, gif_colors=256) == 20
    decoded, durations, _ = decode_gif(path)
    assert len(decoded) == 20 and durations == [40] * 20  # 25 fps: 4 hundredths of a second
    for got, want in zip(decoded, frames, strict=True):
        assert np.abs(got.astype(int) - want.astype(int)).mean() < 4


def test_gif_is_several_times_smaller_than_a_palette_per_frame(frames, tmp_path):
    from PIL import Image

    old = tmp_path / "old.gif"  # the previous encoding: every frame, its own 256-colour palette
    pics = [Image.fromarray(f).quantize(colors=256) for f in frames]
    pics[0].save(old, save_all=True, append_images=pics[1:], duration=40, loop=0)
    new = tmp_path / "new.gif"
    write_video(frames, new, fps=25)
    assert new.stat().st_size * 2.5 < old.stat().st_size
    small = tmp_path / "small.gif"
    write_video(frames, small, fps=25, gif_scale=0.5)
    assert decode_gif(small)[2] == (W // 2, H // 2)
    assert small.stat().st_size < new.stat().st_size


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"gif_max_fps": 0}, "gif_max_fps"),
        ({"gif_colors": 1}, "gif_colors"),
        ({"gif_colors": 257}, "gif_colors"),
        ({"gif_scale": 1.5}, "gif_scale"),
        ({"gif_scale": 0}, "gif_scale"),
    ],
)
def test_bad_gif_options(kwargs, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        VideoWriter(tmp_path / "x.gif", 25, **kwargs)


def test_mp4_decodes_to_the_frames(frames, ffmpeg, tmp_path):
    import imageio.v3 as iio

    path = tmp_path / "swim.mp4"
    assert write_video(frames, path, fps=25) == 20
    decoded = iio.imread(path, plugin="FFMPEG")
    assert decoded.shape == (20, H, W, 3)
    meta = iio.immeta(path, plugin="FFMPEG")
    assert meta["fps"] == pytest.approx(25)
    for got, want in zip(decoded, frames, strict=True):
        assert np.abs(got.astype(int) - want.astype(int)).mean() < 6  # H.264 is lossy, but close


def test_mp4_pads_odd_sizes_to_even(ffmpeg, tmp_path):
    import imageio.v3 as iio

    rng = np.random.default_rng(0)
    frames = [np.full((7, 9, 3), v, dtype=np.uint8) for v in rng.integers(0, 255, 5)]
    path = tmp_path / "odd.mp4"
    write_video(frames, path, fps=10)
    decoded = iio.imread(path, plugin="FFMPEG")
    assert decoded.shape == (5, 8, 10, 3)  # one row and one column repeated
    for got, want in zip(decoded, frames, strict=True):
        assert abs(int(got.mean()) - int(want[0, 0, 0])) < 6


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_record_episode_films_and_returns_the_trajectory(gl, suffix, tmp_path, request):
    if suffix == ".mp4":
        request.getfixturevalue("ffmpeg")
    path = tmp_path / f"ep{suffix}"
    with gym.make("snnctl/SwimmerN-v0", n_links=5, render_mode="rgb_array", width=W, height=H) as env:
        rec = record_episode(env, SpikingWave(4), path, seed=3, max_steps=38, frame_every=2)
    assert rec.steps == 38 and rec.n_frames == 20  # after reset, then after steps 2, 4, ..., 38
    np.testing.assert_array_equal(rec.frame_steps, np.arange(0, 39, 2))
    assert rec.fps == pytest.approx(12.5)  # real time: 25 steps/s, one frame every 2 steps
    assert rec.observations.shape == (39, 12) and rec.actions.shape == (38, 4) and rec.rewards.shape == (38,)
    np.testing.assert_allclose(rec.t, 0.04 * np.arange(39))
    assert rec.spikes.shape == (38, 5) and np.all(rec.spikes.sum(axis=1) == 1)
    assert not rec.terminated and not rec.truncated
    # the video took nothing from the physics: the same episode without a camera is identical
    with gym.make("snnctl/SwimmerN-v0", n_links=5) as env:
        bare = record_episode(env, SpikingWave(4), None, seed=3, max_steps=38)
    np.testing.assert_array_equal(bare.observations, rec.observations)
    np.testing.assert_array_equal(bare.rewards, rec.rewards)
    assert bare.n_frames == 0 and bare.path is None
    # the return telescopes to the head's displacement (control cost aside)
    ctrl = 1e-4 * np.sum(rec.actions.astype(np.float32) ** 2)
    assert rec.total_reward == pytest.approx((rec.x_position[-1] - rec.x_position[0]) / 0.04 - ctrl, rel=1e-6)
    if suffix == ".gif":
        from PIL import Image

        with Image.open(path) as im:
            assert im.n_frames == 20 and im.size == (W, H)
    else:
        import imageio.v3 as iio

        assert iio.imread(path, plugin="FFMPEG").shape == (20, H, W, 3)


def test_record_episode_stops_at_truncation(gl):
    with gym.make("snnctl/SwimmerN-v0", n_links=3, max_episode_steps=7) as env:
        rec = record_episode(env, Wave(2), None, seed=0)
    assert rec.steps == 7 and rec.truncated


def test_an_env_left_open_exits_quietly(gl, tmp_path):
    """Unclosed rendering envs (ours, and gymnasium's Swimmer-v5 filmed) are closed before Python's teardown."""
    script = f"""
import gymnasium as gym, numpy as np, sim
from sim.video import record_episode
env = gym.make("snnctl/SwimmerN-v0", n_links=4, render_mode="rgb_array", width=64, height=48)
env.reset(seed=0)
env.render()
class Zero:
    def reset(self): pass
    def act(self, obs): return np.zeros(2)
v5 = gym.make("Swimmer-v5", render_mode="rgb_array", width=64, height=48)
record_episode(v5, Zero(), {str(tmp_path / "v5.gif")!r}, max_steps=3)
print("done")
"""
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "done"
    assert "Exception ignored" not in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_record_episode_needs_an_rgb_env(tmp_path):
    with gym.make("snnctl/SwimmerN-v0", n_links=3) as env:
        with pytest.raises(VideoError, match="render_mode='rgb_array'"):
            record_episode(env, Wave(2), tmp_path / "x.gif", max_steps=2)
    assert not (tmp_path / "x.gif").exists()


def test_failed_episode_leaves_no_partial_file(gl, tmp_path):
    class Broken(Wave):
        def act(self, obs):
            if self.k == 3:
                raise RuntimeError("controller died")
            return super().act(obs)

    path = tmp_path / "broken.gif"
    with gym.make("snnctl/SwimmerN-v0", n_links=3, render_mode="rgb_array", width=W, height=H) as env:
        with pytest.raises(RuntimeError, match="controller died"):
            record_episode(env, Broken(2), path, max_steps=10)
    assert not path.exists()


def test_bad_video_arguments(tmp_path):
    with pytest.raises(VideoError, match=r"\.avi video; use \.gif or \.mp4"):
        VideoWriter(tmp_path / "a.avi", 25)
    with pytest.raises(VideoError, match="does not exist"):
        VideoWriter(tmp_path / "no" / "such" / "a.gif", 25)
    with pytest.raises(ValueError, match="fps"):
        VideoWriter(tmp_path / "a.gif", 0)
    with pytest.raises(ValueError, match="no frames"):
        write_video([], tmp_path / "a.gif", 25)
    writer = VideoWriter(tmp_path / "a.gif", 25)
    with pytest.raises(ValueError, match=r"\(height, width, 3\) uint8"):
        writer.append(np.zeros((4, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"\(height, width, 3\) uint8"):
        writer.append(np.zeros((4, 4, 3), dtype=np.float32))
    writer.append(np.zeros((4, 4, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="frame 1 is"):
        writer.append(np.zeros((4, 6, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="frame_every"):
        record_episode(None, None, None, frame_every=0)


def test_mp4_without_imageio_ffmpeg_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # import now fails
    with pytest.raises(VideoError, match=r"imageio-ffmpeg.*snnctl\[video\].*\.gif"):
        VideoWriter(tmp_path / "a.mp4", 25)


def test_gl_backend_choice(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("PYOPENGL_PLATFORM", raising=False)
    monkeypatch.setattr(video.ctypes.util, "find_library", lambda name: f"lib{name}.so")
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    assert ensure_offscreen_gl() == "osmesa" and os.environ["MUJOCO_GL"] == "osmesa"  # headless: CPU rendering
    monkeypatch.delenv("MUJOCO_GL")
    monkeypatch.setenv("DISPLAY", ":0")
    assert ensure_offscreen_gl() == "glfw"  # a desktop: its own OpenGL
    monkeypatch.setenv("MUJOCO_GL", "egl")
    assert ensure_offscreen_gl() == "egl"  # an explicit choice is kept
    monkeypatch.setenv("MUJOCO_GL", "opengl")
    with pytest.raises(VideoError, match="not an OpenGL backend"):
        ensure_offscreen_gl()
    monkeypatch.setenv("MUJOCO_GL", "osmesa")
    monkeypatch.setattr(video.ctypes.util, "find_library", lambda name: None)
    with pytest.raises(VideoError, match="apt-get install libosmesa6"):
        ensure_offscreen_gl()
    monkeypatch.setattr(video.ctypes.util, "find_library", lambda name: f"lib{name}.so")
    monkeypatch.setenv("PYOPENGL_PLATFORM", "egl")
    with pytest.raises(VideoError, match="PYOPENGL_PLATFORM"):
        ensure_offscreen_gl()


# --- the swim plot ---------------------------------------------------------------------------------


def swim_data(T=50, J=3, N=12, seed=0):
    rng = np.random.default_rng(seed)
    t = 0.04 * np.arange(T)
    q = 0.5 * np.sin(np.outer(t, np.ones(J)) * 3 + np.arange(J))
    spikes = (rng.random((T, N)) < 0.1).astype(np.uint8)
    return t, q, spikes


def raster_points(ax) -> tuple[np.ndarray, list]:
    """(time, neuron) of every raster marker, and each population's line, from the raster axes."""
    lines = [line for line in ax.get_lines() if line.get_marker() == "|"]
    pts = np.concatenate([np.column_stack([line.get_xdata(), line.get_ydata()]) for line in lines])
    return pts[np.lexsort((pts[:, 1], pts[:, 0]))], lines


def test_swim_figure_draws_the_data():
    t, q, spikes = swim_data()
    fig = swim_figure(t, q, spikes, pop_offsets=[0, 4, 8, 12], pop_names=["osc", "B", "muscle"])
    ax_q, ax_s = fig.axes
    lines = ax_q.get_lines()
    assert len(lines) == 3
    for j, line in enumerate(lines):
        np.testing.assert_allclose(line.get_xdata(), t)
        np.testing.assert_allclose(line.get_ydata(), np.degrees(q[:, j]))
    assert_distinct(line.get_color() for line in lines)
    assert legend_texts(ax_q) == ["joint 1", "joint 2", "joint 3"]
    k, i = np.nonzero(spikes)
    pts, pops = raster_points(ax_s)
    want = np.column_stack([t[k], i])
    np.testing.assert_allclose(pts, want[np.lexsort((want[:, 1], want[:, 0]))])
    assert len(pops) == 3
    assert_distinct(line.get_color() for line in pops)  # one colour per population
    assert legend_texts(ax_s) == ["osc (4)", "B (4)", "muscle (4)"]
    boundaries = [line for line in ax_s.get_lines() if line.get_marker() != "|"]
    assert sorted(line.get_ydata()[0] for line in boundaries) == [3.5, 7.5]
    assert assert_legends_off_the_axes(fig) == 2
    assert_labels_inside(fig)
    for ax in fig.axes:
        assert_unit(ax.get_ylabel())
    assert ax_s.get_xlabel() == "time (s)"


def twelve_link_swim(T=300, seed=1):
    """A 12-link swim's shapes: 11 joints, NCAP's 7 populations (191 neurons, dense spikes)."""
    rng = np.random.default_rng(seed)
    t = 0.04 * np.arange(T)
    q = 0.6 * np.sin(2 * np.pi * (t[:, None] - np.arange(11) / 11))
    sizes = [2, 2, 44, 44, 44, 44, 11]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    names = ["osc", "osc_timer", "b_d", "b_v", "m_d", "m_v", "torque"]
    spikes = (rng.random((T, offsets[-1])) < 0.4).astype(np.uint8)
    x = np.concatenate([[0.0], np.cumsum(0.004 + 0.01 * np.sin(2 * np.pi * t))])
    rewards = np.diff(x) / 0.04 - 1e-4
    return t, q, spikes, offsets, names, x, rewards


def test_swim_figure_at_twelve_links_is_readable():
    t, q, spikes, offsets, names, x, rewards = twelve_link_swim()
    fig = swim_figure(t, q, spikes, offsets, names, x_position=x, rewards=rewards)
    ax_q, ax_v, ax_r, ax_s = fig.axes
    (cbar,) = ax_q.child_axes  # the colour bar, beside the heat map where the others have their legends
    # eleven joints: a heat map (joint x time) in degrees, not eleven lines in ten colours
    (image,) = ax_q.get_images()
    np.testing.assert_allclose(image.get_array(), np.degrees(q).T)
    assert not ax_q.get_lines() and "(deg)" in cbar.get_ylabel()
    # velocity: per step and its 1-s running mean (25 steps); return: the cumulative sum
    per_step, mean = ax_v.get_lines()[:2]
    np.testing.assert_allclose(per_step.get_ydata(), np.diff(x) / 0.04)
    v = np.diff(x) / 0.04
    np.testing.assert_allclose(mean.get_ydata()[100], v[88:113].mean())
    assert np.isnan(mean.get_ydata()[[0, 11, -12, -1]]).all() and np.isfinite(mean.get_ydata()[12:-12]).all()
    assert "1-s mean" in legend_texts(ax_v)
    np.testing.assert_allclose(ax_r.get_lines()[0].get_ydata(), np.cumsum(rewards))
    assert legend_texts(ax_r) == [f"return {rewards.sum():.1f}"]
    # the raster: every spike, a colour per population, translucent markers no taller than a neuron's row
    k, i = np.nonzero(spikes)
    pts, pops = raster_points(ax_s)
    assert len(pts) == len(k)
    assert_distinct(line.get_color() for line in pops)
    row_pt = ax_s.get_window_extent().height * 72 / fig.dpi / spikes.shape[1]
    for line in pops:
        assert line.get_alpha() < 1 and line.get_markersize() <= row_pt
    assert legend_texts(ax_s) == [f"{n} ({b - a})" for n, a, b in zip(names, offsets, offsets[1:], strict=False)]
    assert len(ax_s.get_yticklabels()) < 20  # neuron indices, not one overlapping name per population
    assert assert_legends_off_the_axes(fig) == 3
    assert_labels_inside(fig)
    for ax in (ax_q, ax_v, ax_r, ax_s):
        assert_unit(ax.get_ylabel())
    assert ax_s.get_xlabel() == "time (s)"


def test_plot_swim_writes_a_png(tmp_path):
    from PIL import Image

    t, q, spikes = swim_data()
    out = plot_swim(tmp_path / "swim.png", t, q, spikes, pop_offsets=[0, 6], pop_names=["a", "b"])
    fig = swim_figure(t, q, spikes, pop_offsets=[0, 6], pop_names=["a", "b"])
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size == tuple(round(v * 110) for v in fig.get_size_inches())
    out = plot_swim(tmp_path / "angles.png", t, q)  # no spikes: joint angles only
    assert out.read_bytes()[:8] == PNG
    fig = swim_figure(t, q)
    assert len(fig.axes) == 1
    t, q, _, _, _, x, rewards = twelve_link_swim(T=60)
    fig = swim_figure(t, q, x_position=x, rewards=rewards)  # no raster: angles, velocity, return
    assert [ax.get_ylabel().split("\n")[0] for ax in fig.axes[:3]] == [
        "joint (1 = behind head)", "forward velocity", "cumulative return"]  # fmt: skip


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"t": np.zeros(0)}, "non-empty 1-D"),
        ({"joint_angles": np.zeros((49, 3))}, r"joint_angles must be \(T, J\)"),
        ({"spikes": np.zeros((50,))}, r"spikes must be \(T, N\)"),
        ({"pop_offsets": [1, 5]}, "pop_offsets must rise strictly from 0"),
        ({"pop_offsets": [0, 5, 5]}, "pop_offsets must rise strictly from 0"),
        ({"pop_offsets": [0, 5], "pop_names": ["a"]}, "1 pop_names for 2 populations"),
        ({"pop_names": ["a"]}, "pop_names needs pop_offsets"),
        ({"spikes": None, "pop_offsets": [0]}, "without spikes"),
        ({"x_position": np.zeros(50)}, r"x_position must be \(T \+ 1,\)"),
        ({"rewards": np.zeros(49)}, r"rewards must be \(T,\)"),
    ],
)
def test_swim_figure_rejects_bad_input(kwargs, match):
    t, q, spikes = swim_data()
    args = {"t": t, "joint_angles": q, "spikes": spikes} | kwargs
    with pytest.raises(ValueError, match=match):
        swim_figure(**args)


def test_network_offsets_style_is_accepted():
    t, q, spikes = swim_data(N=12)
    fig = swim_figure(t, q, spikes, pop_offsets=[0, 4, 12], pop_names=["x", "y"])  # P + 1, ends with N
    assert legend_texts(fig.axes[1]) == ["x (4)", "y (8)"]
