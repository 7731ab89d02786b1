# SPDX-License-Identifier: Apache-2.0
"""Turn a YAML document into :class:`Settings`, collecting every problem with its key path.

Parsing is derived from the schema's field types, so adding a key is one line in ``schema.py``.
This module is the only place that reads the config file or the environment (the files and
variables the settings name are read by ``material.py``, which it calls).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from sidecar.config.errors import ConfigError, ConfigIssue
from sidecar.config.fields import config_fields
from sidecar.config.material import read_material
from sidecar.config.rules import check_rules
from sidecar.config.schema import Settings
from sidecar.config.values import ByteSize, IPNetwork, Seconds, parse_duration, parse_network, parse_size

_SCALARS: dict[Any, Callable[[Any], Any]] = {
    Seconds: parse_duration,
    ByteSize: parse_size,
    IPNetwork: parse_network,
}


class _Invalid(Exception):
    """Internal: a value could not be parsed; the issue is already recorded."""


@dataclass
class _Report:
    """Parse problems, and the key paths whose values fell back to their defaults because they
    could not be parsed (cross-field rules about those keys would only add noise)."""

    issues: list[ConfigIssue] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def add(self, issue: ConfigIssue) -> None:
        self.issues.append(issue)

    def concerns_failed_key(self, issue: ConfigIssue) -> bool:
        return any(issue.path == p or issue.path.startswith((f"{p}.", f"{p}[")) for p in self.failed)


def load_config_file(path: str | Path) -> Settings:
    """Read, parse and check a config file; raise :class:`ConfigError` listing every problem.
    Relative file names in it resolve against its folder, whatever the working directory."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            [
                ConfigIssue(
                    "",
                    f"cannot read config file {str(path)!r}: {exc.strerror}",
                    "pass an existing, readable YAML file with --config",
                )
            ]
        ) from None
    return load_config_text(text, base=Path(path).absolute().parent)


def load_config_text(text: str, base: Path | None = None) -> Settings:
    """Parse YAML ``text``; ``base`` is the folder relative file names resolve against."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigIssue("", _yaml_problem(exc), "fix the YAML syntax there")]) from None
    except RecursionError:
        raise ConfigError([ConfigIssue("", "the file nests too deeply", "flatten it")]) from None
    except Exception as exc:  # PyYAML's constructors let through what int(), float() or date() raise
        problem = f"the file holds a value YAML cannot read ({exc.__class__.__name__}: {exc})"
        raise ConfigError([ConfigIssue("", problem, "quote the value to make it a string")]) from None
    return load_config_data(raw, base)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """The parser's own reason and place, e.g. ``line 3, column 5: mapping values are not
    allowed here (while scanning a simple key at line 2, column 1)``; never the line's text."""
    if isinstance(exc, yaml.reader.ReaderError):
        return f"the file is not valid YAML: character {exc.position + 1} is refused ({exc.reason})"
    if not isinstance(exc, yaml.MarkedYAMLError) or exc.problem_mark is None:
        return f"the file is not valid YAML: {' '.join(str(exc).split())}"
    mark = exc.problem_mark
    text = f"the file is not valid YAML at line {mark.line + 1}, column {mark.column + 1}: {exc.problem}"
    if exc.context:
        context_mark = exc.context_mark
        at = f" at line {context_mark.line + 1}, column {context_mark.column + 1}" if context_mark else ""
        text += f" ({exc.context}{at})"
    return text


def load_config_data(raw: object, base: Path | None = None) -> Settings:
    """Parse, read the secrets and keys it names (relative to ``base``, else the working
    directory) and check; every problem found, by key path, in one :class:`ConfigError`.
    The warnings of a usable configuration are in ``Settings.warnings``."""
    report = _Report()
    try:
        parsed = typing.cast(Settings, _parse(Settings, {} if raw is None else raw, "", report))
    except _Invalid:
        raise ConfigError(report.issues) from None
    secrets, material_issues = read_material(parsed, base)
    settings = dataclasses.replace(parsed, secrets=secrets)
    issues = report.issues + material_issues
    issues += [i for i in check_rules(settings) if not report.concerns_failed_key(i)]
    if any(issue.severity == "error" for issue in issues):
        raise ConfigError(issues)
    return dataclasses.replace(settings, warnings=tuple(issues))


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _hints(cls: type[Any]) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _type_name(tp: Any) -> str:
    if tp is Seconds:
        return "a duration such as 30s"
    if tp is ByteSize:
        return "a size such as 4MiB"
    return {str: "a string", int: "an integer", bool: "true or false", float: "a number"}.get(
        tp, "a mapping" if dataclasses.is_dataclass(tp) else str(tp)
    )


