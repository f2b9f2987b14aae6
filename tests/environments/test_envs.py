"""Our gymnasium envs: conformance, determinism, honest physics, layouts, vectorized equivalence.

Real PyBullet throughout. Speed is measured by benchmarks/env_throughput.py, never here.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from scripted_arm import p_control, pick_and_place_steps

import envs
from envs import panda_kinematics as kinematics
from envs.tasks.push import PUSH_OFFSET, push_point

PHYSICS_IDS = [i for i in envs.registered_ids() if not i.endswith("Simple-v0")]
SIMPLE_ID = "rltrain/PandaReachSimple-v0"


def make(env_id: str, **kwargs) -> gym.Env:
    return gym.make(env_id, **kwargs)


def rollout(env: gym.Env, seed: int, steps: int) -> list[np.ndarray]:
    """Observations of `steps` random-action steps, actions drawn from the seed too."""
    observation, _ = env.reset(seed=seed)
    actions = np.random.default_rng(seed).uniform(-1, 1, size=(steps, *env.action_space.shape))
    trajectory = [observation]
    for action in actions:
        observation, *_ = env.step(action.astype(np.float32))
        trajectory.append(observation)
    return trajectory


# -- package and registration ------------------------------------------------------------
def test_import_envs_pulls_in_neither_pybullet_nor_torch():
    code = (
        "import sys, envs; envs.registered_ids(); "
        "assert 'pybullet' not in sys.modules and 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_task_and_robot_resolves_to_a_registered_id():
    assert envs.resolve_env_id("reach") == "rltrain/PandaReach-v0"
    assert envs.resolve_env_id("reach", simple=True) == SIMPLE_ID
    assert envs.resolve_env_id("push") == "rltrain/PandaPush-v0"
    assert envs.resolve_env_id("pick_and_place") == "rltrain/PandaPickAndPlace-v0"
    assert envs.resolve_env_id("reach", robot="kuka") == "rltrain/KukaReach-v0"
    assert envs.resolve_env_id("PandaPushSparse-v0") == "rltrain/PandaPushSparse-v0"
    for task, (physics_id, simple_id) in envs.TASKS.items():
        assert physics_id in gym.registry, task
        assert simple_id is None or simple_id in gym.registry


@pytest.mark.parametrize(
    ("env", "kwargs"),
    [
        ("push", {"robot": "kuka"}),
        ("push", {"simple": True}),
        ("fly", {}),
        ("reach", {"robot": "ur5"}),
    ],
)
def test_unsupported_combinations_are_one_line_errors(env, kwargs):
    with pytest.raises(ValueError) as error:
        envs.resolve_env_id(env, **kwargs)
    assert "\n" not in str(error.value)


# -- conformance -----------------------------------------------------------------------------
# ppo.yml trains pick-and-place with held starts (IK sets the arm around the cube): the env
# it trains on must conform and replay from a seed as the plain one does.
HELD_STARTS = ("rltrain/PandaPickAndPlace-v0", {"held_start": 0.5})


@pytest.mark.parametrize(
    ("env_id", "kwargs"), [(env_id, {}) for env_id in envs.registered_ids()] + [HELD_STARTS]
)
def test_gymnasium_and_sb3_env_checkers_pass(env_id, kwargs):
    from gymnasium.utils.env_checker import check_env as gym_check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = make(env_id, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a checker warning is a failure
        gym_check_env(env.unwrapped, skip_render_check=True)
        sb3_check_env(env.unwrapped, warn=True)
    env.close()


@pytest.mark.parametrize(
    "env_id", ["rltrain/PandaReach-v0", "rltrain/PandaPush-v0", "rltrain/PandaPickAndPlace-v0"]
)
def test_dict_observations_pass_the_checkers_and_compute_reward_batched(env_id):
    from gymnasium.utils.env_checker import check_env as gym_check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    for reward_type in ("dense", "sparse"):
        env = make(env_id, obs_type="dict", reward_type=reward_type)
        gym_check_env(env.unwrapped, skip_render_check=True)
        sb3_check_env(env.unwrapped, warn=True)
        env.reset(seed=3)
        achieved, desired, infos, rewards = [], [], [], []
        for _ in range(8):
            observation, reward, _, _, info = env.step(env.action_space.sample())
            assert set(observation) == {"observation", "achieved_goal", "desired_goal"}
            achieved.append(observation["achieved_goal"])
            desired.append(observation["desired_goal"])
            infos.append(info)
            rewards.append(reward)
        batched = env.unwrapped.compute_reward(np.array(achieved), np.array(desired), infos)
        assert batched.shape == (8,)
        np.testing.assert_allclose(batched, rewards, atol=1e-5)
        # HER relabels: the achieved goal as the desired one is a success.
        relabelled = env.unwrapped.compute_reward(np.array(achieved), np.array(achieved), infos)
        if reward_type == "sparse":
            assert np.all(relabelled == 0.0)
        else:
            assert np.all(relabelled > np.array(rewards) - 1e-6)
        env.close()


def test_render_rgb_array_headless():
    env = make("rltrain/PandaPush-v0", render_mode="rgb_array")
    env.reset(seed=0)
    image = env.render()
    assert image.shape == (360, 480, 3) and image.dtype == np.uint8
    assert image.std() > 5  # a scene, not a blank frame
    env.close()


# -- layouts -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("env_id", "obs_size", "action_size"),
    [
        ("rltrain/PandaReach-v0", 9, 3),
        ("rltrain/PandaReachJoints-v0", 9, 7),
        ("rltrain/PandaPush-v0", 24, 3),
        ("rltrain/PandaPickAndPlace-v0", 25, 4),
        ("rltrain/PandaPickAndPlaceJoints-v0", 25, 8),
        ("rltrain/KukaReach-v0", 9, 3),
        (SIMPLE_ID, 9, 3),
    ],
)
def test_observation_and_action_layouts(env_id, obs_size, action_size):
    env = make(env_id)
    observation, info = env.reset(seed=1)
    assert env.observation_space.shape == (obs_size,)
    assert env.action_space.shape == (action_size,)
    assert "is_success" in info
    unwrapped = env.unwrapped
    np.testing.assert_allclose(observation[-3:], unwrapped.goal, atol=1e-6)  # goal last
    if env_id != SIMPLE_ID:
        hand, _ = unwrapped.robot.ee_state()
        np.testing.assert_allclose(observation[:3], hand, atol=1e-6)  # hand first
    if "Push" in env_id or "Pick" in env_id:
        cube_at = 7 if "Pick" in env_id else 6
        cube = unwrapped.task.cube_position()
        np.testing.assert_allclose(observation[cube_at : cube_at + 3], cube, atol=1e-6)
    env.close()


# -- determinism ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("env_id", "kwargs"),
    [
        ("rltrain/PandaReach-v0", {}),
        ("rltrain/PandaPickAndPlace-v0", {}),
        ("rltrain/KukaReach-v0", {}),
        HELD_STARTS,  # seed 5 starts with the cube held, seed 6 does not
    ],
)
def test_same_seed_same_trajectory(env_id, kwargs):
    first, second = make(env_id, **kwargs), make(env_id, **kwargs)
    references = {}
    for seed in (5, 6):
        references[seed] = reference = rollout(first, seed=seed, steps=30)
        rollout(second, seed=seed + 6, steps=20)  # a different history must not matter
        np.testing.assert_array_equal(np.array(rollout(second, seed=seed, steps=30)), reference)
        np.testing.assert_array_equal(np.array(rollout(first, seed=seed, steps=30)), reference)
    assert not np.array_equal(np.array(references[6]), np.array(references[5]))
    first.close()
    second.close()


# -- honest physics ------------------------------------------------------------------------
def test_physics_step_and_control_period():
    env = make("rltrain/PandaPush-v0")
    sim = env.unwrapped.sim
    assert sim.physics_dt <= 1 / 240
    assert sim.control_dt == pytest.approx(0.04)  # 25 Hz, as panda-gym
    assert sim.client.getPhysicsEngineParameters()["fixedTimeStep"] == pytest.approx(sim.physics_dt)
    env.close()


@pytest.mark.parametrize("env_id", ["rltrain/PandaReach-v0", "rltrain/KukaReach-v0"])
def test_observed_hand_is_pybullets_recomputed_forward_kinematics(env_id):
    # The envs read link states without computeForwardKinematics (cheaper): the frames
    # Bullet keeps after stepping and after resetJointState must be up to date.
    env = make(env_id)
    robot = env.unwrapped.robot
    for seed in range(3):
        env.reset(seed=seed)
        for _ in range(5):
            observation, *_ = env.step(env.action_space.sample())
        observation, _ = env.reset(seed=seed + 10)
        state = env.unwrapped.sim.client.getLinkState(
            robot.body, robot.ee_link, computeLinkVelocity=1, computeForwardKinematics=1
        )
        rotation = np.array(env.unwrapped.sim.client.getMatrixFromQuaternion(state[5]))
        tool = np.array(state[4]) + robot.tool_offset * rotation.reshape(3, 3)[:, 2]
        np.testing.assert_allclose(observation[:3], tool, atol=1e-6)
    env.close()


def test_kinematics_equal_pybullet_forward_kinematics():
    from envs.sim import Sim

    sim = Sim()
    panda = sim.load_urdf("franka_panda/panda.urdf", (0.0, 0.0, 0.0))
    joint_angles = np.random.default_rng(0).uniform(kinematics.LOWER, kinematics.UPPER, (20, 7))
    ours = kinematics.forward(joint_angles)
    for q, position in zip(joint_angles, ours, strict=True):
        for joint, angle in enumerate(q):
            sim.client.resetJointState(panda, joint, angle)
        state = sim.client.getLinkState(panda, 11, computeForwardKinematics=1)
        np.testing.assert_allclose(position, state[4], atol=1e-5)
        _, _, ee = kinematics.chain_scalar(q.tolist())  # the one-env path too
        np.testing.assert_allclose(ee, state[4], atol=1e-5)
    sim.close()


def test_jacobian_matches_finite_differences():
    q = np.random.default_rng(1).uniform(kinematics.LOWER, kinematics.UPPER, (5, 7))
    jacobian, ee = kinematics.jacobian(q)
    for joint in range(7):
        moved = q.copy()
        moved[:, joint] += 1e-6
        numeric = (kinematics.forward(moved) - ee) / 1e-6
        np.testing.assert_allclose(jacobian[:, :, joint], numeric, atol=1e-4)


@pytest.mark.parametrize("env_id", ["rltrain/PandaReach-v0", "rltrain/KukaReach-v0", SIMPLE_ID])
def test_end_effector_control_reaches_random_goals_within_1cm(env_id):
    env = make(env_id)
    for seed in range(4):
        observation, _ = env.reset(seed=seed)
        goal = env.unwrapped.goal
        for _ in range(50):
            observation, *_ = env.step(p_control(goal, observation[:3]))
            if np.linalg.norm(observation[:3] - goal) < 0.01:
                break
        assert np.linalg.norm(observation[:3] - goal) < 0.01, (seed, observation[:3], goal)
    env.close()


def hand_path(solver_iterations: int) -> np.ndarray:
    """Hand y positions over 6 steps of a full +y action."""
    env = make("rltrain/PandaReach-v0")
    env.unwrapped.sim.client.setPhysicsEngineParameter(numSolverIterations=solver_iterations)
    observation, _ = env.reset(seed=0)
    path = [observation[1]]
    for _ in range(6):
        observation, *_ = env.step(np.array([0.0, 1.0, 0.0], dtype=np.float32))
        path.append(observation[1])
    env.close()
    return np.array(path) - path[0]


def test_fewer_solver_iterations_track_as_bullets_default():
    ours = hand_path(solver_iterations=10)
    bullet_default = hand_path(solver_iterations=50)
    # The position motors lag (as panda-gym's): ~3 cm of each commanded 5 cm per step.
    assert 0.15 < ours[-1] < 0.30
    np.testing.assert_allclose(ours, bullet_default, atol=0.01)


@pytest.mark.parametrize("env_id", ["rltrain/PandaReachJoints-v0", "rltrain/KukaReachJoints-v0"])
def test_joint_control_reaches_joint_targets(env_id):
    env = make(env_id)
    env.reset(seed=0)
    robot = env.unwrapped.robot
    target = robot.neutral + np.random.default_rng(0).uniform(-0.3, 0.3, 7)
    for _ in range(40):
        action = np.clip((target - robot.joint_angles()) / 0.05, -1, 1)
        env.step(action.astype(np.float32))
    np.testing.assert_allclose(robot.joint_angles(), target, atol=0.01)
    env.close()


def scripted_push(env: gym.Env, seed: int) -> bool:
    """Go behind the cube (from above), then push it along the cube-to-goal line."""
    observation, _ = env.reset(seed=seed)
    goal = env.unwrapped.goal
    for _ in range(50):
        hand, cube = observation[:3], observation[6:9]
        direction = (goal[:2] - cube[:2]) / (np.linalg.norm(goal[:2] - cube[:2]) + 1e-9)
        behind = np.append(cube[:2] - 0.06 * direction, 0.02)
        if np.linalg.norm(hand[:2] - behind[:2]) > 0.02:
            # still on the wrong side: approach at cube height only from behind
            ahead = np.dot(hand[:2] - cube[:2], direction) > -0.04
            target = np.append(behind[:2], 0.08 if ahead else 0.02)
        else:
            target = np.append(goal[:2] - 0.02 * direction, 0.02)
        observation, _, _, _, info = env.step(p_control(target, hand))
        if info["is_success"]:
            return True
    return False


def scripted_pick_and_place(env: gym.Env, seed: int) -> tuple[bool, float]:
    """Above the cube open, down, close, carry to the goal. Returns (success, max cube z)."""
    highest = 0.0
    for phase, observation, _, info in pick_and_place_steps(env, seed):
        highest = max(highest, float(observation[9]))
        if info["is_success"] and phase == "carry":
            return True, highest
    return False, highest


def test_a_scripted_policy_pushes_the_cube_to_the_goal():
    env = make("rltrain/PandaPush-v0")
    successes = [scripted_push(env, seed) for seed in range(6)]
    assert sum(successes) >= 3, successes
    env.close()


def test_a_scripted_policy_grasps_lifts_and_places_the_cube():
    env = make("rltrain/PandaPickAndPlace-v0")
    results = [(scripted_pick_and_place(env, seed), env.unwrapped.goal[2]) for seed in range(6)]
    lifted = [ok for (ok, highest), goal_z in results if goal_z > 0.06 and highest > 0.06]
    assert sum(lifted) >= 2, results  # grasped and carried up into the air, not pushed
    env.close()


def test_sparse_and_dense_rewards_agree_with_success():
    env = make("rltrain/PandaPushSparse-v0")
    env.reset(seed=0)
    _, reward, _, _, info = env.step(env.action_space.sample())
    assert reward == (0.0 if info["is_success"] else -1.0)
    env.close()
    env = make("rltrain/PandaPush-v0")
    env.reset(seed=0)
    _, reward, _, _, info = env.step(env.action_space.sample())
    cube, goal = env.unwrapped.task.cube_position(), env.unwrapped.goal
    hand_to_point = np.linalg.norm(info["hand_position"] - push_point(cube, goal))
    assert reward == pytest.approx(-(np.linalg.norm(cube - goal) + 0.5 * hand_to_point), abs=1e-5)
    env.close()


def test_the_push_reward_leads_the_hand_behind_the_cube_not_to_its_near_side():
    """A goal between the cube and the arm: the hand must go round the cube. The reward
    pays for the far side (PUSH_OFFSET behind the cube, seen from the goal), not the side
    the hand comes from."""
    env = make("rltrain/PandaPush-v0")
    task = env.unwrapped.task
    cube, goal = np.array([0.05, 0.0, 0.02]), np.array([-0.10, 0.0, 0.02])
    far_side = {"hand_position": cube + [PUSH_OFFSET, 0.0, 0.0]}
    near_side = {"hand_position": cube - [PUSH_OFFSET, 0.0, 0.0]}
    assert task.compute_reward(cube, goal, far_side) == pytest.approx(-0.15)
    assert task.compute_reward(cube, goal, near_side) == pytest.approx(-0.15 - PUSH_OFFSET)
    # Closer to the goal than PUSH_OFFSET, the point slides to the cube's centre instead of
    # swinging round it; relabelled onto itself (HER), it is the centre.
    np.testing.assert_allclose(push_point(cube, cube + [0.01, 0.0, 0.0]), cube - [0.01, 0, 0])
    np.testing.assert_allclose(push_point(cube, cube), cube)
    # batched, as HER calls it
    both = task.compute_reward(
        np.stack([cube, cube]), np.stack([goal, goal]), [far_side, near_side]
    )
    np.testing.assert_allclose(both, [-0.15, -0.15 - PUSH_OFFSET], rtol=1e-6)
    env.close()


# -- the kinematic env and its vectorized twin ------------------------------------------------
def test_vectorized_simple_env_replays_single_envs():
    from envs.simple_vec import SimpleReachVecEnv

    n_envs, seed, steps = 4, 7, 120  # crosses two episode ends (50-step episodes)
    vec_env = SimpleReachVecEnv(n_envs, seed=seed)
    singles = [make(SIMPLE_ID) for _ in range(n_envs)]
    observations = vec_env.reset()
    expected = np.array([env.reset(seed=seed + i)[0] for i, env in enumerate(singles)])
    np.testing.assert_allclose(observations, expected, atol=1e-6)
    actions = np.random.default_rng(0).uniform(-1, 1, (steps, n_envs, 3)).astype(np.float32)
    for t in range(steps):
        observations, rewards, dones, infos = vec_env.step(actions[t])
        for i, env in enumerate(singles):
            observation, reward, terminated, truncated, info = env.step(actions[t, i])
            assert dones[i] == (terminated or truncated)
            assert infos[i]["is_success"] == info["is_success"]
            assert rewards[i] == pytest.approx(reward, abs=1e-6)
            if dones[i]:
                assert infos[i]["TimeLimit.truncated"] is True
                np.testing.assert_allclose(infos[i]["terminal_observation"], observation, atol=1e-6)
                observation, _ = env.reset()
            np.testing.assert_allclose(observations[i], observation, atol=1e-6)
    assert dones.dtype == bool and observations.dtype == np.float32


def test_vectorized_simple_env_works_under_sb3_wrappers():
    from stable_baselines3.common.vec_env import VecMonitor, VecNormalize

    from envs.simple_vec import SimpleReachVecEnv

    venv = VecNormalize(VecMonitor(SimpleReachVecEnv(8, seed=0)))
    venv.seed(3)
    venv.reset()
    episodes = []
    for _ in range(50):
        _, _, _, infos = venv.step(np.zeros((8, 3), dtype=np.float32))
        episodes += [info["episode"] for info in infos if "episode" in info]
    assert len(episodes) == 8 and all(e["l"] == 50 for e in episodes)


def test_the_batched_kinematic_env_honours_indices_or_refuses_them():
    """One object for all its envs: a call for some of them only is refused in one line,
    never applied to all of them quietly."""
    from envs.simple_vec import SimpleReachVecEnv

    venv = SimpleReachVecEnv(4, seed=0)
    assert venv.get_attr("reward_type", indices=-1) == ["dense"]
    assert venv.get_attr("reward_type", indices=range(2)) == ["dense"] * 2
    with pytest.raises(IndexError):
        venv.get_attr("reward_type", indices=4)
    with pytest.raises(ValueError, match="pass indices=None"):
        venv.set_attr("reward_type", "sparse", indices=[0])
    assert venv.get_attr("reward_type") == ["dense"] * 4  # nothing changed
    venv.set_attr("reward_type", "sparse", indices=[3, 2, 1, -4])  # every env: done
    assert venv.get_attr("reward_type") == ["sparse"] * 4
    calls = []
    venv.counted = lambda: calls.append(1) or len(calls)
    assert venv.env_method("counted") == [1] * 4 and calls == [1]  # once, for all envs
    with pytest.raises(ValueError, match="env_method"):
        venv.env_method("counted", indices=[1])
