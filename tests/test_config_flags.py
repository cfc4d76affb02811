"""Tests for vidcls_keras.config_flags: argparse flags generated from a config dataclass."""

import argparse
import dataclasses

import pytest

from vidcls_keras.config_flags import add_config_flags, config_from_args, flag_name


@dataclasses.dataclass
class Settings:
    learning_rate: float = dataclasses.field(default=0.1, metadata={"help": "step size"})
    batch_size: int = 4
    name: str = dataclasses.field(default="a", metadata={"choices": ("a", "b")})
    limit: int | None = None
    mixup: bool = dataclasses.field(default=False, metadata={"negatable": True})
    overwrite: bool = False


def parse(argv, **options):
    parser = argparse.ArgumentParser()
    add_config_flags(parser, Settings, **options)
    return parser, config_from_args(Settings, parser.parse_args(argv))


def test_every_field_gets_a_kebab_case_flag_with_its_default():
    parser, settings = parse([])
    assert settings == Settings()
    flags = {option for action in parser._actions for option in action.option_strings}
    assert {flag_name(field.name) for field in dataclasses.fields(Settings)} <= flags
    assert flag_name("learning_rate") == "--learning-rate"
    assert "step size (default: 0.1)" in parser.format_help()


def test_types_choices_optionals_and_switches():
    _, settings = parse(
        ["--learning-rate", "0.5", "--batch-size", "8", "--name", "b", "--limit", "3"]
        + ["--mixup", "--overwrite"]
    )
    assert settings == Settings(0.5, 8, "b", 3, True, True)
    assert parse(["--no-mixup"])[1].mixup is False
    with pytest.raises(SystemExit):
        parse(["--name", "c"])
    with pytest.raises(SystemExit):
        parse(["--batch-size", "x"])
    with pytest.raises(SystemExit):
        parse(["--no-overwrite"])  # a plain switch has no negative form


def test_exclude_defaults_and_overrides():
    parser, settings = parse(
        ["--batch-size", "2"], defaults=Settings(batch_size=9, name="b"), exclude=("limit",)
    )
    assert settings == Settings(batch_size=2, name="b")
    with pytest.raises(SystemExit):
        parser.parse_args(["--limit", "3"])
    assert parse([])[1] == Settings()
    # A switch on by default can be turned off.
    assert parse(["--no-overwrite"], defaults=Settings(overwrite=True))[1].overwrite is False
    arguments = argparse.Namespace(batch_size=5, unrelated=1)
    assert config_from_args(Settings, arguments, name="b") == Settings(batch_size=5, name="b")
    with pytest.raises(TypeError, match="names no field"):
        add_config_flags(argparse.ArgumentParser(), Settings, exclude=("nope",))


def test_unsupported_types_are_refused():
    @dataclasses.dataclass
    class Bad:
        sizes: list = dataclasses.field(default_factory=list)

    with pytest.raises(TypeError, match="sizes"):
        add_config_flags(argparse.ArgumentParser(), Bad)
