"""Every flag in both spellings: `--n-envs` and `--n_envs`, for every flag of every command
(train, eval, export, sweep, each `runs` command), and the offline-mode guide's own commands
(`../shared/seeds/`: `--use_simple_env --robot_type panda --wandb_offline` and the like)
through the real CLI."""

from __future__ import annotations

import argparse
import json

import pytest
from conftest import REPO, run_cli

from rl_train.cli import config, export, runs, sweep, train
from rl_train.cli import eval as eval_cli
from rl_train.cli.parsing import OneLineParser

VALUES = ("1", "1000", "a=1", "1x1", "x")  # one of these fits each flag that takes a value


def commands() -> dict[str, argparse.ArgumentParser]:
    found = {
        "train": train.build_parser(),
        "eval": eval_cli.build_parser(),
        "export": export.build_parser(),
        "sweep": sweep.build_parser(),
        "config": config.build_parser(),
    }
    (subparsers,) = [a for a in runs.build_parser()._actions if a.choices and a.dest == "command"]
    found.update({f"runs {name}": parser for name, parser in subparsers.choices.items()})
    return found


def positionals(parser: argparse.ArgumentParser) -> list[str]:
    """Words for the positional arguments and required flags a parse needs."""
    words = []
    for action in parser._actions:
        if action.option_strings and action.required:
            words += [action.option_strings[0], "x"]
        elif not action.option_strings and action.nargs not in ("*", "?", argparse.REMAINDER):
            words.append("x")
    return words


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> dict | None:
    try:
        return vars(parser.parse_args(argv))
    except SystemExit:
        return None


def spelled_flags(parser: argparse.ArgumentParser):
    """(action, hyphen spelling) of every long flag with a word break in its name."""
    for action in parser._actions:
        for flag in action.option_strings:
            if flag.startswith("--") and "-" in flag[2:] and flag != "--help":
                yield action, flag


@pytest.mark.parametrize("command", sorted(commands()))
def test_every_flag_parses_the_same_in_both_spellings(command):
    parser = commands()[command]
    base = positionals(parser)
    checked = 0
    for action, flag in spelled_flags(parser):
        underscore = "--" + flag[2:].replace("-", "_")
        candidates = [[]] if action.nargs == 0 else [[v] for v in (action.choices or VALUES)]
        for value in candidates:
            hyphen = parse(parser, [*base, flag, *value])
            if hyphen is not None:
                break
        assert hyphen is not None, f"{command} {flag}: no test value fits it"
        assert parse(parser, [*base, underscore, *value]) == hyphen, f"{command} {underscore}"
        if value:  # --flag=value too
            joined = parse(parser, [*base, f"{underscore}={value[0]}"])
            assert joined == hyphen, f"{command} {underscore}=..."
        checked += 1
    assert checked or command in ("config",), f"{command} has no flag to spell two ways"


def test_help_shows_one_spelling_per_flag():
    text = train.build_parser().format_help()
    assert "--n-envs" in text and "--n_envs" not in text


def test_words_after_a_bare_double_dash_are_left_as_they_are():
    """After `--` the words are not the parser's (a sweep's trial flags, a positional)."""
    parser = OneLineParser(prog="t")
    parser.add_argument("--n-envs")
    parser.add_argument("rest", nargs="*")
    parsed = parser.parse_args(["--n_envs", "2", "--", "--n_envs"])
    assert parsed.n_envs == "2" and parsed.rest == ["--n_envs"]


def guide_run(tmp_path, *flags: str, env=None):
    done = run_cli(
        [*flags, "--total_timesteps", "512", "--n_envs", "2", "--eval_freq", "0",
         "--run_name", "guide", "--output_dir", "runs"],
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads((tmp_path / "runs" / "guide" / "run.json").read_text())


def test_the_guides_offline_command_trains_offline(tmp_path):
    record = guide_run(tmp_path, "--use_simple_env", "--robot_type", "panda", "--wandb_offline")
    assert record["wandb_mode"] == "offline" and record["state"] == "finished"
    assert list((tmp_path / "runs" / "guide" / "wandb").glob("offline-run-*/run-*.wandb"))


@pytest.mark.slow  # real runs: in CI's slow suite (the default suite stays under 15 min)
def test_the_guides_no_wandb_command_trains_without_wandb(tmp_path):
    record = guide_run(tmp_path, "--use_simple_env", "--robot_type", "panda", "--no-use_wandb")
    assert record["wandb_mode"] == "disabled" and record["state"] == "finished"
    assert not (tmp_path / "runs" / "guide" / "wandb").exists()


@pytest.mark.online
def test_the_guides_online_command_trains_online(tmp_path, wandb_server):
    record = guide_run(tmp_path, "--use_simple_env", "--robot_type", "panda", "--wandb_online")
    assert record["wandb_mode"] == "online" and record["state"] == "finished"


@pytest.mark.parametrize("command", sorted(commands()))
def test_every_help_page_renders_and_every_flag_says_what_it_does(command):
    parser = commands()[command]
    page = parser.format_help()
    assert "%%" not in page and "%(" not in page
    for action in parser._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS or action.dest == "help":
            continue
        assert action.help, f"{command} {action.option_strings[0]} has no help"
        if action.default not in (None, False, [], argparse.SUPPRESS):
            assert "default" in action.help, f"{command} {action.option_strings[0]}: its default?"


def test_the_top_level_help_lists_every_command_in_a_line_each():
    done = run_cli(["--help"], cwd=REPO)
    assert done.returncode == 0
    for command in ("train", "eval", "export", "runs", "sweep", "config"):
        (line,) = [x for x in done.stdout.splitlines() if x.startswith(f"  rl-train {command}")
                   or x.startswith(f"  rl-train [{command}]")]  # fmt: skip
        assert len(line.split(maxsplit=3)) == 4, line  # the command, then what it does


@pytest.mark.slow  # real runs: in CI's slow suite (the default suite stays under 15 min)
def test_the_guides_use_wandb_turns_wandb_on_whatever_the_environment_says(tmp_path):
    from conftest import cli_env

    record = guide_run(tmp_path, "--use_simple_env", "--use_wandb",
                       env=cli_env(WANDB_MODE="disabled"))  # fmt: skip
    assert record["wandb_mode"] == "offline"
    assert list((tmp_path / "runs" / "guide" / "wandb").glob("offline-run-*/run-*.wandb"))
