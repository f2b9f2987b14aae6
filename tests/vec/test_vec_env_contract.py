"""SB3's VecEnv contract, one suite over SB3's DummyVecEnv and SubprocVecEnv and our
ShmVecEnv side by side: the same seeds and actions must give the same observations (every
kind of space), rewards, dones, infos, reset infos and terminal observations; attribute and
method calls with every kind of index; seeding, reset options, render; and the same under
VecNormalize and VecFrameStack. Where SB3's vec envs have no answer (nested spaces, which
DummyVecEnv refuses and SubprocVecEnv stacks into arrays of dicts), ShmVecEnv is checked
against the envs stepped one by one."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
from conftest import run_cli, train_test_env
from shm_helpers import assert_same
from space_envs import MakeSpacesEnv
from stable_baselines3.common.vec_env import (
    DummyVecEnv,
    SubprocVecEnv,
    VecFrameStack,
    VecNormalize,
)

from rl_train.vec.shm import ShmVecEnv

N_ENVS = 5
BACKENDS = ("dummy", "subproc", "shm")


def make(backend: str, factories):
    if backend == "dummy":
        return DummyVecEnv(factories)
    if backend == "subproc":
        # fork: its forkserver children would import the test process's main module (torch
        # and all), ~7 s per vec env; how a worker starts does not change the protocol.
        return SubprocVecEnv(factories, start_method="fork")
    return ShmVecEnv(factories, n_workers=2)


@pytest.fixture
def vec_envs():
    """make(obs, act, backends, **kwargs) -> {backend: vec env}, all closed afterwards."""
    created = []

    def build(obs="box", act="box", backends=BACKENDS, **kwargs):
        factories = [MakeSpacesEnv(obs, act, **kwargs) for _ in range(N_ENVS)]
        venvs = {backend: make(backend, factories) for backend in backends}
        created.extend(venvs.values())
        return venvs

    yield build
    for venv in created:
        venv.close()


def sampled_actions(space: gym.Space, step: int, batched: bool):
    """N_ENVS actions: an array (n, ...) for a space of one array, else a list per env."""
    space.seed(step)
    actions = [space.sample() for _ in range(N_ENVS)]
    return np.stack(actions) if batched else actions


def play(venv, steps: int, batched: bool) -> list:
    """What a user sees of `steps` steps from a seeded reset. SB3's own vec envs differ in
    two things, which this leaves out: the rewards' dtype (DummyVecEnv float32, SubprocVecEnv
    float64; ours is DummyVecEnv's, test_rewards_are_float32_as_dummy_vec_envs) and the
    infos' sequence (a list, a tuple; ours a list)."""
    venv.seed(7)
    seen = [venv.reset(), list(venv.reset_infos)]
    for step in range(steps):
        obs, rewards, dones, infos = venv.step(sampled_actions(venv.action_space, step, batched))
        seen += [obs, rewards.astype(np.float64), dones, list(infos), list(venv.reset_infos)]
    return seen


FLAT = ["box", "box-image", "box-int16", "box-scalar", "discrete", "multi-discrete", "multi-binary"]


@pytest.mark.parametrize(
    ("obs", "act", "backends"),
    [(space, "box", BACKENDS) for space in [*FLAT, "dict", "tuple"]]
    + [("box", space, BACKENDS) for space in [*FLAT, "dict", "tuple"]]
    # Text has no shape: DummyVecEnv cannot buffer it; SubprocVecEnv stacks the strings.
    + [("text", "text", ("subproc", "shm")), ("dict-with-text", "box", ("subproc", "shm"))],
)
def test_every_space_steps_alike(vec_envs, obs, act, backends):
    venvs = vec_envs(obs, act, backends)
    batched = act in FLAT
    seen = {backend: play(venv, 7, batched) for backend, venv in venvs.items()}
    for backend in backends[1:]:
        assert venvs[backend].observation_space == venvs[backends[0]].observation_space
        assert venvs[backend].action_space == venvs[backends[0]].action_space
        assert_same(seen[backend], seen[backends[0]], f"{backend} vs {backends[0]}")
    # Episodes of 3 steps: auto-resets, with terminal observations, happened.
    infos = seen[backends[0]][-2]
    assert any(
        "terminal_observation" in info
        for step_infos in seen[backends[0]][5::5]
        for info in step_infos
    )
    assert all(info["TimeLimit.truncated"] in (True, False) for info in infos)


def test_rewards_are_float32_and_infos_a_list_as_dummy_vec_envs(vec_envs):
    venvs = vec_envs(backends=("dummy", "shm"))
    kinds = set()
    for venv in venvs.values():
        venv.reset()
        _, rewards, _, infos = venv.step(np.zeros((N_ENVS, 3), np.float32))
        kinds.add((rewards.dtype, type(infos)))
    assert kinds == {(np.dtype(np.float32), list)}


