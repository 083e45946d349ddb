"""The errors the pipeline raises on purpose; each message is the one line a person reads.

Everything outside `pipeline/ml` raises a `PipelineError` (`pipeline/ml` has its own base,
`MLError`, so it never needs this package). The CLI prints either kind as `error: <message>`
and exits 1; a task that fails with one logs it as its `FAILED ...` line. Anything else is a bug
and keeps its traceback.
"""


def first_line(exc: BaseException) -> str:
    """An exception's message as one line (its first), or its type's name when it has none."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class PipelineError(Exception):
    """A failure the pipeline diagnosed: the message says what is wrong and where."""


class ConfigError(PipelineError, ValueError):
    """The configuration is wrong; the message names the file and key."""


class StorageError(PipelineError):
    """The store cannot be reached or used as configured; the message names it and says why."""


class ConcurrentUpdate(PipelineError):
    """Someone else changed an object between our read and our write; nothing was overwritten."""


class IntegrityError(PipelineError):
    """A file no longer matches the sha256 recorded for it; it is not used."""


class RegistryError(PipelineError):
    """A registry operation that cannot be done as asked; the message says why."""


class SmokeTestFailed(RegistryError):
    """A promoted model failed its smoke test (now, or once before); production is what it was."""

    def __init__(self, message: str, *, version: str, restored: str | None, rolled_back: bool):
        super().__init__(message)
        self.version, self.restored, self.rolled_back = version, restored, rolled_back


class SchedulerError(PipelineError):
    """luigid could not be started, stopped or reached; the message says why."""