def _parse(tp: Any, raw: Any, path: str, report: _Report) -> Any:
    origin = typing.get_origin(tp)
    if tp in _SCALARS:
        try:
            return _SCALARS[tp](raw)
        except ValueError as exc:
            report.add(ConfigIssue(path, str(exc)))
            raise _Invalid from None
    if origin in (types.UnionType, typing.Union):
        return _parse_union(typing.get_args(tp), raw, path, report)
    if origin is Literal:
        if raw in typing.get_args(tp):
            return raw
        allowed = ", ".join(map(str, typing.get_args(tp)))
        report.add(ConfigIssue(path, f"must be one of {allowed}; got {raw!r}"))
        raise _Invalid
    if origin is tuple:
        return _parse_list(typing.get_args(tp)[0], raw, path, report)
    if dataclasses.is_dataclass(tp):
        return _parse_dataclass(typing.cast(type[Any], tp), raw, path, report)
    # Plain scalars: bool is an int in Python, so it is told apart explicitly.
    if isinstance(raw, tp) and not (tp is int and isinstance(raw, bool)):
        return raw
    report.add(ConfigIssue(path, f"must be {_type_name(tp)}, got {type(raw).__name__} {raw!r}"))
    raise _Invalid


def _parse_union(members: tuple[Any, ...], raw: Any, path: str, report: _Report) -> Any:
    if raw is None and type(None) in members:
        return None
    concrete = [m for m in members if m is not type(None)]
    if len(concrete) == 1:
        return _parse(concrete[0], raw, path, report)
    return _parse_tagged(concrete, raw, path, report)


def _parse_list(item_tp: Any, raw: Any, path: str, report: _Report) -> tuple[Any, ...]:
    if not isinstance(raw, list):
        report.add(ConfigIssue(path, f"must be a list, got {type(raw).__name__}"))
        raise _Invalid
    items, bad = [], False
    for index, item in enumerate(raw):
        try:
            items.append(_parse(item_tp, item, f"{path}[{index}]", report))
        except _Invalid:
            bad = True
    if bad:
        raise _Invalid
    return tuple(items)


def _parse_tagged(members: list[Any], raw: Any, path: str, report: _Report) -> Any:
    """A union of dataclasses told apart by their ``type`` key."""
    by_tag = {tag: m for m in members for tag in typing.get_args(_hints(m)["type"])}
    tag = raw.get("type") if isinstance(raw, Mapping) else None
    if not isinstance(tag, str) or tag not in by_tag:
        report.add(ConfigIssue(_join(path, "type"), f"must be one of {', '.join(by_tag)}; got {tag!r}"))
        raise _Invalid
    return _parse_dataclass(by_tag[tag], raw, path, report)


def _known_key_hint(key: object, known: Iterable[str]) -> str:
    """The nearest known key (a typo, ``require_scopes``), or all of them when none is near."""
    names = list(known)
    if close := difflib.get_close_matches(str(key), names, n=1):
        return f"did you mean {close[0]}?"
    return f"known keys here: {', '.join(names)}"


def _parse_dataclass(cls: type[Any], raw: Any, path: str, report: _Report) -> Any:
    if not isinstance(raw, Mapping):
        report.add(ConfigIssue(path, f"must be a mapping of keys, got {type(raw).__name__}"))
        raise _Invalid
    fields = {f.name: f for f in config_fields(cls)}
    for key in raw:
        if key not in fields:
            report.add(ConfigIssue(_join(path, str(key)), "is not a known key", _known_key_hint(key, fields)))
    values: dict[str, Any] = {}
    bad = False
    for name, f in fields.items():
        key_path = _join(path, name)
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                report.add(ConfigIssue(key_path, "is required"))
                bad = True
            continue
        value = raw[name]
        if (coerce := f.metadata.get("coerce")) is not None:
            value = coerce(value)
        try:
            values[name] = _parse(_hints(cls)[name], value, key_path, report)
        except _Invalid:
            bad = True
    if bad:
        raise _Invalid
    return cls(**values)


def iter_keys(cls: type[Any] = Settings, prefix: str = "") -> Iterator[tuple[str, str]]:
    """Yield ``(key path, doc)`` for every key of the schema, lists written ``backends[].name``."""
    for f in config_fields(cls):
        path = f"{prefix}{f.name}"
        yield path, f.metadata["doc"]
        for child_prefix, child in _nested(cls, f.name, path):
            yield from iter_keys(child, child_prefix)


def _nested(cls: type[Any], name: str, path: str) -> Iterator[tuple[str, type[Any]]]:
    """The dataclasses nested under field ``name`` of ``cls``, with the key prefix of their keys."""
    tp = _hints(cls)[name]
    prefix = f"{path}."
    if typing.get_origin(tp) is tuple:
        tp, prefix = typing.get_args(tp)[0], f"{path}[]."
    members = typing.get_args(tp) if typing.get_origin(tp) in (types.UnionType, typing.Union) else (tp,)
    for member in members:
        if dataclasses.is_dataclass(member):
            yield prefix, typing.cast(type[Any], member)


CONFIG_ENV = "MCP_SIDECAR_CONFIG"


def config_path_from_env() -> str | None:
    """The config file named by ``$MCP_SIDECAR_CONFIG``, if any."""
    return os.environ.get(CONFIG_ENV) or None
