"""Episodes to video: MuJoCo's offscreen renderer (through gymnasium's ``render_mode="rgb_array"``) to GIF or MP4.

``record_episode(env, controller, path)`` runs one episode of ``controller`` (``reset()``,
``act(obs)``) on ``env`` and writes what the env's camera sees to ``path``; it returns an
``EpisodeRecording`` with the trajectory (observations, actions, rewards, x positions, the
controller's spikes if it has any) for plots and tables. ``path=None`` records the trajectory only.
``write_video(frames, path, fps)`` / ``VideoWriter`` write frames that are already at hand.

Formats, chosen by the file suffix:

* ``.gif`` — Pillow (installed with matplotlib). GIF compresses a moving textured scene badly (the
  tracking camera moves the whole checkered floor every frame), so the encoding is made for size:
  every ``stride``-th frame is kept, the smallest stride that plays at most ``gif_max_fps`` (15;
  a 25-fps episode plays at 12.5 fps, same duration), all frames share one ``gif_colors``-colour
  palette (32, an octree of the first frame), without dithering (dither noise defeats LZW), and
  ``gif_scale`` < 1 shrinks the frames. A 1,000-step 12-link swim at 320 x 240 (``snnctl run
  configs/swimmer_ncap.toml --controller ... --n-links 12 --video swim.gif``): 19.9 MB with a
  256-colour palette per frame at 25 fps, 4.3 MB with the defaults (the MP4 is 2.8 MB). GIF delays
  are whole hundredths of a second, so the frame time is ``round(100 * stride / fps)`` centiseconds
  (12.5 and 25 fps are exact; 30 fps plays at 33.3). Pillow merges a frame identical to the one
  before into it (a longer delay, same playback time), so a still scene decodes to fewer frames
  than were written.
* ``.mp4`` — H.264 (``yuv420p``) through the ffmpeg binary that the ``imageio-ffmpeg`` wheel ships
  (``pip install 'snnctl[video]'``); a missing package is a ``VideoError`` that says so. H.264 in
  yuv420p needs even sizes: an odd width or height is padded by repeating the last column or row.

Offscreen OpenGL: MuJoCo renders through an OpenGL context chosen by ``MUJOCO_GL`` (``glfw`` needs a
display, ``egl`` a GPU driver, ``osmesa`` nothing but the CPU). ``ensure_offscreen_gl`` runs before
the first frame: when ``MUJOCO_GL`` is unset it picks ``glfw`` if a display is present and
``osmesa`` otherwise (gymnasium's own auto-detection ends in an OpenGL error on a headless machine), and it checks
that the OSMesa library is installed (Debian/Ubuntu ``libosmesa6``), raising a ``VideoError`` that
names the package instead of an OpenGL traceback. With OSMesa a 320 x 240 frame of ``SwimmerNEnv``
takes about 0.04 s on one core (0.12-0.16 s with shadows, as gymnasium's Swimmer-v5 draws them).

The env belongs to the caller; close it (``env.close()`` or ``with env:``) when done. An env left
open would make its OpenGL context print tracebacks at interpreter exit; ``close_at_exit`` (used by
``SwimmerNEnv`` and ``record_episode``) closes it from an ``atexit`` hook first.
"""

from __future__ import annotations

import atexit
import ctypes.util
import os
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

VIDEO_SUFFIXES = (".gif", ".mp4")
_GL_BACKENDS = ("glfw", "egl", "osmesa")
_OSMESA_HELP = (
    "install the OSMesa library (Debian/Ubuntu: sudo apt-get install libosmesa6), "
    "or set MUJOCO_GL=egl on a machine with a GPU driver"
)


class VideoError(Exception):
    """A video cannot be made as asked (unsupported format, missing package, no OpenGL); the message says what to do."""


def ensure_offscreen_gl() -> str:
    """Choose MuJoCo's OpenGL backend for offscreen frames (sets ``MUJOCO_GL`` if unset); return its name.

    Must run before the first frame is rendered (gymnasium creates the OpenGL context then, not at
    import). An explicit ``MUJOCO_GL`` is respected; only ``osmesa`` is checked here, because it is
    the one a headless machine falls back to and its absence otherwise surfaces as an obscure error.
    """
    backend = os.environ.get("MUJOCO_GL", "").strip().lower()
    if not backend:
        has_display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
        backend = "glfw" if has_display else "osmesa"
        os.environ["MUJOCO_GL"] = backend
    if backend not in _GL_BACKENDS:
        raise VideoError(f"MUJOCO_GL={backend!r} is not an OpenGL backend MuJoCo knows: use one of {_GL_BACKENDS}")
    if backend == "osmesa":
        if ctypes.util.find_library("OSMesa") is None:
            raise VideoError(f"offscreen rendering with MUJOCO_GL=osmesa needs libOSMesa: {_OSMESA_HELP}")
        platform = os.environ.get("PYOPENGL_PLATFORM", "")
        if platform and platform.lower() != "osmesa":
            raise VideoError(
                f"MUJOCO_GL=osmesa but PYOPENGL_PLATFORM={platform!r}: unset PYOPENGL_PLATFORM or set it to osmesa"
            )
    return backend


