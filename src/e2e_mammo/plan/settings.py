"""Typed settings, and their plain form: what a rule's ``params`` hold, hence a job's identity.

A settings object is a frozen dataclass built once by the plan (:mod:`e2e_mammo.plan.matrix`).
Snakemake compares a job's parameters by their ``repr`` and ignores any value that is not a
plain type, so the rules carry :func:`to_params`'s dict (fields in declaration order, stages in
``params.yaml``'s form, tuples as lists) and each stage module reads it back with
:func:`from_params`. ``to_params(from_params(cls, p)) == p``, so a job's identity is its
settings' and nothing else.

:class:`FitSettings` is what every training stage hands to the training loop (the torch side
builds its ``FitConfig`` from it, :func:`e2e_mammo.training.fit.fit_config`).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, TypeVar

from e2e_mammo.plan.schedules import Stage, schedule_from_config, schedule_to_config

T = TypeVar("T")
#: Field metadata of a nested settings object whose fields sit at the parent's level in the
#: plain form (a whole-image row's network: ``arch``, ``top``, ... beside its ``schedule``).
FLAT = {"flat": True}


@dataclass(frozen=True)
class FitSettings:
    """How a run trains (torch-free): the schedule, the epoch it keeps (``monitor``), its seed
    and augmentation (``params.yaml``'s form), the top blocks a ``top`` stage trains, gradient
    accumulation, which weights decay, whether the backbone's batch-norm statistics stay fixed
    and the extension of a run that has not converged (``{step, max_extra, patience}``)."""

    schedule: tuple[Stage, ...]
    seed: int
    monitor: str
    augment: Mapping[str, Any]
    top_blocks: tuple[str, ...] = ()
    accumulate: int = 1
    decay: str = "all"
    fixed_bn: bool = False
    extension: Mapping[str, Any] | None = None


def plain(value: Any) -> Any:
    """``value`` as plain types: stages as ``params.yaml`` writes them, settings objects as
    dicts, tuples as lists."""
    if isinstance(value, Stage):
        return schedule_to_config([value])[0]
    if is_dataclass(value) and not isinstance(value, type):
        return to_params(value)
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def to_params(settings: Any) -> dict[str, Any]:
    """The plain form of a settings object (a rule's ``params`` value; see the module doc)."""
    out: dict[str, Any] = {}
    for f in fields(settings):
        value = plain(getattr(settings, f.name))
        if f.metadata.get("flat"):
            out.update(value)
        else:
            out[f.name] = value
    return out


def _load(hint: Any, value: Any) -> Any:
    """One field's value from its plain form, by the field's type."""
    if value is None:
        return None
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple:
        if args and args[0] is Stage:
            return tuple(schedule_from_config(value))
        return tuple(value)
    if is_dataclass(hint):
        return from_params(hint, value)
    if isinstance(value, Mapping):
        return dict(value)
    return value


def from_params(cls: type[T], params: Mapping[str, Any]) -> T:
    """A settings object of type ``cls`` from its plain form (the inverse of :func:`to_params`);
    a missing key raises ``KeyError`` naming it."""
    hints = typing.get_type_hints(cls)
    values = {}
    for f in fields(cls):
        hint = _concrete(hints[f.name])
        if f.metadata.get("flat"):
            values[f.name] = from_params(hint, params)
        elif f.name in params:
            values[f.name] = _load(hint, params[f.name])
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise KeyError(f"{cls.__name__}: the settings have no {f.name!r}")
    return cls(**values)


def _concrete(hint: Any) -> Any:
    """``X | None`` -> ``X``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else hint
    return hint


def flat() -> Any:
    """A field holding a nested settings object whose fields sit at the parent's level."""
    return field(metadata=FLAT)
