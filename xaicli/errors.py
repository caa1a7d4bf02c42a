"""The only errors a user sees: each carries its exit code (DESIGN.md section 3)."""

from __future__ import annotations


class XaiError(Exception):
    """A runtime failure: bad checkpoint, missing data, failed save. Exit code 1."""

    exit_code = 1


class ConfigError(XaiError):
    """A usage or configuration error: unknown key, wrong type, bad flag. Exit code 2."""

    exit_code = 2


class Interrupted(XaiError):
    """Training stopped by a signal after saving a checkpoint (130 for SIGINT, 143 otherwise)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
