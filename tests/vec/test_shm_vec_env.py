"""ShmVecEnv behaves exactly like SB3's DummyVecEnv, and fails loudly, never hangs."""

from __future__ import annotations

import json
import os
import signal
import time

import gymnasium as gym
import numpy as np
import pytest
from conftest import run_cli
from shm_helpers import MakeEnv, assert_same
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

from rl_train.vec.failures import EnvWorkerError
from rl_train.vec.shm import ShmVecEnv, split_envs

COUNTDOWN = MakeEnv("GoalCountdown-v0")


def worker_pids(venv: ShmVecEnv) -> list[int]:
    return [process.pid for process in venv.processes]


def worker_states(venv: ShmVecEnv) -> list[dict]:
    """What each worker process reports of itself (its first env is an Introspect)."""
    return venv.env_method("worker_state", indices=[envs.start for envs in venv.slices])


def crashing(n_envs: int, crash_env: int, at_step: int, mode: str) -> list[MakeEnv]:
    """CrashingReach envs; the one whose first reset seed is `crash_env` dies."""
    env_vars = {"CRASH_SEED": str(crash_env), "CRASH_AT_STEP": str(at_step), "CRASH_MODE": mode}
    return [MakeEnv("CrashingReach-v0", env_vars) for _ in range(n_envs)]


@pytest.fixture
def make_shm():
    created: list[ShmVecEnv] = []

    def make(env_fns, n_workers=2, **kwargs) -> ShmVecEnv:
        venv = ShmVecEnv(env_fns, n_workers=n_workers, **kwargs)
        created.append(venv)
        return venv

    yield make
    for venv in created:
        venv.close()


