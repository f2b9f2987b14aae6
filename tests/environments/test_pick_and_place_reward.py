"""Pick-and-place's staged dense reward on scripted states: real PyBullet, real contacts."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from scripted_arm import p_control, pick_and_place_steps

import envs  # noqa: F401  (registers the ids)
from envs.tasks.pick_and_place import REACH_SHARPNESS, STAGES

AIR_GOAL_SEED = 0  # its goal is 18 cm above the table: it needs a grasp and a lift


@pytest.fixture
def env():
    env = gym.make("rltrain/PandaPickAndPlace-v0")
    yield env
    env.close()


def reach_only(info: dict) -> float:
    """The reward of the reach stage alone, the others giving nothing."""
    return (1.0 - np.tanh(REACH_SHARPNESS * info["hand_distance"])) / STAGES


def test_each_stage_of_a_scripted_pick_and_place_pays_more_than_the_last(env):
    stages = {}
    for phase, observation, reward, info in pick_and_place_steps(env, AIR_GOAL_SEED):
        assert 0.0 <= reward <= 1.0
        cube_z = observation[9]
        if phase == "above":
            stages.setdefault("hand far", reward)
        elif phase == "down":
            assert not info["grasped"]  # open fingers around the cube hold nothing
            stages["hand at the cube"] = reward
        elif phase == "close" and info["grasped"]:
            stages["grasped on the table"] = reward
        elif phase == "carry" and info["grasped"] and cube_z > 0.06 and not info["is_success"]:
            stages.setdefault("grasped and lifted", reward)
        elif info["is_success"]:
            stages["at the goal"] = reward
            break
    assert list(stages) == [
        "hand far",
        "hand at the cube",
        "grasped on the table",
        "grasped and lifted",
        "at the goal",
    ]
    rewards = list(stages.values())
    assert rewards == sorted(rewards) and len(set(rewards)) == len(rewards), stages
    assert stages["at the goal"] == 1.0


def test_a_cube_in_the_air_pays_nothing_once_the_fingers_let_go(env):
    for _, observation, reward, info in pick_and_place_steps(env, AIR_GOAL_SEED):
        if info["grasped"] and observation[9] > 0.1:
            lifted_reward = reward
            break
    else:
        pytest.fail("the scripted grasp never lifted the cube 10 cm")
    hand = observation[:3]
    observation, reward, _, _, info = env.step(np.append(p_control(hand, hand), 1.0))  # open
    assert observation[9] > 0.06  # still in the air, falling
    assert not info["grasped"]
    assert reward == pytest.approx(reach_only(info), abs=1e-6)
    assert reward < lifted_reward


def test_a_grasped_cube_slid_along_the_table_under_a_goal_in_the_air_earns_no_carry(env):
    """What PPO learned before the lift stage: grasp, press down, slide under the goal."""
    for phase, held, _, info in pick_and_place_steps(env, AIR_GOAL_SEED):
        if phase == "close" and info["grasped"]:
            observation = held
            break
    goal = env.unwrapped.goal
    for _ in range(20):
        hand = observation[:3]
        slide = np.append(p_control(np.append(goal[:2], 0.0), hand), -1.0)  # z held down
        observation, reward, _, _, info = env.step(slide)
        assert info["grasped"] and observation[9] < 0.03  # held, on the table
        assert reward == pytest.approx(reach_only(info) + 1.0 / STAGES, abs=1e-6)
    assert np.linalg.norm(observation[7:9] - goal[:2]) < 0.03  # right under the goal


def test_closed_fingers_pressing_on_the_cube_from_above_are_no_grasp(env):
    observation, _ = env.reset(seed=1)
    touched = False
    for _ in range(30):
        hand, cube = observation[:3], observation[7:10]
        action = np.append(p_control(cube, hand), -1.0)  # fingers shut, aim at the cube
        observation, reward, _, _, info = env.step(action)
        assert not info["grasped"]
        assert reward == pytest.approx(reach_only(info), abs=1e-6)
        touched |= info["hand_distance"] < 0.03
    assert touched  # the fingertips did come down onto the cube's top face


def test_the_former_dense_reward_stays_by_name(env):
    env = gym.make("rltrain/PandaPickAndPlace-v0", reward_type="distance")
    env.reset(seed=0)
    _, reward, _, _, info = env.step(env.action_space.sample())
    cube_to_goal = np.linalg.norm(env.unwrapped.task.cube_position() - env.unwrapped.goal)
    assert reward == pytest.approx(-(cube_to_goal + 0.5 * info["hand_distance"]), abs=1e-5)
    env.close()
    with pytest.raises(ValueError, match="must be one of"):
        gym.make("rltrain/PandaPush-v0", reward_type="distance")


def test_relabelled_goals_need_the_stages_from_info(env):
    env = gym.make("rltrain/PandaPickAndPlace-v0", obs_type="dict")
    observation, _ = env.reset(seed=0)
    goal = observation["achieved_goal"]
    with pytest.raises(ValueError, match="grasped"):
        env.unwrapped.compute_reward(goal, goal, None)
    env.close()


def test_a_held_start_begins_with_the_cube_in_the_closed_gripper():
    env = gym.make("rltrain/PandaPickAndPlace-v0", held_start=1.0)
    heights = []
    for seed in range(8):
        observation, _ = env.reset(seed=seed)
        hand, cube = observation[:3], observation[7:10]
        assert np.linalg.norm(hand - cube) < 0.03  # between the fingertips
        heights.append(cube[2])
        for _ in range(5):  # hold still, fingers closed: the cube stays in the hand
            observation, _, _, _, info = env.step(np.array([0, 0, 0, -1], np.float32))
            assert info["grasped"]
        assert abs(observation[9] - cube[2]) < 0.01
        goal = env.unwrapped.goal
        assert np.linalg.norm(goal - observation[7:10]) >= 0.09  # not already at its goal
    assert min(heights) < 0.05 < max(heights)  # from near the table to well above it
    env.close()


def test_a_held_cube_carried_towards_its_goal_earns_more_than_one_held_still():
    env = gym.make("rltrain/PandaPickAndPlace-v0", held_start=1.0)
    rewards = {}
    for how in ("still", "carried"):
        observation, _ = env.reset(seed=AIR_GOAL_SEED)
        goal = env.unwrapped.goal
        for _ in range(8):
            move = p_control(goal, observation[:3]) if how == "carried" else np.zeros(3)
            action = np.append(move, -1.0).astype(np.float32)
            observation, rewards[how], _, _, info = env.step(action)
        assert info["grasped"]
    assert rewards["carried"] > rewards["still"]
    env.close()


def test_held_starts_are_drawn_only_when_asked_for():
    # Without them, an episode is the one it was (the evaluation envs never have them).
    plain, zero = (
        gym.make("rltrain/PandaPickAndPlace-v0"),
        gym.make("rltrain/PandaPickAndPlace-v0", held_start=0.0),
    )
    for seed in range(3):
        np.testing.assert_array_equal(plain.reset(seed=seed)[0], zero.reset(seed=seed)[0])
    with pytest.raises(ValueError, match="held_start"):
        gym.make("rltrain/PandaPickAndPlace-v0", held_start=1.5)
    with pytest.raises(ValueError, match="not an option of task 'push'"):
        gym.make("rltrain/PandaPush-v0", held_start=0.5)
