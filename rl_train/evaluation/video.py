"""MP4 videos of evaluation episodes: back to back in one file, each frame labelled with
its episode number and, on the episode's last frame and after, its outcome.

imageio writes through imageio-ffmpeg, whose wheel carries its own ffmpeg: no system
ffmpeg, no moviepy, no display. The file appears under its name only once complete.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from rl_train.errors import UserError
from rl_train.store.atomic import check_output_path

FPS = 25  # the envs' control rate: one frame per step, real time
OUTCOME_FRAMES = 12  # the last frame held ~0.5 s, labelled with the outcome
GREEN, RED, GREY = (40, 160, 60), (190, 40, 40), (90, 90, 90)


def parse_size(text: str) -> tuple[int, int]:
    """'480x360' -> (480, 360); both even (H.264 in yuv420p needs even sides)."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise UserError(f"--video-size {text!r}: write it as WIDTHxHEIGHT, e.g. 480x360") from None
    if not (16 <= width <= 3840 and 16 <= height <= 2160) or width % 2 or height % 2:
        raise UserError(f"--video-size {text}: width and height must be even, 16 to 3840x2160")
    return width, height


def check_writable(path: Path) -> None:
    """Fail before any episode is run: the folder exists and takes a file."""
    if path.suffix.lower() != ".mp4":
        raise UserError(f"--video {path}: the file must end in .mp4")
    check_output_path(path, f"--video {path}")


@functools.lru_cache(maxsize=256)
def _label_patch(text: str, colour: tuple[int, int, int], height: int) -> np.ndarray:
    """The label as a small image, drawn once and pasted on every frame that shows it."""
    from PIL import Image, ImageDraw, ImageFont

    size = max(12, height // 22)
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:  # an old Pillow: its one bitmap font
        font = ImageFont.load_default()
    left, top, right, bottom = ImageDraw.Draw(Image.new("RGB", (1, 1))).textbbox(
        (0, 0), text, font=font
    )
    patch = Image.new("RGB", (right - left + 8, bottom - top + 6), colour)
    ImageDraw.Draw(patch).text((4 - left, 3 - top), text, fill=(255, 255, 255), font=font)
    return np.asarray(patch)


def _label(frame: np.ndarray, text: str, colour: tuple[int, int, int]) -> np.ndarray:
    labelled = np.array(frame[:, :, :3])  # a copy: the frame may be held, or shown again
    patch = _label_patch(text, colour, labelled.shape[0])
    height = min(patch.shape[0], labelled.shape[0] - 4)
    width = min(patch.shape[1], labelled.shape[1] - 4)
    labelled[4 : 4 + height, 4 : 4 + width] = patch[:height, :width]
    return labelled


def episode_frames(films: list[dict[str, Any]]) -> Iterator[np.ndarray]:
    """Every frame of every filmed episode, labelled, the last one held with the outcome.
    Lazy: frames drawn on demand are encoded (by ffmpeg, a process of its own) as they come."""
    for number, film in enumerate(films, start=1):
        frame = None
        for frame in film["frames"]:
            yield _label(frame, f"episode {number}", GREY)
        if frame is None:
            continue
        success = film.get("success")
        outcome = "success" if success else ("failure" if success is not None else "done")
        colour = GREEN if success else (RED if success is not None else GREY)
        last = _label(frame, f"episode {number}: {outcome}", colour)
        yield from [last] * OUTCOME_FRAMES


def _resized(frame: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    if size is None or (frame.shape[1], frame.shape[0]) == size:
        return frame
    from PIL import Image

    return np.asarray(Image.fromarray(frame).resize(size))


def partial_path(path: Path, pid: int) -> Path:
    """Where process `pid` writes `path` until it is complete."""
    return path.with_name(f".tmp-{pid}-{path.name}")


def write_video(
    path: Path, films: list[dict[str, Any]], size: tuple[int, int] | None = None
) -> int:
    """Write the films to path (atomically), frames resized to `size` if they are not that
    size already; returns the number of frames written. A film's frames may be any
    iterable, drawn as they are written."""
    import imageio.v2 as imageio

    films = [{**film, "frames": (_resized(f, size) for f in film["frames"])} for film in films]
    tmp = partial_path(path, os.getpid())
    written = 0
    try:
        with imageio.get_writer(
            tmp,
            format="FFMPEG",
            fps=FPS,
            codec="libx264",
            macro_block_size=2,
            quality=7,
            ffmpeg_params=["-preset", "veryfast"],
        ) as writer:
            for frame in episode_frames(films):
                writer.append_data(frame)
                written += 1
        if not written:
            raise UserError(f"--video {path}: no episode was filmed")
        os.replace(tmp, path)
    except OSError as exc:
        raise UserError(
            f"cannot write {path} ({exc.strerror or exc}); choose another path"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    return written