def close_at_exit(env: Any) -> None:
    """Close a rendering env at interpreter exit if its owner did not.

    An OpenGL context still open when Python tears its modules down makes gymnasium's viewer print
    tracebacks at exit; closing it from an ``atexit`` hook (which runs first) avoids that. Closing
    twice is harmless, and the weak reference lets an env that goes out of scope be collected.
    """
    ref = weakref.ref(env)

    def close() -> None:
        e = ref()
        if e is not None:
            e.close()

    atexit.register(close)


def _check_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise VideoError(f"{path}: cannot write a {suffix or 'suffix-less'} video; use .gif or .mp4")
    return suffix


class VideoWriter:
    """RGB frames in, a ``.gif`` or ``.mp4`` file out (see the module docstring for the formats).

    MP4 frames stream to ffmpeg as they come; GIF frames are kept palette-quantised (one byte a pixel:
    77 kB a 320 x 240 frame) until ``close`` writes the file. Use as a context manager: on an
    exception the partial file is removed. ``gif_max_fps``, ``gif_colors`` and ``gif_scale`` shape
    a GIF (module docstring); ``stride`` is the frame stride chosen, ``frames_written`` the frames
    the file holds. An MP4 keeps every frame at ``fps``.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float,
        *,
        gif_max_fps: float = 15.0,
        gif_colors: int = 32,
        gif_scale: float = 1.0,
    ) -> None:
        self.path = Path(path)
        self.suffix = _check_suffix(self.path)
        fps = float(fps)
        if not (np.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a finite number > 0, got {fps}")
        if not (np.isfinite(gif_max_fps) and gif_max_fps > 0):
            raise ValueError(f"gif_max_fps must be a finite number > 0, got {gif_max_fps}")
        if isinstance(gif_colors, bool) or not isinstance(gif_colors, int | np.integer) or not 2 <= gif_colors <= 256:
            raise ValueError(f"gif_colors must be an integer in 2..256, got {gif_colors!r}")
        if not (np.isfinite(gif_scale) and 0 < gif_scale <= 1):
            raise ValueError(f"gif_scale must be in (0, 1], got {gif_scale}")
        self.stride = max(1, int(np.ceil(fps / gif_max_fps - 1e-9))) if self.suffix == ".gif" else 1
        self.fps = fps
        self.n_frames = 0
        self.frames_written = 0
        self.size: tuple[int, int] | None = None  # (height, width) of the frames given
        self._gif_colors, self._gif_scale = int(gif_colors), float(gif_scale)
        self._palette: Any = None  # the GIF's shared palette (a "P" image), from the first frame
        self._gif: list[Any] = []
        self._mp4: Any = None
        if self.suffix == ".mp4":
            try:
                import imageio_ffmpeg  # noqa: F401
            except ImportError:
                raise VideoError(
                    f"{self.path}: writing .mp4 needs the imageio-ffmpeg package: pip install 'snnctl[video]' "
                    "(or pip install imageio-ffmpeg); or write a .gif instead"
                ) from None
        if not self.path.parent.is_dir():
            raise VideoError(f"{self.path}: the folder {self.path.parent} does not exist")

    def append(self, frame: np.ndarray) -> None:
        """Add one ``(height, width, 3)`` uint8 RGB frame; every frame must have the first one's size."""
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"a frame must be a (height, width, 3) uint8 RGB array, got {frame.shape} {frame.dtype}")
        if self.size is None:
            self.size = (frame.shape[0], frame.shape[1])
            if self.suffix == ".mp4":
                self._open_mp4()
        elif frame.shape[:2] != self.size:
            raise ValueError(f"frame {self.n_frames} is {frame.shape[:2]}, the video is {self.size} (height, width)")
        if self.suffix == ".gif":
            if self.n_frames % self.stride == 0:
                self._gif.append(self._gif_frame(frame))
                self.frames_written += 1
        else:
            self._mp4.send(np.ascontiguousarray(self._even(frame)))
            self.frames_written += 1
        self.n_frames += 1

    def _gif_frame(self, frame: np.ndarray) -> Any:
        """One frame scaled and mapped to the shared palette (made from this frame if it is the first)."""
        from PIL import Image

        img = Image.fromarray(frame, mode="RGB")
        if self._gif_scale < 1:
            w, h = img.size
            img = img.resize((max(1, round(w * self._gif_scale)), max(1, round(h * self._gif_scale))),
                             Image.Resampling.LANCZOS)  # fmt: skip
        if self._palette is None:
            # octree, not median cut: median cut splits by pixel count, so the floor takes every entry
            # and the small body loses its colour (a mean error of 28 levels on it, 9 with the octree)
            self._palette = img.quantize(colors=self._gif_colors, method=Image.Quantize.FASTOCTREE)
        return img.quantize(palette=self._palette, dither=Image.Dither.NONE)

    def _open_mp4(self) -> None:
        import imageio_ffmpeg

        h, w = self.size
        self._mp4 = imageio_ffmpeg.write_frames(
            str(self.path),
            (w + w % 2, h + h % 2),
            fps=self.fps,
            codec="libx264",
            pix_fmt_out="yuv420p",
            quality=7,
            macro_block_size=1,  # sizes are made even here; no rescaling by imageio-ffmpeg
            ffmpeg_log_level="error",
        )
        self._mp4.send(None)  # start ffmpeg

    @staticmethod
    def _even(frame: np.ndarray) -> np.ndarray:
        """Pad an odd height/width by repeating the last row/column (yuv420p halves both)."""
        h, w = frame.shape[:2]
        if h % 2 or w % 2:
            frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        return frame

    def close(self) -> int:
        """Finish the file; return the number of frames given (a GIF holds every ``stride``-th: ``frames_written``)."""
        if self.suffix == ".gif":
            if not self._gif:
                raise ValueError(f"{self.path}: no frames to write")
            centiseconds = max(1, round(100.0 * self.stride / self.fps))
            self._gif[0].save(self.path, save_all=True, append_images=self._gif[1:], duration=10 * centiseconds, loop=0)
            self._gif = []
        elif self._mp4 is not None:
            self._mp4.close()
            self._mp4 = None
        elif self.n_frames == 0:
            raise ValueError(f"{self.path}: no frames to write")
        return self.n_frames

    def abort(self) -> None:
        """Stop without finishing: drop the frames and remove the partial file."""
        self._gif = []
        if self._mp4 is not None:
            try:
                self._mp4.close()
            except Exception:  # ffmpeg may already have failed; the file goes anyway
                pass
            self._mp4 = None
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_video(frames, path: str | os.PathLike, fps: float, **gif: Any) -> int:
    """Write an iterable of ``(height, width, 3)`` uint8 frames to ``path`` (.gif or .mp4); return the count given.

    ``gif``: ``VideoWriter``'s ``gif_max_fps``, ``gif_colors``, ``gif_scale``."""
    with VideoWriter(path, fps, **gif) as writer:
        for frame in frames:
            writer.append(frame)
        if writer.n_frames == 0:
            raise ValueError(f"{path}: no frames to write")
    return writer.n_frames


