"""Inputs made outside the pipeline, used only once they are whole.

A file counts as arrived when its marker exists, if one is configured (`_SUCCESS` beside it, or
`{file}.done`), and otherwise once it has not changed for `[pipeline] settle_seconds`: a file
still being written is never snapshotted or scored. An S3 object is whole as soon as it is
visible (a PUT is atomic), so only a marker can make it wait.
"""
from __future__ import annotations

import os
import posixpath
import time

import luigi

from pipeline import settings, storage


def marker_of(location: str, pattern: str) -> str | None:
    """Where a file's completion marker is: `{file}.done` names it after the file, a plain name
    (`_SUCCESS`) puts it in the file's folder. None without a pattern."""
    if not pattern:
        return None
    if "{file}" in pattern:
        return pattern.format(file=location)
    paths = posixpath if storage.is_s3(location) else os.path
    return paths.join(paths.dirname(location), pattern)


class ArrivingFile(luigi.ExternalTask):
    """A file put in place by something outside the pipeline; complete once it has arrived whole."""

    marker_setting: str  # where its marker is configured, for the message

    def location(self) -> str:
        raise NotImplementedError

    def marker_pattern(self) -> str:
        raise NotImplementedError

    def absent(self) -> str:
        """What to say while the file does not exist at all."""
        raise NotImplementedError

    def output(self):
        return storage.target(self.location())

    def complete(self) -> bool:
        return self.not_arrived() is None

    def not_arrived(self) -> str | None:
        """Why the file does not count as arrived yet; None once it has."""
        location = self.location()
        if not self.output().exists():
            return self.absent()
        marker = marker_of(location, self.marker_pattern())
        if marker:
            return None if storage.target(marker).exists() else \
                f"{location}: waiting for its marker {marker} ({self.marker_setting})"
        if storage.is_s3(location):
            return None
        settle = settings.pipeline().settle_seconds
        if time.time() - os.stat(location).st_mtime < settle:
            return (f"{location} changed less than {settle:g} s ago: it counts as arrived once it has not changed "
                    f"for {settle:g} s ([pipeline] settle_seconds), or once its marker exists if one is configured "
                    f"({self.marker_setting})")
        return None

    def missing_message(self) -> str:
        return self.not_arrived() or f"{self.location()} has arrived"
