"""Command-line flags generated from a config dataclass: the dataclass is the one declaration.

    parser = argparse.ArgumentParser(prog="python -m vidcls_keras.train")
    add_config_flags(parser, TrainConfig)
    config = config_from_args(TrainConfig, parser.parse_args(argv))

Each field `batch_size: int = 16` becomes `--batch-size` (type `int`, default 16); its help text and
choices come from the field's metadata, `dataclasses.field(default=16, metadata={"help": "...",
"choices": (...)})`. Types: `int`, `float`, `str`, and `X | None` (the flag takes an `X`; the
default stays None). A `bool` field is a `store_true` switch (`--overwrite`), or a
`--mixup/--no-mixup` pair when its metadata says `"negatable": True` (or its default is True). Help texts end with the
default, unless they mention one themselves. Another command can reuse a
config's flags, leave some out (`exclude`) and change defaults (`defaults=Config(verbose=2)`).
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Iterable
from typing import Any

# Field metadata keys this module reads.
HELP = "help"
CHOICES = "choices"
NEGATABLE = "negatable"


def flag_name(field_name: str) -> str:
    """`"batch_size"` -> `"--batch-size"`."""
    return "--" + field_name.replace("_", "-")


def _flag_type(annotation: Any, field_name: str) -> type:
    """The scalar type a field's flag parses: `int | None` -> `int`."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        arguments = [
            argument for argument in typing.get_args(annotation) if argument is not type(None)
        ]
        if len(arguments) == 1:
            annotation = arguments[0]
    if annotation not in (bool, int, float, str):
        raise TypeError(
            f"config field {field_name!r} has type {annotation!r}: flags support bool, int, "
            "float, str and their `| None` forms."
        )
    return annotation


def add_config_flags(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    config_class: type,
    *,
    defaults: Any | None = None,
    exclude: Iterable[str] = (),
) -> None:
    """Adds one flag per field of `config_class` to `parser`.

    Args:
        parser: the parser (or argument group) to add to.
        config_class: a dataclass whose fields all have defaults.
        defaults: an instance of `config_class` whose values become the flags' defaults; None
            uses the class's own defaults.
        exclude: names of fields that get no flag (the command sets them another way).

    Raises:
        TypeError: a field of a type flags cannot express, or `exclude` names no field.
    """
    defaults = config_class() if defaults is None else defaults
    excluded = set(exclude)
    hints = typing.get_type_hints(config_class)
    fields = dataclasses.fields(config_class)
    unknown = excluded - {field.name for field in fields}
    if unknown:
        raise TypeError(f"exclude names no field of {config_class.__name__}: {sorted(unknown)}")
    for field in fields:
        if field.name in excluded:
            continue
        kind = _flag_type(hints[field.name], field.name)
        default = getattr(defaults, field.name)
        options: dict[str, Any] = {"dest": field.name, "default": default}
        help_text = field.metadata.get(HELP, "")
        if default is not None and kind is not bool and "default" not in help_text:
            help_text += f"{' ' if help_text else ''}(default: %(default)s)"
        options["help"] = help_text or None
        if kind is bool:
            # A switch that defaults to on must be able to turn it off.
            negatable = field.metadata.get(NEGATABLE, False) or default is True
            options["action"] = argparse.BooleanOptionalAction if negatable else "store_true"
        else:
            options["type"] = kind
            if CHOICES in field.metadata:
                options["choices"] = tuple(field.metadata[CHOICES])
        parser.add_argument(flag_name(field.name), **options)


def config_from_args(config_class: type, arguments: argparse.Namespace, **overrides: Any) -> Any:
    """Builds a `config_class` from parsed flags (fields without a flag keep their defaults).

    Args:
        config_class: the dataclass the flags were generated from.
        arguments: `parser.parse_args()` output; attributes that are not fields are ignored.
        **overrides: field values that replace the parsed ones.

    Returns:
        A `config_class` instance.
    """
    values = {
        field.name: getattr(arguments, field.name)
        for field in dataclasses.fields(config_class)
        if hasattr(arguments, field.name)
    }
    return config_class(**{**values, **overrides})