@dataclass
class EpisodeRecording:
    """One episode, sampled per env step: row k of ``observations`` is what the controller saw before
    action k; the last row is the final observation. ``frame_steps[i]`` is the step after which video
    frame i was taken (0: right after reset)."""

    path: Path | None
    fps: float | None
    n_frames: int
    frame_steps: np.ndarray  # (n_frames,) int
    t: np.ndarray  # (T + 1,) s: k * env.unwrapped.dt (k, in steps, for an env without dt)
    observations: np.ndarray  # (T + 1, obs_dim)
    actions: np.ndarray  # (T, act_dim), as sent to the env
    rewards: np.ndarray  # (T,)
    x_position: np.ndarray  # (T + 1,) info["x_position"] (NaN where the env reports none)
    spikes: np.ndarray | None  # (T, n_neurons) uint8: the controller's spikes while choosing action k
    seed: int | None
    terminated: bool
    truncated: bool

    @property
    def steps(self) -> int:
        return int(self.actions.shape[0])

    @property
    def total_reward(self) -> float:
        return float(np.sum(self.rewards))


def _spike_vector(controller: Any) -> np.ndarray | None:
    """The controller's per-neuron spikes of its last ``act``: ``last_spikes``, or its ``stepper``'s."""
    spikes = getattr(controller, "last_spikes", None)
    if spikes is None:
        spikes = getattr(getattr(controller, "stepper", None), "last_spikes", None)
    return None if spikes is None else np.asarray(spikes, dtype=np.uint8).copy()