def no_process(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_split_envs_covers_every_env_once():
    assert split_envs(7, 3) == [range(0, 3), range(3, 5), range(5, 7)]
    assert split_envs(2, 4) == [range(0, 1), range(1, 2)]
    assert split_envs(16, 2) == [range(0, 8), range(8, 16)]


@pytest.mark.parametrize(("n_envs", "n_workers"), [(5, 2), (3, 3)])
def test_steps_exactly_like_dummy_vec_env(make_shm, n_envs, n_workers):
    """Same seeds, same actions: identical obs, rewards, dones, infos, across auto-resets."""
    shm = make_shm([COUNTDOWN] * n_envs, n_workers=n_workers)
    dummy = DummyVecEnv([COUNTDOWN] * n_envs)
    assert shm.observation_space == dummy.observation_space
    assert shm.action_space == dummy.action_space
    for venv in (shm, dummy):
        venv.seed(11)
    assert_same(shm.reset(), dummy.reset(), "reset")
    assert_same(shm.reset_infos, dummy.reset_infos, "reset_infos")
    rng = np.random.default_rng(0)
    terminated = truncated = 0
    for step in range(300):
        actions = rng.uniform(-1, 1, (n_envs, 2)).astype(np.float32)
        got, expected = shm.step(actions), dummy.step(actions)
        assert_same(list(got[:3]), list(expected[:3]), f"step {step}")
        assert_same(list(got[3]), list(expected[3]), f"step {step} infos")
        assert_same(shm.reset_infos, dummy.reset_infos, f"step {step} reset_infos")
        for done, info in zip(got[2], got[3], strict=True):
            if done:
                assert "terminal_observation" in info
                if info["TimeLimit.truncated"]:
                    truncated += 1
                else:
                    terminated += 1
    assert terminated > 10 and truncated > 10  # both kinds of episode end were compared
    dummy.close()


def test_terminal_observation_is_last_obs_and_reset_obs_is_returned(make_shm):
    venv = make_shm([MakeEnv("CrashingReach-v0")] * 3, n_workers=2)
    venv.seed(0)
    obs = venv.reset()
    actions = np.zeros((3, 3), np.float32)
    for step in range(1, 51):
        previous = obs
        obs, _rewards, dones, infos = venv.step(actions)
        if step < 50:
            assert not dones.any()
    assert dones.all()  # TimeLimit of 50 steps
    for i, info in enumerate(infos):
        assert info["TimeLimit.truncated"] is True
        # zero actions: the last obs equals the one before; the reset obs is a new episode
        np.testing.assert_array_equal(info["terminal_observation"], previous[i])
        assert not np.array_equal(obs[i], previous[i])


def test_seed_and_options_reach_each_env(make_shm):
    venv = make_shm([COUNTDOWN] * 4, n_workers=2)
    venv.seed(5)
    first = venv.reset()
    venv.seed(5)
    again = venv.reset()
    assert_same(first, again)
    unseeded = venv.reset()  # seeds are used once
    assert not np.array_equal(unseeded["desired_goal"], first["desired_goal"])
    reference = DummyVecEnv([COUNTDOWN] * 4)
    reference.seed(5)
    assert_same(reference.reset(), first)

    venv.set_options([{"start": 0.5}, {}, {"start": -0.5}, {}])
    obs = venv.reset()
    assert np.all(obs["observation"][0] == 0.5) and np.all(obs["observation"][2] == -0.5)
    assert venv.get_attr("last_options") == [{"start": 0.5}, None, {"start": -0.5}, None]
    venv.reset()
    assert venv.get_attr("last_options") == [None] * 4  # options are used once


def test_attributes_and_methods(make_shm):
    venv = make_shm([COUNTDOWN] * 5, n_workers=2)
    venv.reset()
    assert venv.get_attr("episodes") == [1] * 5
    venv.set_attr("episodes", 10, indices=[4, 1])
    assert venv.get_attr("episodes", indices=[4, 0, 1]) == [10, 1, 10]
    # set_attr sets on the outermost wrapper, as SB3 does; the env's method sees its own
    dummy = DummyVecEnv([COUNTDOWN] * 5)
    dummy.reset()
    dummy.set_attr("episodes", 10, indices=[4, 1])
    assert venv.env_method("add", 1, b=2) == dummy.env_method("add", 1, b=2) == [4] * 5
    assert venv.env_method("add", 0, indices=3) == [1]
    # Indices as SB3's vec envs take them: negative ones, any iterable.
    assert venv.get_attr("episodes", indices=-1) == dummy.get_attr("episodes", indices=-1) == [10]
    assert venv.get_attr("episodes", indices=range(-2, 0)) == [1, 10]
    assert venv.env_method("add", 5, indices=(-1, 0)) == dummy.env_method("add", 5, indices=(-1, 0))
    for vec in (venv, dummy):
        with pytest.raises(IndexError):
            vec.get_attr("episodes", indices=5)
        with pytest.raises(IndexError):
            vec.get_attr("episodes", indices=-6)
    assert venv.has_attr("episodes") and not venv.has_attr("no_such_attribute")
    with pytest.raises(AttributeError):
        venv.get_attr("no_such_attribute")
    assert venv.get_attr("episodes", indices=[2]) == [1]  # still usable after the error
    assert venv.env_is_wrapped(gym.wrappers.TimeLimit) == [True] * 5
    assert venv.env_is_wrapped(Monitor) == [False] * 5
    assert venv.render_mode is None


def test_render_rgb_array(make_shm):
    venv = make_shm([MakeEnv("GoalCountdown-v0", kwargs={"render_mode": "rgb_array"})] * 3)
    venv.reset()
    assert venv.render_mode == "rgb_array"
    images = venv.get_images()
    assert [image.shape for image in images] == [(4, 6, 3)] * 3
    assert venv.render().shape == (8, 12, 3)  # tiled 2 x 2


def test_vec_monitor_episode_stats_match_dummy(make_shm):
    shm, dummy = VecMonitor(make_shm([COUNTDOWN] * 4)), VecMonitor(DummyVecEnv([COUNTDOWN] * 4))
    for venv in (shm, dummy):
        venv.seed(3)
        venv.reset()
    actions = np.zeros((4, 2), np.float32)
    for _ in range(40):
        _, _, _, got = shm.step(actions)
        _, _, _, expected = dummy.step(actions)
        for a, b in zip(got, expected, strict=True):
            assert ("episode" in a) == ("episode" in b)
            if "episode" in a:
                assert a["episode"]["r"] == b["episode"]["r"]
                assert a["episode"]["l"] == b["episode"]["l"]
    dummy.close()


def test_workers_import_neither_torch_nor_wandb(make_shm):
    import torch  # noqa: F401  (the main process has it; the workers must not)

    venv = make_shm([MakeEnv("CrashingReach-v0", introspect=True)] * 4, n_workers=2)
    venv.env_is_wrapped(Monitor)  # an SB3 class by name: must not import SB3 there
    for state in worker_states(venv):
        roots = {name.split(".")[0] for name in state["modules"]}
        assert "gymnasium" in roots
        assert not roots & {"torch", "wandb", "stable_baselines3", "tensorboard"}, roots


PRELOAD_PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
from shm_helpers import MakeEnv, assert_same
from rl_train.vec.shm import ShmVecEnv
venv = ShmVecEnv([MakeEnv("GoalCountdown-v0", introspect=True)] * 2, n_workers=2)
states = venv.env_method("worker_state", indices=[0, 1])
venv.close()
print(json.dumps([state["loaded_at_start"] for state in states]))
"""


def test_workers_start_with_their_imports_loaded_by_the_forkserver():
    # Imported once in the forkserver (rl_train/vec/forkserver.py), not again in each worker
    # (a fresh interpreter: the forkserver of this test process may be running already).
    import subprocess
    import sys
    from pathlib import Path

    tests_dir = str(Path(__file__).resolve().parents[1])
    done = subprocess.run(
        [sys.executable, "-c", PRELOAD_PROBE, tests_dir],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    for loaded in json.loads(done.stdout.strip().splitlines()[-1]):
        assert {"numpy", "gymnasium", "pybullet", "envs.core"} <= set(loaded)
        assert "torch" not in loaded


def test_workers_run_with_one_thread_and_ignore_sigint(make_shm):
    venv = make_shm([MakeEnv("GoalCountdown-v0", introspect=True)] * 2, n_workers=2)
    for state in worker_states(venv):
        assert state["thread_env"]["OMP_NUM_THREADS"] == "1"
        assert state["thread_env"]["MKL_NUM_THREADS"] == "1"
        assert state["sigint_ignored"]
    for pid in worker_pids(venv):
        os.kill(pid, signal.SIGINT)
    time.sleep(0.2)
    venv.seed(0)
    venv.reset()
    venv.step(np.zeros((2, 2), np.float32))  # both workers survived Ctrl-C


def test_workers_are_batch_work_and_pinned_one_per_core_when_they_take_every_core(make_shm):
    # SCHED_BATCH: a woken worker never preempts the learner (see shm_worker.py).
    allowed = os.sched_getaffinity(0)
    if len(allowed) > 8:
        pytest.skip("one worker per core would start too many processes here")
    venv = make_shm([COUNTDOWN] * len(allowed), n_workers=len(allowed))
    pids = worker_pids(venv)
    assert all(os.sched_getscheduler(pid) == os.SCHED_BATCH for pid in pids)
    pinned = [os.sched_getaffinity(pid) for pid in pids]
    assert all(len(cores) == 1 for cores in pinned) and set().union(*pinned) == allowed
    if len(allowed) > 1:  # fewer workers than cores: the scheduler places them
        fewer = make_shm([COUNTDOWN] * 2, n_workers=len(allowed) - 1)
        assert all(os.sched_getaffinity(pid) == allowed for pid in worker_pids(fewer))
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # the learner is left as it was


def test_exception_in_env_names_env_and_cause(make_shm):
    venv = make_shm(crashing(5, crash_env=3, at_step=20, mode="exception"), n_workers=2)
    venv.seed(0)  # reset seeds 0..4: env 3 is the one that crashes
    venv.reset()
    actions = np.zeros((5, 3), np.float32)
    with pytest.raises(EnvWorkerError) as caught:
        for _ in range(100):
            venv.step(actions)
    message = str(caught.value)
    assert "env 3" in message and "exception" in message
    assert "RuntimeError: simulated physics failure" in message
    assert caught.value.env_index == 3
    assert "simulated physics failure" in caught.value.worker_traceback
    with pytest.raises(EnvWorkerError):  # broken for good, not hanging
        venv.step(actions)
    pids = worker_pids(venv)
    venv.close()
    assert all(no_process(pid) for pid in pids)


def test_segfault_names_env_and_signal(make_shm):
    venv = make_shm(crashing(4, crash_env=1, at_step=5, mode="segfault"), n_workers=2)
    venv.seed(0)
    venv.reset()
    with pytest.raises(EnvWorkerError) as caught:
        for _ in range(20):
            venv.step(np.zeros((4, 3), np.float32))
    assert "env 1" in str(caught.value) and "SIGSEGV" in str(caught.value)
    assert caught.value.env_index == 1


def test_killed_worker_is_reported_not_waited_for(make_shm):
    venv = make_shm([COUNTDOWN] * 4, n_workers=2)
    venv.reset()
    os.kill(worker_pids(venv)[1], signal.SIGKILL)
    started = time.monotonic()
    with pytest.raises(EnvWorkerError) as caught:
        venv.step(np.zeros((4, 2), np.float32))
    assert time.monotonic() - started < 5
    assert "envs 2-3" in str(caught.value) and "SIGKILL" in str(caught.value)


def test_hung_worker_times_out(make_shm):
    venv = make_shm([COUNTDOWN] * 2, n_workers=2, timeout=0.5)
    with pytest.raises(EnvWorkerError, match="hung"):
        venv.env_method("hang", 30, indices=[1])
    pids = worker_pids(venv)
    started = time.monotonic()
    venv.close()
    assert time.monotonic() - started < 10
    assert all(no_process(pid) for pid in pids)


def test_broken_factory_is_reported_at_start():
    with pytest.raises(EnvWorkerError, match="env 2 raised an exception"):
        ShmVecEnv([COUNTDOWN, COUNTDOWN, MakeEnv("NoSuchEnv-v0"), COUNTDOWN], n_workers=2)


def test_close_leaves_no_child_processes(make_shm):
    venv = make_shm([COUNTDOWN] * 3, n_workers=3)
    venv.reset()
    venv.step_async(np.zeros((3, 2), np.float32))  # close() with a step in flight
    pids = worker_pids(venv)
    venv.close()
    venv.close()  # twice is harmless
    assert all(not process.is_alive() for process in venv.processes)
    assert all(no_process(pid) for pid in pids)


def test_cli_trains_with_shm_backend(tmp_path):
    """Through the real command line, on the kinematic Panda reach."""
    done = run_cli(
        [
            "--use-simple-env",
            "--vec-env",
            "shm",
            "--n-envs",
            "4",
            "--n-workers",
            "2",
            "--total-timesteps",
            "512",
            "--output-dir",
            "runs",
            "--run-name",
            "shm",
            "--wandb-mode",
            "disabled",
        ],
        cwd=tmp_path,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "runs" / "shm" / "run.json").read_text())
    assert record["state"] == "finished" and record["steps"] == 512
