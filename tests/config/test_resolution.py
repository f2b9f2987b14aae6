"""Config resolution in-process: defaults < shipped per-env hyperparameters < --config < flags."""

from __future__ import annotations

import pytest

from rl_train.config import hyperparams
from rl_train.config.resolve import round_to_rollouts
from rl_train.config.train_config import TrainConfig, wandb_mode_from_env
from rl_train.errors import UserError
from rl_train.training.entry import resolve_config as resolve


def resolved(**fields) -> TrainConfig:
    cli_n_envs_given = fields.pop("cli_n_envs_given", True)
    return resolve(TrainConfig(**fields), cli_n_envs_given=cli_n_envs_given)


def test_the_default_job_is_pybullet_reach_with_its_shipped_settings():
    config = resolved()
    shipped = hyperparams.shipped("rltrain/PandaReach-v0")
    assert config.env_id == "rltrain/PandaReach-v0"
    assert config.hyperparams == {k: v for k, v in shipped.items() if k != "n_envs"}
    assert config.total_timesteps == shipped["n_timesteps"]
    assert config.run_name.startswith("PandaReach-v0-s0-")


def test_unknown_env_ids_fall_back_to_the_default_section():
    assert hyperparams.shipped("nobody/Knows-v0") == hyperparams.shipped("default")


def test_config_file_overrides_and_merges_nested_mappings(tmp_path):
    path = tmp_path / "hp.yml"
    path.write_text("learning_rate: lin_0.0005\npolicy_kwargs: {net_arch: [128, 128]}\n")
    config = resolved(config_file=str(path))
    assert config.hyperparams["learning_rate"] == "lin_0.0005"
    assert config.hyperparams["policy_kwargs"] == {"net_arch": [128, 128]}
    assert config.hyperparams["n_epochs"] == 10  # the shipped value stays


def test_rl_zoo_style_file_is_read_for_its_env_section(tmp_path):
    path = tmp_path / "zoo.yml"
    path.write_text("rltrain/PandaReachSimple-v0:\n  n_steps: 32\nother/Env-v0:\n  n_steps: 8\n")
    config = resolved(config_file=str(path), use_simple_env=True, vec_env="native")
    assert config.hyperparams["n_steps"] == 32


def test_a_files_n_envs_applies_only_when_the_flag_was_not_typed(tmp_path):
    path = tmp_path / "hp.yml"
    path.write_text("n_envs: 4\n")
    assert resolved(config_file=str(path), cli_n_envs_given=False).n_envs == 4
    assert resolved(config_file=str(path), n_envs=8).n_envs == 8


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("lerning_rate: 0.1\n", "lerning_rate"),
        ("learning_rate: fast\n", "lin_<number>"),
        ("normalize: {norm_obs: true, clip: 5}\n", "clip"),
        ("- a list\n", "mapping"),
        ("n_steps: [64\n", "not valid YAML"),
    ],
)
def test_bad_config_files_name_the_problem(tmp_path, text, named):
    path = tmp_path / "hp.yml"
    path.write_text(text)
    with pytest.raises(UserError, match=named.replace("[", r"\[")):
        resolved(config_file=str(path))


def test_target_rounds_up_to_whole_rollouts(capsys):
    config = resolved(use_simple_env=True, vec_env="native", n_envs=4, total_timesteps=1000)
    assert config.total_timesteps == 1024  # 4 envs x 64 steps = 256 per rollout
    assert "rounded up to 1,024" in capsys.readouterr().err
    config.total_timesteps = 5000
    round_to_rollouts(config, start_step=1024)  # a resume: whole rollouts from its step
    assert config.total_timesteps == 1024 + 16 * 256


def test_a_mapping_without_n_steps_uses_sb3s_default():
    assert hyperparams.rollout_size({}, n_envs=2) == 2 * 2048
    assert hyperparams.ppo_kwargs({"n_timesteps": 1, "policy": "MlpPolicy", "gamma": 0.9}) == {
        "gamma": 0.9
    }
    assert hyperparams.normalize_kwargs({"normalize": True, "gamma": 0.9}) == {"gamma": 0.9}
    assert hyperparams.normalize_kwargs({"normalize": False}) is None


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"env": "NoSuchEnv-v9"}, "NoSuchEnv-v9"),
        ({"vec_env": "native"}, "--use-simple-env"),
        ({"run_name": "a/b"}, "--run-name"),
        ({"n_envs": 0}, "--n-envs"),
        ({"env": "push", "use_simple_env": True}, "kinematic"),
        ({"robot_type": "ur5"}, "--robot-type"),
        ({"env": "no_such_module:Env-v0"}, "cannot import"),
    ],
)
def test_invalid_choices_name_the_flag(fields, named):
    with pytest.raises(UserError, match=named):
        resolved(**fields)