def _render(env: Any, first: bool) -> np.ndarray:
    if not first:
        return env.render()
    try:
        frame = env.render()
    except VideoError:
        raise
    except Exception as e:  # the OpenGL context is created on the first frame: say what to fix
        raise VideoError(
            f"offscreen rendering failed with MUJOCO_GL={os.environ.get('MUJOCO_GL')!r}: "
            f"{type(e).__name__}: {e}; {_OSMESA_HELP}"
        ) from e
    if frame is None or np.asarray(frame).ndim != 3:
        raise VideoError("the env returned no RGB frame: make it with render_mode='rgb_array'")
    return frame


def record_episode(
    env: Any,
    controller: Any,
    path: str | os.PathLike | None,
    *,
    seed: int | None = None,
    max_steps: int | None = None,
    fps: float | None = None,
    frame_every: int = 1,
) -> EpisodeRecording:
    """Run one episode of ``controller`` on ``env`` from ``reset(seed=seed)``; film it to ``path``.

    ``env``: any gymnasium env; to film, made with ``render_mode="rgb_array"`` (e.g.
    ``gymnasium.make("snnctl/SwimmerN-v0", n_links=8, render_mode="rgb_array", width=320, height=240)``).
    ``controller``: ``reset()`` and ``act(obs) -> action``; its per-neuron spikes are recorded if it
    has ``last_spikes`` (or ``stepper.last_spikes``, as ``SNNController``). The episode ends when the
    env terminates or truncates, or after ``max_steps`` steps. A frame is taken after reset and after
    every ``frame_every``-th step; ``fps`` defaults to real time (the env's ``render_fps`` /
    ``frame_every``). ``path=None``: no video, the trajectory only. The env is not closed here.
    """
    if isinstance(frame_every, bool) or not isinstance(frame_every, int | np.integer) or frame_every < 1:
        raise ValueError(f"frame_every must be an integer >= 1, got {frame_every!r}")
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    writer = None
    if path is not None:
        if getattr(env, "render_mode", None) != "rgb_array":
            raise VideoError(
                f"filming needs an env made with render_mode='rgb_array' (this one has {env.render_mode!r}), e.g. "
                "gymnasium.make('snnctl/SwimmerN-v0', n_links=6, render_mode='rgb_array', width=320, height=240)"
            )
        if fps is None:
            render_fps = env.metadata.get("render_fps")
            if not render_fps:
                raise VideoError("the env declares no render_fps: pass fps=")
            fps = float(render_fps) / frame_every
        ensure_offscreen_gl()
        writer = VideoWriter(path, fps)
        close_at_exit(env.unwrapped)  # in case the caller forgets (e.g. gymnasium's own Swimmer-v5)
    dt = float(getattr(env.unwrapped, "dt", 1.0))

    obs, info = env.reset(seed=seed)
    controller.reset()
    observations, actions, rewards = [np.asarray(obs, dtype=np.float64)], [], []
    xs = [float(info.get("x_position", np.nan))]
    spikes: list[np.ndarray] = []
    frame_steps: list[int] = []
    terminated = truncated = False
    act_dtype = getattr(env.action_space, "dtype", np.float32)
    try:
        if writer is not None:
            writer.append(_render(env, first=True))
            frame_steps.append(0)
        k = 0
        while not (terminated or truncated) and (max_steps is None or k < max_steps):
            action = np.asarray(controller.act(obs), dtype=act_dtype).reshape(env.action_space.shape)
            s = _spike_vector(controller)
            if s is not None:
                spikes.append(s)
            obs, reward, terminated, truncated, info = env.step(action)
            k += 1
            actions.append(action)
            rewards.append(float(reward))
            observations.append(np.asarray(obs, dtype=np.float64))
            xs.append(float(info.get("x_position", np.nan)))
            if writer is not None and k % frame_every == 0:
                writer.append(_render(env, first=False))
                frame_steps.append(k)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    n_frames = writer.close() if writer is not None else 0

    act_dim = int(np.prod(env.action_space.shape))
    return EpisodeRecording(
        path=None if path is None else Path(path),
        fps=None if writer is None else float(fps),
        n_frames=n_frames,
        frame_steps=np.asarray(frame_steps, dtype=np.int64),
        t=dt * np.arange(len(observations)),
        observations=np.stack(observations),
        actions=np.asarray(actions, dtype=np.float64).reshape(len(actions), act_dim),
        rewards=np.asarray(rewards, dtype=np.float64),
        x_position=np.asarray(xs, dtype=np.float64),
        spikes=np.stack(spikes) if spikes and len(spikes) == len(actions) else None,
        seed=seed,
        terminated=bool(terminated),
        truncated=bool(truncated),
    )
