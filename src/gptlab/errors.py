"""Errors that mean "the user asked for something impossible", shown as one line, not a traceback."""


class GptlabError(Exception):
    """A problem with the user's input (config, file, value) that the message explains how to fix."""


class ConfigError(GptlabError, ValueError):
    """A config value that cannot work; the message names the key, e.g. ``model.emb_dim``."""


class DiskFullError(GptlabError, OSError):
    """A file could not be written for lack of space; the message names the file and the fix."""


def check_known_keys(cls: type, values: dict, group: str, kind: str) -> None:
    """Name the first key of ``values`` that the dataclass ``cls`` has no field for (instead of
    the TypeError its constructor would raise): ``<group>.<key> is not <kind>; known: [...]``."""
    from dataclasses import fields

    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{group}.{unknown[0]} is not {kind}; known: {sorted(known)}")
