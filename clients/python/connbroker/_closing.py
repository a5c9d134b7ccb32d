"""The context-manager protocol for objects with a ``close()`` method."""

from __future__ import annotations

from types import TracebackType
from typing import TypeVar

_T = TypeVar("_T", bound="Closing")


class Closing:
    """Base of the client's closable objects: ``with obj:`` returns ``obj``
    and calls ``obj.close()`` on the way out, as :func:`contextlib.closing`
    does."""

    def close(self) -> None:
        """Release what the object holds (subclasses override it)."""

    def __enter__(self: _T) -> _T:
        """Return the object itself."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the object."""
        self.close()