def test_nested_spaces_batch_like_the_envs_one_by_one(vec_envs):
    """Observations batched leaf by leaf, nested as the space; actions given per env."""
    shm = vec_envs("nested", "nested", ("shm",))["shm"]
    envs = [MakeSpacesEnv("nested", "nested")() for _ in range(N_ENVS)]
    shm.seed(3)
    obs = shm.reset()
    singles = [env.reset(seed=3 + i)[0] for i, env in enumerate(envs)]

    def batched(values):
        first = values[0]
        if isinstance(first, dict):
            return {key: batched([v[key] for v in values]) for key in first}
        if isinstance(first, tuple):
            return tuple(batched([v[i] for v in values]) for i in range(len(first)))
        return np.stack(values)

    assert_same(obs, batched(singles))
    for step in range(5):
        actions = sampled_actions(shm.action_space, step, batched=False)
        obs, _, dones, infos = shm.step(actions)
        expected = [env.step(a) for env, a in zip(envs, actions, strict=True)]
        for info, action in zip(infos, actions, strict=True):
            assert_same(info["action"], action)  # every leaf arrived with its type
        observations = [
            env.reset()[0] if e[3] else e[0] for env, e in zip(envs, expected, strict=True)
        ]
        assert_same(obs, batched(observations), f"step {step}")
        assert list(dones) == [e[3] for e in expected]
    # Actions batched as the observations come are taken too, split env by env.
    arm = np.arange(N_ENVS) % 4
    _, _, _, infos = shm.step(
        {"arm": (arm, np.zeros((N_ENVS, 2), np.float32)),
         "goal": {"xyz": np.zeros((N_ENVS, 3), np.float32), "flags": np.ones((N_ENVS, 2), np.int8)}}
    )  # fmt: skip
    assert [int(info["action"]["arm"][0]) for info in infos] == arm.tolist()
    assert all(info["action"]["goal"]["flags"].tolist() == [1, 1] for info in infos)


INDICES = {  # each makes the indices afresh: a generator is used up by one call
    "none": lambda: None,
    "int": lambda: 3,
    "negative int": lambda: -1,
    "first, negative": lambda: -N_ENVS,
    "list": lambda: [4, 0, 2],
    "repeated": lambda: [1, 1],
    "range": lambda: range(1, 4),
    "generator": lambda: (i for i in (0, -2)),
}


@pytest.mark.parametrize("indices", INDICES.values(), ids=INDICES.keys())
def test_attributes_and_methods_with_every_kind_of_index(vec_envs, indices):
    results = {}
    for backend, venv in vec_envs().items():
        venv.reset()
        venv.set_attr("level", 4, indices=[1, -1])
        results[backend] = (
            venv.get_attr("level", indices=indices()),
            venv.get_attr("length", indices=indices()),  # the env's, under its TimeLimit
            venv.env_method("scaled", 3, offset=1, indices=indices()),
            venv.env_is_wrapped(gym.wrappers.TimeLimit, indices=indices()),
            venv.env_is_wrapped(gym.wrappers.RecordEpisodeStatistics, indices=indices()),
            venv.has_attr("level"),
            venv.has_attr("no_such_attribute"),
        )
    for backend in BACKENDS[1:]:
        assert_same(results[backend], results["dummy"], backend)


@pytest.mark.parametrize("bad", [N_ENVS, -N_ENVS - 1])
def test_an_index_out_of_range_is_an_index_error(vec_envs, bad):
    for venv in vec_envs().values():
        with pytest.raises(IndexError):
            venv.get_attr("level", indices=bad)
        assert venv.get_attr("level", indices=0) == [1]  # still usable


def test_seed_options_render_and_reset_infos(vec_envs):
    venvs = vec_envs(render_mode="rgb_array")
    seen = {}
    for backend, venv in venvs.items():
        venv.seed(11)
        first = venv.reset()
        venv.set_options([{"k": i} for i in range(N_ENVS)])
        venv.seed(11)
        again = venv.reset()
        infos = list(venv.reset_infos)
        venv.set_options({"all": True})  # one dict: every env
        venv.reset()
        shared = list(venv.reset_infos)
        venv.step(np.zeros((N_ENVS, 3), np.float32))
        seen[backend] = (first, again, infos, shared, venv.get_images(), venv.render_mode)
    for backend in BACKENDS[1:]:
        assert_same(seen[backend], seen["dummy"], backend)
    first, again, infos, shared, images, _ = seen["dummy"]
    assert_same(first, again)  # seeded alike
    assert [info["options"] for info in infos] == [{"k": i} for i in range(N_ENVS)]
    assert [info["options"] for info in shared] == [{"all": True}] * N_ENVS
    assert all(image.shape == (2, 3, 3) and image[0, 0, 0] == 1 for image in images)


@pytest.mark.parametrize("wrapper", ["normalize", "frame-stack"])
def test_the_same_under_vec_normalize_and_vec_frame_stack(vec_envs, wrapper):
    venvs = vec_envs()
    wrapped = {
        backend: VecNormalize(venv, gamma=0.9) if wrapper == "normalize" else VecFrameStack(venv, 3)
        for backend, venv in venvs.items()
    }
    seen = {backend: play(venv, 8, batched=True) for backend, venv in wrapped.items()}
    for backend in BACKENDS[1:]:
        assert_same(seen[backend], seen["dummy"], backend)


def test_an_env_with_dict_actions_trains_and_evaluates_on_shm(tmp_path):
    """Nested Dict and Tuple actions (a Discrete, a Box, a MultiBinary among them): PPO acts
    in their flat Box, each env's worker unflattens its action."""
    done, env = train_test_env(
        tmp_path, "space_envs:SpacesDictActions-v0", "n_steps: 32\nbatch_size: 64\n",
        "--vec-env", "shm", "--n-envs", "4", "--total-timesteps", "256",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    evaluated = run_cli(["eval", "d", "--episodes", "4", "--json", "--output-dir", "runs"],
                        cwd=tmp_path, env=env)  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr
    result = json.loads(evaluated.stdout)
    assert result["episodes"] == 4 and result["mean_ep_length"] == 10
