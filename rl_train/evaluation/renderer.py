"""BackgroundRenderer: the trainer's side of evaluation.render_process. An evaluation hands
it the poses it filmed and goes on; the MP4s come back a little later, drawn on idle CPU.

Drawing the frames in the evaluation itself (TinyRenderer, ~13 ms a frame at 480x360 here)
would stop training for ~0.7 s per video; see docs/evaluation.md for what each way costs.
"""

from __future__ import annotations

import pickle
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rl_train.evaluation.video import partial_path

GONE = "the video renderer stopped"


@dataclass
class Rendered:
    path: Path
    step: int
    error: str | None = None  # why the video is missing, if it is
    cpu_s: float = 0.0  # what drawing and encoding it took


class BackgroundRenderer:
    def __init__(self, env_id: str, size: tuple[int, int], meshes: bool) -> None:
        self.spec = {"env_id": env_id, "size": size, "meshes": meshes}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "rl_train.evaluation.render_process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._replies: queue.Queue = queue.Queue()
        self._gone = False
        self.pending: dict[str, int] = {}  # path -> the step of the policy filmed
        threading.Thread(target=self._read, daemon=True).start()
        self._send({**self.spec, "warm_up": True})

    def _send(self, request: dict[str, Any]) -> None:
        try:
            pickle.dump(request, self._process.stdin)
            self._process.stdin.flush()
        except (OSError, ValueError):
            self._gone = True

    def _read(self) -> None:
        while True:
            try:
                self._replies.put(pickle.load(self._process.stdout))
            except (EOFError, OSError, pickle.UnpicklingError):
                self._replies.put(None)
                return

    def submit(self, path: Path, step: int, films: list[dict[str, Any]]) -> None:
        """Draw `films` (FrameRecorder pose recordings) into `path`."""
        self.pending[str(path)] = step
        self._send({**self.spec, "path": str(path), "films": films})

    def finished(self, wait: float = 0.0) -> list[Rendered]:
        """The videos done since the last call; waits up to `wait` s for all pending ones."""
        done: list[Rendered] = []
        deadline = time.monotonic() + wait
        while self.pending and not self._gone:
            try:
                reply = self._replies.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if reply is None:
                self._gone = True
                break
            kind, path, detail, cpu_s = reply
            step = self.pending.pop(path)
            done.append(Rendered(Path(path), step, detail if kind == "error" else None, cpu_s))
        if self._gone:
            done += [Rendered(Path(p), step, GONE) for p, step in self.pending.items()]
            self.pending.clear()
        return done

    def close(self, wait: float) -> list[Rendered]:
        """The rest of the videos, waiting up to `wait` s; then the process ends (killed
        if it is still drawing: the videos it had not finished are reported missing)."""
        done = self.finished(wait)
        late = [Rendered(Path(p), step, f"not drawn within {wait:.0f} s")
                for p, step in self.pending.items()]  # fmt: skip
        self.pending.clear()
        try:
            self._process.stdin.close()
        except OSError:
            pass
        try:
            self._process.wait(timeout=0 if late else 5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        for video in late:  # what a killed renderer was writing
            partial_path(video.path, self._process.pid).unlink(missing_ok=True)
        return done + late
