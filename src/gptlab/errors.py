"""Errors that mean "the user asked for something impossible", shown as one line, not a traceback."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any


class GptlabError(Exception):
    """A problem with the user's input (config, file, value) that the message explains how to fix."""


class ConfigError(GptlabError, ValueError):
    """A config value that cannot work; the message names the key, e.g. ``model.emb_dim``."""


class DiskFullError(GptlabError, OSError):
    """A file could not be written for lack of space; the message names the file and the fix."""


class ConfigErrors(ConfigError):
    """Several problems at once (the run spec collects them all before anything is written):
    one line each."""

    def __init__(self, problems: list[GptlabError]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def did_you_mean(key: str, known: Iterable[str], group: str) -> str:
    """``; did you mean <group>.<close>?`` for a misspelled key, else the keys there are."""
    import difflib

    known = sorted(known)
    close = difflib.get_close_matches(key, known, n=1)
    if close:
        return f"; did you mean {group}.{close[0]}?"
    return f"; known: {known}"


def check_known_keys(cls: type, values: dict, group: str, kind: str) -> None:
    """Name the first key of ``values`` that the dataclass ``cls`` has no field for (instead of
    the TypeError its constructor would raise): ``<group>.<key> is not <kind>; did you mean ...``."""
    from dataclasses import fields

    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(
            f"{group}.{unknown[0]} is not {kind}{did_you_mean(unknown[0], known, group)}"
        )


def check_types(hints: dict[str, Any], values: dict[str, Any], group: str) -> None:
    """Name the first value of ``values`` that is not of the type its annotation in ``hints``
    says (``optim.lr='abc' must be a number``; ``group`` "" for top-level keys), before a comparison inside a check raises a
    TypeError that names neither the key nor the type. Annotations of bool, int, float and str
    (or those or None) are checked; others are left to the caller's own checks."""
    for key, value in values.items():
        wanted = _simple_types(hints.get(key))
        if not wanted or value is None and type(None) in wanted:
            continue
        if isinstance(value, bool):
            ok = bool in wanted
        elif isinstance(value, int):
            ok = int in wanted or float in wanted
        else:
            ok = any(isinstance(value, t) for t in wanted if t is not int)
        if not ok:
            kinds = [KIND[t] for t in wanted if t in KIND]
            name = f"{group}.{key}" if group else key
            raise ConfigError(f"{name}={value!r} must be {' or '.join(kinds)}")


KIND = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
        type(None): "null"}  # fmt: skip


def _simple_types(annotation: Any) -> tuple[type, ...]:
    import types
    import typing

    if annotation in KIND:
        return (annotation,)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        if all(a in KIND for a in args):
            return tuple(args)
    return ()


def user_error(err: BaseException) -> GptlabError | None:
    """The GptlabError behind ``err``, looking through wrappers such as Hydra's
    InstantiationException, or one made from what a library said about the user's input (a
    missing ``???`` value, a value Lightning or a class refused); None for anything else (a bug)."""
    from hydra.errors import InstantiationException
    from lightning.fabric.utilities.exceptions import MisconfigurationException
    from omegaconf.errors import MissingMandatoryValue

    from gptlab.upstream.hydra import instantiated_key

    chain: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    for current in chain:  # gptlab's own message first: it names the key and the fix
        if isinstance(current, GptlabError):
            return current
    for current in chain:
        if isinstance(current, MissingMandatoryValue):
            key = current.full_key or "a required key"
            return ConfigError(f"{key} is required (it is ??? in the config); set it: {key}=...")
        if isinstance(current, MisconfigurationException):  # Lightning's "you asked for X"
            return ConfigError(" ".join(str(current).split()))
        if isinstance(current, InstantiationException) and isinstance(
            current.__cause__, (ValueError, TypeError, ImportError)
        ):  # a value, key or package the target refused, e.g. trainer.precision=bf17
            where = instantiated_key(current) or "config"
            return ConfigError(f"{where}: {' '.join(str(current.__cause__).split())}")
    return None


class Problems:
    """Collects the user errors of independent checks, to report them all at once."""

    def __init__(self) -> None:
        self.found: list[GptlabError] = []

    @contextlib.contextmanager
    def check(self) -> Iterator[None]:
        """A block whose user error is collected (anything else propagates)."""
        try:
            yield
        except Exception as err:
            found = user_error(err)
            if found is None:
                raise
            self.found.extend(found.problems if isinstance(found, ConfigErrors) else [found])

    def raise_any(self) -> None:
        if len(self.found) == 1:
            raise self.found[0]
        if self.found:
            raise ConfigErrors(self.found)
