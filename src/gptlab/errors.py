"""Errors that mean "the user asked for something impossible", shown as one line, not a traceback."""


class GptlabError(Exception):
    """A problem with the user's input (config, file, value) that the message explains how to fix."""


class ConfigError(GptlabError, ValueError):
    """A config value that cannot work; the message names the key, e.g. ``model.emb_dim``."""


class DiskFullError(GptlabError, OSError):
    """A file could not be written for lack of space; the message names the file and the fix."""
