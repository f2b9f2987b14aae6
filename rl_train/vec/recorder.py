"""FrameRecorder: an env wrapper that keeps the frames of the episodes it is asked to film.

It runs where the env runs (an env worker), records after every reset and step, and hands
the recording over once, at the end: the terminal frame of each episode is seen before the
vec env's auto-reset replaces it, and nothing crosses a pipe per step. It records rendered
frames or, from an env that has `pose()` (ours), poses: a few hundred bytes per frame,
drawn later by a twin of the env (evaluation.render_process) instead of on the clock of
the evaluation. Light: gymnasium and numpy only, as everything an env worker imports.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym


class FrameRecorder(gym.Wrapper):
    def __init__(self, env: gym.Env, shown_render_mode: str | None = None) -> None:
        super().__init__(env)
        # It renders for itself: to the vec env it shows the render mode of the envs beside
        # it (SB3's VecEnv wants one for all), which need not render, nor load meshes.
        self._shown_render_mode = shown_render_mode
        self._left = 0  # episodes still to film, the current one included
        self._frames: list[Any] = []
        self._episodes: list[dict[str, Any]] = []
        self._filming = False
        self._what = "frames"

    @property
    def render_mode(self) -> str | None:  # type: ignore[override]
        return self._shown_render_mode

    def start_recording(self, episodes: int, poses: bool = False) -> None:
        """Film the next `episodes` episodes, from their reset: frames, or (`poses`, if the
        env can give them) poses."""
        self._left, self._frames, self._episodes, self._filming = episodes, [], [], False
        self._what = "poses" if poses and hasattr(self.env.unwrapped, "pose") else "frames"

    def take_recording(self) -> list[dict[str, Any]]:
        """The filmed episodes: {"frames": [HxWx3 uint8], "success": bool | None}, or
        "poses" in place of "frames"."""
        episodes, self._episodes = self._episodes, []
        self._left, self._filming = 0, False
        return episodes

    def reset(self, **kwargs: Any):
        observation, info = self.env.reset(**kwargs)
        self._filming = self._left > 0
        if self._filming:
            self._frames = [self._take()]
        return observation, info

    def _take(self) -> Any:
        return self.env.unwrapped.pose() if self._what == "poses" else self.env.render()

    def step(self, action: Any):
        observation, reward, terminated, truncated, info = self.env.step(action)
        if self._filming:
            self._frames.append(self._take())
            if terminated or truncated:
                success = info.get("is_success")
                self._episodes.append({self._what: self._frames, "success": success})
                self._frames, self._filming = [], False
                self._left -= 1
        return observation, reward, terminated, truncated, info
