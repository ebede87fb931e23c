"""The one unknown-option check: a component built from keyword options (an agent, a world
model, a planner) names the options it was given that it does not take, and lists the valid ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class UnknownOptionError(ValueError):
    """Options a component does not take; the message is one line with the valid ones."""

    def __init__(self, message: str, unknown: list[str]):
        super().__init__(message)
        self.unknown = unknown


def check_options(
    owner: str, given: Iterable[str], valid: Iterable[str], where: str = "", what: str = ""
) -> None:
    """UnknownOptionError when `given` names options outside `valid`. `where` prefixes the first
    unknown option with its config path ("agent." -> "agent.horizonn"); `what` names the kind of
    options in the message ("agent" -> "unknown agent options")."""
    valid_set = set(valid)
    unknown = sorted(set(given) - valid_set)
    if unknown:
        kind = f"{what} options" if what else "options"
        raise UnknownOptionError(
            f"unknown {kind} {unknown} for {owner} ({where}{unknown[0]}); "
            f"valid: {sorted(valid_set)}",
            unknown,
        )


def dataclass_options(cls: type[T], owner: str, options: Mapping[str, Any], where: str = "") -> T:
    """`cls(**options)` for a dataclass, after `check_options` against its fields."""
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    check_options(owner, options, names, where)
    return cls(**options)
