"""The one exception tree of rewardshift.

::

    RewardshiftError (ValueError)      root: every error the package raises on purpose
    ├── InputError                     a file or argument the user gave is malformed
    │   └── SampleFileError            a sample file: names the file, line and field
    ├── MetricUndefinedError           a metric has no value on this data (e.g. too few samples)
    └── MissingDependencyError         an optional extra is needed (``pip install rewardshift[embed]``)

``RewardshiftError`` subclasses ``ValueError`` because nearly every one of them is a bad value;
``MissingDependencyError`` is also an ``ImportError``.
"""

from __future__ import annotations


class RewardshiftError(ValueError):
    """Root of every error rewardshift raises on purpose."""


class InputError(RewardshiftError):
    """Raised when user input (a file, an argument, an array) is malformed.

    ``option`` names the config field at fault (``"backend"``, ``"quality_field"``), so a
    front end can say which of its own options sets it; the message itself names no flag.
    """

    def __init__(self, message: str, *, option: str | None = None) -> None:
        self.option = option
        super().__init__(message)


class SampleFileError(InputError):
    """Raised when a sample file is malformed; the message names file, line and field.

    Attributes
    ----------
    path, line, field : where the problem is (``line`` is 1-based; ``None`` when not line-bound).
    """

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.path, self.line, self.field = path, line, field
        where = ":".join(str(p) for p in (path, line) if p is not None)
        loc = f"{where}: " if where else ""
        fld = f"field '{field}': " if field else ""
        super().__init__(f"{loc}{fld}{message}")


class MetricUndefinedError(RewardshiftError):
    """Raised when a metric has no defined value on the given data (too few samples, no n-grams)."""


class MissingDependencyError(RewardshiftError, ImportError):
    """Raised when a feature needs an optional extra that is not installed."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"this feature needs the '{package}' package: pip install 'rewardshift[{extra}]'"
        )
