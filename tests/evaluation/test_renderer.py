"""Videos drawn later from recorded poses: the same pixels as rendering on the spot, drawn
in a process of its own that never outlives its trainer."""

from __future__ import annotations

import signal
import subprocess

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401
from rl_train.evaluation.renderer import BackgroundRenderer
from rl_train.vec.recorder import FrameRecorder

SIZE = (160, 120)


def film(env_id: str, steps: int, poses: bool, seed: int = 3) -> dict:
    kwargs = {} if poses else {"render_mode": "rgb_array", "render_size": SIZE}
    env = FrameRecorder(gym.make(env_id, max_episode_steps=steps, **kwargs))
    env.action_space.seed(seed)
    env.start_recording(1, poses=poses)
    env.reset(seed=seed)
    for _ in range(steps):
        env.step(env.action_space.sample())
    (recorded,) = env.take_recording()
    env.close()
    return recorded


@pytest.mark.parametrize("env_id", ["rltrain/PandaPush-v0", "rltrain/PandaPickAndPlace-v0"])
def test_poses_drawn_by_a_twin_are_the_frames_rendered_on_the_spot(env_id):
    frames = film(env_id, 15, poses=False)["frames"]
    poses = film(env_id, 15, poses=True)["poses"]
    assert len(poses) == len(frames) == 16  # the reset, then every step
    twin = gym.make(env_id, render_mode="rgb_array", render_size=SIZE).unwrapped
    twin.reset(seed=99)  # any start: every frame sets the whole pose
    drawn = [twin.render_pose(pose) for pose in poses]
    assert all(np.array_equal(a, b) for a, b in zip(frames, drawn, strict=True))
    assert not np.array_equal(frames[0], frames[-1])


def test_the_background_renderer_writes_each_video_and_reports_the_bad_one(tmp_path):
    import imageio.v2 as imageio

    recorded = film("rltrain/PandaReach-v0", 10, poses=True)
    renderer = BackgroundRenderer("rltrain/PandaReach-v0", SIZE, False)
    renderer.submit(tmp_path / "no" / "such" / "dir.mp4", 1, [recorded])
    renderer.submit(tmp_path / "b.mp4", 2, [recorded, recorded])
    done = renderer.finished(wait=60)
    renderer.close(wait=5)
    assert [video.step for video in done] == [1, 2] and not renderer.pending
    assert "cannot write" in done[0].error and done[1].error is None and done[1].cpu_s > 0
    frames = [frame for frame in imageio.get_reader(tmp_path / "b.mp4")]
    assert len(frames) == 2 * (11 + 12) and frames[0].shape == (SIZE[1], SIZE[0], 3)
    assert renderer._process.returncode == 0


def test_the_renderer_ignores_ctrl_c_and_ends_with_its_trainer(tmp_path):
    renderer = BackgroundRenderer("rltrain/PandaReach-v0", SIZE, False)
    renderer.submit(tmp_path / "a.mp4", 1, [film("rltrain/PandaReach-v0", 5, poses=True)])
    assert renderer.finished(wait=60)[0].error is None  # up and drawing
    process = renderer._process
    process.send_signal(signal.SIGINT)  # what a terminal's Ctrl-C sends the whole group
    with pytest.raises(subprocess.TimeoutExpired):
        process.wait(timeout=1)
    process.stdin.close()  # the trainer ended (or died): its end of the pipe closes
    assert process.wait(timeout=10) == 0
