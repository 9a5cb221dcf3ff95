"""Configurations: one ``from_dict`` / ``to_dict`` for every config dataclass, and settings files.

Every configuration of rewardshift is a frozen dataclass that mixes in :class:`Config`:

* ``cfg.to_dict()`` is a JSON-ready mapping: nested configs become tables, tuples lists;
* ``Cls.from_dict(d, where=...)`` is its inverse, checked against the field annotations
  (:func:`config_from_dict`); ``Cls.from_file(path, section)`` reads a TOML or JSON file
  (:func:`read_settings_file`) and hands the table to ``from_dict``;
* ``__post_init__`` checks the fields and how they relate, and never rewrites one.

What ``from_dict`` checks and converts, field by field:

* a key that is not a field is an error naming it, the file (``where``) and the closest field
  name (:mod:`difflib`); a missing required field is an error naming it;
* a value of the wrong type is an error naming the key (dotted for nested tables, ``grpo[1]``
  for list items), the expected type and the value; ``int`` is accepted for ``float`` (and
  converted), ``bool`` is never an ``int``;
* a table for a nested config field is read recursively; a list for ``tuple[...]`` becomes a
  tuple; an empty table for an optional nested config (``X | None``) means ``None``, because
  TOML has no null;
* fields typed ``Any`` or with annotations that cannot be resolved are passed through.

Errors are :class:`~rewardshift._exceptions.InputError`; they name config keys, never command
line flags (the CLI translates).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import sys
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, Union, get_args, get_origin

from rewardshift._exceptions import InputError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["Config", "config_from_dict", "config_to_dict", "read_settings_file"]

C = TypeVar("C", bound="DataclassInstance")


class Config:
    """Mixin of the config dataclasses: :meth:`from_dict`, :meth:`to_dict`, :meth:`from_file`.

    ``_label`` names the config in error messages (default: the class name).
    """

    __slots__ = ()
    _label: ClassVar[str] = ""

    @classmethod
    def from_dict(cls: type[C], data: Mapping[str, Any], *, where: str | None = None) -> C:
        """The config of ``data`` (as :meth:`to_dict` writes it); ``where`` names its source."""
        return config_from_dict(cls, data, where=where)

    @classmethod
    def from_file(cls: type[C], path: str | os.PathLike[str], section: str) -> C:
        """The config in the TOML/JSON file ``path`` (optionally under the table ``section``)."""
        return config_from_dict(cls, read_settings_file(path, section), where=str(path))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping of the fields; :meth:`from_dict` reads it back."""
        return config_to_dict(self)


# --------------------------------------------------------------------------- to_dict


