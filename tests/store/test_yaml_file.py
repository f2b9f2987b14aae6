"""store/yaml_file.py: every YAML file rl-train reads fails in one line naming it and the fix."""

from __future__ import annotations

import pytest

from rl_train.errors import UserError
from rl_train.store.yaml_file import read_yaml, yaml_value


def test_a_file_reads_to_its_data(tmp_path):
    (tmp_path / "a.yml").write_text("n_steps: 64\nnet_arch: [64, 64]\n")
    assert read_yaml(tmp_path / "a.yml", "config file ", "fix it") == {
        "n_steps": 64,
        "net_arch": [64, 64],
    }


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "config file {path} does not exist; check the path"),
        ("a: [1, 2\n", "config file {path} is not valid YAML (line 2); fix its syntax"),
        (b"\xff\xfe bad", "cannot read config file {path} (UnicodeDecodeError); fix its syntax"),
    ],
)
def test_a_bad_file_is_one_line_naming_it_and_the_fix(tmp_path, content, expected):
    path = tmp_path / "a.yml"
    if isinstance(content, str):
        path.write_text(content)
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError) as raised:
        read_yaml(path, "config file ", "fix its syntax", missing_fix="check the path")
    assert str(raised.value) == expected.format(path=path)


def test_a_typed_value_is_read_as_yaml():
    assert yaml_value("[1, 2]") == [1, 2] and yaml_value("3e-4") == "3e-4"
    assert yaml_value("0.0003") == 0.0003
    with pytest.raises(ValueError, match="while parsing a flow sequence"):
        yaml_value("[1, 2")
