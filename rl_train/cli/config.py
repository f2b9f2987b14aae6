"""`rl-train config show|set|unset`: the user's defaults (config/user_config.py)."""

from __future__ import annotations

import argparse

from rl_train.cli.parsing import OneLineParser
from rl_train.config import user_config


def build_parser() -> argparse.ArgumentParser:
    keys = ", ".join(f"{key} ({what})" for key, (_, what, _) in user_config.KEYS.items())
    parser = OneLineParser(
        prog="rl-train config",
        description="Your own defaults, set once, in $XDG_CONFIG_HOME/rl-train/config.yaml "
        "(~/.config/rl-train/config.yaml). Precedence: a flag, then $WANDB_MODE (for the "
        f"mode), then this file, then the built-in default. Settings: {keys}.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    sub.add_parser("show", help="every setting, its value and where it comes from")
    p = sub.add_parser("set", help="set one setting in the user config")
    p.add_argument("key", metavar="KEY", help=", ".join(user_config.KEYS))
    p.add_argument("value", metavar="VALUE")
    p = sub.add_parser("unset", help="remove one setting from the user config")
    p.add_argument("key", metavar="KEY", help=", ".join(user_config.KEYS))
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "show":
        width = max(len(key) for key in user_config.KEYS)
        for setting in user_config.effective():
            print(f"{setting.key:<{width}}  {setting.value:<10}  ({setting.source})")
        return 0
    settings = user_config.load()
    if args.command == "set":
        user_config.check(args.key, args.value)
        settings[args.key] = args.value
        file = user_config.save(settings)
        print(f"{args.key} = {args.value} (in {file})")
        return 0
    user_config.check(args.key, user_config.KEYS.get(args.key, ("",))[0])
    settings.pop(args.key, None)
    file = user_config.save(settings)
    default = user_config.KEYS[args.key][0]
    print(f"{args.key} unset in {file}: the built-in default ({default}) applies")
    return 0