def config_to_dict(obj: Any) -> Any:
    """``obj`` with dataclasses as dicts (their init fields), tuples as lists, recursively."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: config_to_dict(getattr(obj, f.name))
                for f in dataclasses.fields(obj) if f.init}
    if isinstance(obj, (list, tuple)):
        return [config_to_dict(v) for v in obj]
    if isinstance(obj, Mapping):
        return {k: config_to_dict(v) for k, v in obj.items()}
    return obj


# --------------------------------------------------------------------------- from_dict


class _Mismatch(Exception):
    """A value does not fit a type (internal: becomes an InputError naming the field)."""


@dataclasses.dataclass(frozen=True)
class _Where:
    prefix: str  # "path: " or ""
    label: str   # "lm config"

    def error(self, message: str) -> InputError:
        return InputError(f"{self.prefix}{message}")


def config_from_dict(cls: type[C], data: Mapping[str, Any], *, where: str | None = None) -> C:
    """An instance of the dataclass ``cls`` from the mapping ``data``, checked and converted.

    Parameters
    ----------
    cls : a dataclass type (usually a :class:`Config`).
    data : mapping of field name to value, as :func:`config_to_dict` writes it.
    where : the source named in errors (a file path); ``None`` names none.

    Raises
    ------
    InputError
        On an unknown or missing key, a value of the wrong type, or a value ``cls`` refuses;
        the message names the key, ``where`` and, for an unknown key, the closest field.
    """
    at = _Where(f"{where}: " if where else "", getattr(cls, "_label", "") or cls.__name__)
    return _build(cls, data, "", at)


def _build(cls: type[C], data: Any, path: str, at: _Where) -> C:
    if not isinstance(data, Mapping):
        raise at.error(f"{at.label} settings should be a table, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    _check_keys(data, fields, path, at)
    hints = _hints(cls)
    kwargs = {name: _field_value(value, hints.get(name, Any), _join(path, name), at)
              for name, value in data.items()}
    try:
        return cls(**kwargs)
    except InputError as exc:
        if not (path or at.prefix):
            raise
        raise at.error(f"{at.label} {_key(path)}: {exc}" if path else str(exc)) from exc
    except TypeError as exc:
        raise at.error(f"{at.label} {_key(path) or 'settings'}: {exc}") from exc


def _check_keys(data: Mapping[str, Any], fields: dict[str, dataclasses.Field], path: str,
                at: _Where) -> None:
    unknown = [k for k in data if k not in fields]
    if unknown:
        hints = {k: m[0] for k in unknown
                 if (m := difflib.get_close_matches(str(k), fields, n=1, cutoff=0.6))}
        if len(unknown) == 1 and hints:
            hint = f" (did you mean '{_join(path, hints[unknown[0]])}'?)"
        elif hints:
            hint = " (did you mean " + ", ".join(f"'{_join(path, m)}' for '{_join(path, k)}'"
                                                 for k, m in hints.items()) + "?)"
        else:
            hint = ""
        of = f" of '{path}'" if path else ""
        raise at.error(f"unknown {at.label} keys {[_join(path, str(k)) for k in unknown]}"
                       f"{hint}; known keys{of} are {sorted(fields)}")
    missing = [n for n, f in fields.items() if n not in data
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise at.error(f"{at.label}: missing required keys {[_join(path, m) for m in missing]}")


def _field_value(value: Any, tp: Any, path: str, at: _Where) -> Any:
    try:
        return _coerce(value, tp, path, at)
    except _Mismatch:
        raise at.error(f"{at.label} {_key(path)} should be {_type_name(tp)}, got {value!r}"
                       ) from None


def _coerce(value: Any, tp: Any, path: str, at: _Where) -> Any:
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any or tp is object or isinstance(tp, (str, TypeVar)):
        return value
    if origin is Union or origin is types.UnionType:
        return _coerce_union(value, args, path, at)
    if origin is typing.Literal:
        if value in args:
            return value
        raise _Mismatch
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise _Mismatch
        return _build(tp, value, path, at)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise _Mismatch
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{path}[{i}]", at) for i, v in enumerate(value))
        if not args:
            return tuple(value)
        if len(args) != len(value):
            raise _Mismatch
        return tuple(_coerce(v, a, f"{path}[{i}]", at)
                     for i, (v, a) in enumerate(zip(value, args, strict=True)))
    if origin in (list, Sequence):
        if not isinstance(value, (list, tuple)):
            raise _Mismatch
        item = args[0] if args else Any
        return [_coerce(v, item, f"{path}[{i}]", at) for i, v in enumerate(value)]
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise _Mismatch
        item = args[1] if len(args) == 2 else Any
        return {k: _coerce(v, item, _join(path, str(k)), at) for k, v in value.items()}
    if origin is Callable or tp is Callable:
        if callable(value):
            return value
        raise _Mismatch
    return _coerce_scalar(value, tp)


def _coerce_union(value: Any, args: tuple[Any, ...], path: str, at: _Where) -> Any:
    options = [a for a in args if a is not type(None)]
    if value is None:
        if len(options) < len(args):
            return None
        raise _Mismatch
    if (len(options) < len(args) and isinstance(value, Mapping) and not value
            and all(dataclasses.is_dataclass(a) for a in options)):
        return None  # an empty table: TOML's way to say "none"
    for a in options:
        try:
            return _coerce(value, a, path, at)
        except _Mismatch:
            continue
    raise _Mismatch


def _coerce_scalar(value: Any, tp: Any) -> Any:
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _Mismatch
    if tp is int and isinstance(value, bool):
        raise _Mismatch
    if isinstance(tp, type) and not isinstance(value, tp):
        raise _Mismatch
    return value


def _hints(cls: type) -> dict[str, Any]:
    """The resolved field annotations of ``cls``; one that cannot be resolved is ``Any``."""
    try:
        return typing.get_type_hints(cls)
    except (NameError, TypeError, AttributeError):
        pass
    out: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):  # annotation by annotation, in its own module
        scope = vars(sys.modules[klass.__module__]) if klass.__module__ in sys.modules else {}
        for name, ann in vars(klass).get("__annotations__", {}).items():
            try:
                out[name] = eval(ann, dict(scope)) if isinstance(ann, str) else ann
            except Exception:  # an annotation we cannot read is not checked
                out[name] = Any
    return out


def _type_name(tp: Any) -> str:
    origin, args = get_origin(tp), get_args(tp)
    if origin is Union or origin is types.UnionType:
        return " or ".join(_type_name(a) for a in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return f"a list of {_type_name(args[0])}"
    if origin in (tuple, list, Sequence):
        return "a list" + (f" of {', '.join(_type_name(a) for a in args)}" if args else "")
    if origin in (dict, Mapping):
        return "a table"
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return f"a table of {tp.__name__} settings"
    if tp is type(None):
        return "None"
    return getattr(tp, "__name__", str(tp))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _key(path: str) -> str:
    return f"key '{path}'" if path else ""


# --------------------------------------------------------------------------- settings files


def read_settings_file(path: str | os.PathLike[str], what: str) -> dict[str, Any]:
    """The table in ``path`` (``.toml`` is TOML, anything else JSON); ``what`` names it in errors.

    A top-level key equal to ``what`` is unwrapped, so ``{"lm": {...}}`` and ``{...}`` both
    work for ``what="lm"``.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read {what} config {path}: {e.strerror}") from e
    try:
        if path.suffix == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover - Python 3.10
                import tomli as tomllib
            d = tomllib.loads(raw.decode("utf-8"))
        else:
            d = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: "
                         f"{e}") from e
    if not isinstance(d, dict):
        raise InputError(f"{path}: the config must be a table/object of {what} settings")
    d = d.get(what, d)
    if not isinstance(d, dict):
        raise InputError(f"{path}: '{what}' must be a table/object of settings")
    return d