def test_a_module_env_id_is_imported_and_must_register_its_id():
    assert resolved(env="tests.crash_env:CrashingReach-v0").env_id.endswith("CrashingReach-v0")
    with pytest.raises(UserError, match="does not register"):
        resolved(env="tests.crash_env:Missing-v0")


def test_wandb_mode_comes_from_the_flag_then_the_environment(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "dryrun")
    assert wandb_mode_from_env(None) == "offline"
    assert wandb_mode_from_env("disabled") == "disabled"
    monkeypatch.setenv("WANDB_MODE", "run")
    assert wandb_mode_from_env(None) == "online"
    monkeypatch.setenv("WANDB_MODE", "cloud")
    with pytest.raises(UserError, match="WANDB_MODE"):
        wandb_mode_from_env(None)


def evaluations(config: TrainConfig) -> int:
    """Evaluations in a run: at each rollout start past a multiple of eval_freq, then the
    final one."""
    rollout = config.n_envs * config.hyperparams["n_steps"]
    starts = range(rollout, config.total_timesteps, rollout)
    marks = {start // config.eval_freq for start in starts if start >= config.eval_freq}
    return len(marks) + 1


@pytest.mark.parametrize(
    ("fields", "count"),
    [
        ({}, 2),  # the 49k-step reach job: one evaluation during training, then the final
        ({"env": "push"}, 20),  # 3M steps: the most a run gets
        ({"env": "push", "total_timesteps": 1_000_000}, 20),
        ({"env": "push", "total_timesteps": 200_000}, 8),
    ],
)
def test_the_default_eval_freq_keeps_evaluation_cheap(fields, count):
    config = resolved(**fields)
    assert evaluations(config) == count
    played = (evaluations(config) - 1) * config.eval_episodes * 50
    assert played <= 0.02 * config.total_timesteps


def test_eval_freq_zero_and_explicit_values_are_kept():
    assert resolved(eval_freq=0).eval_freq == 0
    assert resolved(eval_freq=4096).eval_freq == 4096


def test_eval_video_needs_evaluations():
    with pytest.raises(UserError, match="--eval-freq 0 turns them off"):
        resolved(eval_freq=0, eval_video=True)
    with pytest.raises(UserError, match="no renderer"):
        resolved(use_simple_env=True, eval_video=True)


def test_train_env_kwargs_reach_the_training_envs_only():
    # Pick-and-place trains with half of its episodes started with the cube held; the
    # evaluation envs, which say how good the policy is, never start that way.
    from rl_train.vec.make import make_eval_vec_env, make_vec_env

    config = resolve(TrainConfig(env="pick_and_place", n_envs=2, vec_env="dummy"))
    assert hyperparams.train_env_kwargs(config.hyperparams) == {"held_start": 0.5}
    training = make_vec_env(config)
    evaluation = make_eval_vec_env(config, 2, seed=1_000_000)
    try:
        assert training.get_attr("unwrapped")[0].task.held_start == 0.5
        assert evaluation.get_attr("unwrapped")[0].task.held_start == 0.0
    finally:
        training.close()
        evaluation.close()


def test_train_env_kwargs_must_be_a_mapping_the_env_takes(tmp_path):
    with pytest.raises(UserError, match="'train_env_kwargs' must be a mapping"):
        hyperparams.validate({"train_env_kwargs": 0.5}, "config file x.yml")
    kwargs = {"train_env_kwargs": {"a": 1}}
    simple = resolve(TrainConfig(use_simple_env=True, vec_env="native", hyperparams=kwargs))
    from rl_train.vec.make import make_vec_env

    with pytest.raises(UserError, match="--vec-env native takes none"):
        make_vec_env(simple)


def test_the_written_out_ppo_arguments_are_the_installed_sb3s():
    # config/ lists PPO's arguments instead of importing SB3 (and torch) to read them.
    import inspect

    from stable_baselines3 import PPO

    taken = set(inspect.signature(PPO.__init__).parameters)
    set_by_the_trainer = {
        "self",
        "env",
        "policy",
        "_init_setup_model",
        "tensorboard_log",
        "verbose",
    }
    assert hyperparams.PPO_ARGUMENTS == taken - set_by_the_trainer


def test_the_episode_length_config_assumes_is_the_tasks():
    import envs
    from rl_train.config.train_config import TASK_EPISODE_STEPS

    assert TASK_EPISODE_STEPS == envs.EPISODE_STEPS


def test_resolve_needs_the_env_id_first():
    from rl_train.config.resolve import resolve as config_resolve

    with pytest.raises(ValueError, match="resolve_config"):
        config_resolve(TrainConfig())
