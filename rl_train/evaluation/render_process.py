"""The video renderer's own process: draws recorded poses into MP4s, at the lowest CPU
priority, so that the frames of a training run's evaluation videos are drawn on the CPU
time the training leaves idle instead of on its clock.

Started by evaluation.renderer.BackgroundRenderer as `python -m
rl_train.evaluation.render_process`. Protocol (pickles): requests on stdin, {"path",
"env_id", "size", "meshes", "films"}, each film {"poses": [...], "success"};
one reply per request on stdout, ("done", path, frames, cpu_s) or ("error", path, message,
cpu_s), cpu_s being the CPU seconds the video took.
A request {"warm_up": True, ...} (no path, no films, no reply) prepares for the others.
At the end of stdin it finishes what it was asked for and exits: a trainer that dies
leaves its videos written and no process behind. Light: no torch, no SB3.
"""

from __future__ import annotations

import os
import pickle
import queue
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO


def _read_requests(stream: BinaryIO, requests: queue.Queue) -> None:
    # Read as they come, whatever is being drawn: the trainer never blocks on a full pipe.
    while True:
        try:
            requests.put(pickle.load(stream))
        except (EOFError, OSError, pickle.UnpicklingError):
            requests.put(None)
            return


class Twins:
    """One env per (env id, size, meshes), built with a renderer, that draws poses
    recorded by an env of the same id built without one."""

    def __init__(self) -> None:
        self._envs: dict[tuple, Any] = {}

    def get(self, request: dict[str, Any]) -> Any:
        key = (request["env_id"], tuple(request["size"]), request["meshes"])
        if key not in self._envs:
            import gymnasium as gym

            import envs  # noqa: F401  (registers our ids)

            env = gym.make(
                request["env_id"],
                render_mode="rgb_array",
                render_size=tuple(request["size"]),
                render_meshes=request["meshes"],
            ).unwrapped
            env.reset(seed=0)  # builds the bodies; every frame then sets their pose
            self._envs[key] = env
        return self._envs[key]


def render(request: dict[str, Any], twins: Twins) -> int:
    from rl_train.evaluation.video import write_video

    twin = twins.get(request)
    # Drawn one by one as the writer takes them: ffmpeg encodes while the next is drawn.
    films = [
        {"frames": (twin.render_pose(pose) for pose in film["poses"]), "success": film["success"]}
        for film in request["films"]
    ]
    return write_video(Path(request["path"]), films)


def main() -> int:
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # what C libraries print goes to stderr, never into the replies
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the trainer's: it closes stdin
    try:  # runs only when nothing else wants the CPU (SCHED_IDLE), else at nice 19
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        try:
            os.nice(19)
        except OSError:
            pass
    requests: queue.Queue = queue.Queue()
    threading.Thread(target=_read_requests, args=(sys.stdin.buffer, requests), daemon=True).start()
    twins = Twins()
    while (request := requests.get()) is not None:
        if request.get("warm_up"):  # build the twin and load the encoder before any video
            twins.get(request)
            import imageio.v2  # noqa: F401

            continue
        started = time.process_time()
        try:
            kind, detail = "done", render(request, twins)
        except Exception as exc:  # noqa: BLE001 (one bad video must not stop the others)
            kind, detail = "error", f"{type(exc).__name__}: {exc}"
        reply = (kind, request["path"], detail, time.process_time() - started)
        try:
            pickle.dump(reply, replies)
            replies.flush()
        except OSError:
            pass  # the trainer is gone; the video is written all the same
    return 0


if __name__ == "__main__":
    sys.exit(main())
