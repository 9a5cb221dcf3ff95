"""The run directory: the one output format of rewardshift.

::

    runs/<name>/
      config.json       resolved config + versions, git hash, seeds, time, command (secrets redacted)
      metrics.jsonl     one flat record per step or beta, appended batch by batch
      samples.parquet   the samples (rewardshift.samples format)
      summary.json      metric values with confidence intervals (NaN/inf written as null)
      report.html       self-contained report
      figures/          PNG and SVG figures

Every whole-file write goes through :func:`rewardshift.samples.atomic_write` (temporary file
beside the target, then rename), so an interrupted write never leaves a half file and never
clobbers the previous one. ``metrics.jsonl`` is the one file that is appended to; each batch is
written with one ``write`` call and ``fsync``-ed, and a torn last line left by a crash is cut
off before the next append, so complete lines are never touched.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib.metadata
import io
import json
import math
import os
import platform
import re
import shlex
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rewardshift._exceptions import InputError
from rewardshift.samples import Sample, atomic_write
from rewardshift.samples import write_samples as _write_samples

__all__ = ["RunDir", "figure_to_png", "figure_to_svg", "redact_secrets", "to_json_ready"]

REDACTED = "***"

#: Packages whose versions every config.json records (None when not installed).
VERSION_PACKAGES = ("rewardshift", "numpy", "scipy", "pandas", "pyarrow", "matplotlib",
                    "torch", "transformers", "sentence-transformers", "trl")

# A key is secret when one of its words (split on _ - . space and camelCase) is, or ends with,
# one of these: "api_key", "apiKey", "HF_TOKEN", "client_secret", "Authorization" are secret;
# "tokenizer", "max_new_tokens", "keywords" are not.
_SECRET_WORD = re.compile(r"(key|token|secret|password|passwd|passphrase|authorization|"
                          r"credentials?)$", re.IGNORECASE)
# Tokenizer special tokens are named like secrets but are not.
_NOT_SECRET_KEY = re.compile(r"^(bos|eos|pad|unk|sep|cls|mask)_token$", re.IGNORECASE)
# A string value that looks like a credential, whatever its key.
_SECRET_VALUE = re.compile(r"^\s*(sk-|hf_[A-Za-z0-9]{8}|ghp_|gho_|github_pat_|xox[abprs]-|"
                           r"AKIA[0-9A-Z]{12}|Bearer\s|Basic\s)", re.IGNORECASE)
# Credentials embedded in a longer string (a URL, a command line).
_SECRET_INFIX = [
    (re.compile(r"\b(sk-|hf_|ghp_|gho_|github_pat_)[A-Za-z0-9_\-]{8,}"), REDACTED),
    (re.compile(r"(://[^/\s:@]+:)[^@\s/]+@"), rf"\g<1>{REDACTED}@"),  # user:password@host
    (re.compile(r"([?&][A-Za-z_]*(?:key|token|secret|password)=)[^&\s#]+", re.IGNORECASE),
     rf"\g<1>{REDACTED}"),
]
# Environment values shorter than this are not treated as secrets ("1", "true", ...).
_MIN_ENV_SECRET_LEN = 8


def _is_secret_key(name: Any) -> bool:
    name = str(name)
    if _NOT_SECRET_KEY.match(name):
        return False
    words = re.split(r"[_\-.\s]+|(?<=[a-z0-9])(?=[A-Z])", name)
    return any(_SECRET_WORD.search(w) for w in words if w)


def _env_secrets() -> list[str]:
    vals = {v for k, v in os.environ.items() if _is_secret_key(k) and len(v) >= _MIN_ENV_SECRET_LEN}
    return sorted(vals, key=len, reverse=True)  # longest first, so no partial replacement


def _redact_str(text: str, env_secrets: Sequence[str]) -> str:
    if _SECRET_VALUE.match(text):
        return REDACTED
    for secret in env_secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern, repl in _SECRET_INFIX:
        text = pattern.sub(repl, text)
    return text


def redact_secrets(obj: Any, *, env: bool = True) -> Any:
    """A copy of ``obj`` with credentials replaced by ``"***"``.

    Redacted, recursively through mappings and sequences:

    * the value of every key named like a secret (a word of the name is or ends with ``key``,
      ``token``, ``secret``, ``password``, ``authorization``, ``credentials``; camelCase and
      ``_``/``-`` split words), unless the value is a number, a bool or ``None``; tokenizer
      special tokens (``eos_token`` ...) are not secrets;
    * every string that looks like a credential (``sk-...``, ``hf_...``, ``ghp_...``,
      ``Bearer ...``);
    * inside longer strings: such credentials, ``user:password@`` in URLs, ``?token=...`` query
      parameters, and (``env=True``) the value of every environment variable named like a
      secret (values of 8 characters or more).
    """
    return _redact(obj, _env_secrets() if env else [])


def _redact(obj: Any, env_secrets: Sequence[str]) -> Any:
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            secret = _is_secret_key(k) and not (v is None or isinstance(v, (bool, int, float)))
            out[k] = REDACTED if secret else _redact(v, env_secrets)
        return out
    if isinstance(obj, str):
        return _redact_str(obj, env_secrets)
    if isinstance(obj, (list, tuple)):
        return [_redact(v, env_secrets) for v in obj]
    return obj


def _redact_argv(argv: Sequence[str], env_secrets: Sequence[str]) -> list[str]:
    """Redact ``--api-key VALUE`` / ``--api-key=VALUE`` and credential-like arguments."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        flag, eq, _ = arg.partition("=")
        if arg.startswith("-") and _is_secret_key(flag.lstrip("-")):
            if eq:
                out.append(f"{flag}={REDACTED}")
            else:
                out.append(arg)
                hide_next = True
            continue
        out.append(_redact_str(arg, env_secrets))
    return out


# --------------------------------------------------------------------------- JSON


def to_json_ready(obj: Any, *, strict: bool = True) -> Any:
    """Convert ``obj`` to plain JSON types; NaN and ±inf become ``None``.

    Handles mappings (keys become strings), lists/tuples/sets, numpy scalars and arrays,
    ``Path``, ``Enum``, ``datetime`` and dataclasses. Anything else raises
    :class:`~rewardshift.InputError` naming where it sits (``strict=True``) or becomes ``str``.
    """
    return _json_ready(obj, strict, "$")


def _json_ready(obj: Any, strict: bool, where: str) -> Any:
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): _json_ready(v, strict, f"{where}.{k}")
                for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_ready(v, strict, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, (set, frozenset)):
        return [_json_ready(v, strict, where) for v in sorted(obj, key=repr)]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _json_ready(dataclasses.asdict(obj), strict, where)
    if isinstance(obj, enum.Enum):
        return _json_ready(obj.value, strict, where)
    if isinstance(obj, (Path, os.PathLike)):
        return os.fspath(obj)
    if isinstance(obj, datetime):
        return obj.isoformat()
    if hasattr(obj, "tolist") and type(obj).__module__.startswith("numpy"):
        return _json_ready(obj.tolist(), strict, where)
    if strict:
        raise InputError(f"{where}: cannot write a {type(obj).__name__} to JSON; convert it to "
                         "a number, string, list or dict first")
    return str(obj)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def _flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in record.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, f"{key}."))
        elif isinstance(v, (list, tuple, set)):
            raise InputError(f"metrics record field '{key}' is a {type(v).__name__}; metrics.jsonl "
                             "records are flat: give one scalar per field (e.g. 'loss.0', 'loss.1')")
        else:
            out[key] = v
    return out


# --------------------------------------------------------------------------- provenance


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for pkg in VERSION_PACKAGES:
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def _git(*args: str, cwd: Path) -> str:
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10,
                          check=True, env=env)
    return done.stdout.strip()


def git_state() -> dict[str, Any] | None:
    """``{"commit", "dirty"}`` of the git tree holding the rewardshift sources, or None.

    None when git is missing, the package is not in a git checkout, or it is installed in
    ``site-packages`` (a surrounding repository would not be rewardshift's).
    """
    pkg_dir = Path(__file__).resolve().parents[1]
    if "site-packages" in pkg_dir.parts or "dist-packages" in pkg_dir.parts:
        return None
    try:
        commit = _git("rev-parse", "HEAD", cwd=pkg_dir)
        dirty = bool(_git("status", "--porcelain", "--untracked-files=no", cwd=pkg_dir))
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty}


# --------------------------------------------------------------------------- the run directory


def figure_to_png(fig: Any, *, dpi: int = 110) -> bytes:
    """PNG bytes of a matplotlib figure (white background, no timestamp: same figure, same bytes)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white", metadata={"Software": None})
    return buf.getvalue()


def figure_to_svg(fig: Any) -> str:
    """SVG text of a matplotlib figure; text drawn as paths, no date, stable element ids."""
    import matplotlib

    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "rewardshift", "svg.fonttype": "path"}):
        fig.savefig(buf, format="svg", facecolor="white", metadata={"Date": None})
    return buf.getvalue().decode("utf-8")


def _timestamp() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S")


@dataclass
class RunDir:
    """A run's output folder. Create it with :meth:`RunDir.create`.

    Every file name given to the ``write_*`` methods is relative to :attr:`path` and must stay
    inside it.
    """

    path: Path

    @classmethod
    def create(cls, root: str | os.PathLike[str], name: str | None = None) -> RunDir:
        """Create (or reopen) ``root/name``.

        ``name`` defaults to a timestamp ``YYYYmmdd-HHMMSS`` (with ``-2``, ``-3`` ... appended if
        that folder already exists, so two runs never share one). A given ``name`` that exists
        as a folder is reopened, so an interrupted run can resume.

        Raises
        ------
        InputError
            if ``name`` is not a plain folder name, or the path exists and is not a folder.
        """
        root = Path(root)
        if root.exists() and not root.is_dir():
            raise InputError(f"{root}: run root exists and is not a directory; choose another "
                             "output folder")
        if name is None:
            return cls(_create_unique(root, _timestamp()))
        if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
            raise InputError(f"run name {name!r} is not a plain folder name; use letters, digits, "
                             "'-', '_' or '.' without '/'")
        path = root / name
        if path.exists() and not path.is_dir():
            raise InputError(f"{path}: exists and is not a directory; choose another run name or "
                             "remove the file")
        path.mkdir(parents=True, exist_ok=True)
        return cls(path)

    # ------------------------------------------------------------------ paths

    def file(self, name: str | os.PathLike[str]) -> Path:
        """``path / name``, refusing absolute names and names that climb out with ``..``."""
        rel = Path(name)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise InputError(f"file name {os.fspath(name)!r} must be relative and stay inside the "
                             f"run directory {self.path}")
        return self.path / rel

    def figure_path(self, name: str) -> Path:
        """``path/figures/name``; creates the ``figures`` folder."""
        p = self.file(Path("figures") / name)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    # ------------------------------------------------------------------ whole-file writes

    def write_text(self, name: str, text: str) -> Path:
        """Write ``text`` (UTF-8) atomically; return the path."""
        p = self.file(name)
        with atomic_write(p, "w") as fh:
            fh.write(text)
        return p

    def write_bytes(self, name: str, data: bytes) -> Path:
        """Write ``data`` atomically; return the path."""
        p = self.file(name)
        with atomic_write(p, "wb") as fh:
            fh.write(data)
        return p

    def write_json(self, name: str, obj: Any) -> Path:
        """Write ``obj`` as JSON atomically: sorted keys, indent 2, NaN/inf as ``null``.

        Raises
        ------
        InputError
            if ``obj`` holds a value JSON cannot represent (named by its place in ``obj``).
        """
        return self.write_text(name, _dumps(to_json_ready(obj)))

    def read_json(self, name: str) -> Any:
        """Read back a JSON file of this run."""
        with open(self.file(name), encoding="utf-8") as fh:
            return json.load(fh)

    def write_config(self, config: Mapping[str, Any], *, seeds: Mapping[str, int] | None = None,
                     command: str | Sequence[str] | None = None) -> Path:
        """Write ``config.json``: ``config`` plus provenance, with secrets redacted.

        Added keys: ``versions`` (python and packages, None when not installed), ``git``
        (``{"commit", "dirty"}`` or None), ``seeds``, ``created`` (ISO time with offset) and
        ``command`` (``command`` or ``sys.argv``, shell-quoted). See :func:`redact_secrets`
        for what is redacted; values that are not JSON become strings.

        Raises
        ------
        InputError
            if ``config`` already uses one of the added keys with a different value.
        """
        env_secrets = _env_secrets()
        argv = [command] if isinstance(command, str) else list(command or sys.argv)
        extra: dict[str, Any] = {
            "versions": _versions(),
            "git": git_state(),
            "seeds": dict(seeds) if seeds is not None else config.get("seeds"),
            "created": datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": shlex.join(_redact_argv(argv, env_secrets)) if argv else None,
        }
        clash = [k for k in extra if k in config and not (k == "seeds" and
                                                           config[k] == extra["seeds"])]
        if clash:
            raise InputError(f"config key(s) {clash} are reserved for provenance in config.json; "
                             "rename them in the config")
        merged = to_json_ready({**config, **extra}, strict=False)
        return self.write_text("config.json", _dumps(_redact(merged, env_secrets)))

    def write_samples(self, samples: Iterable[Sample], name: str = "samples.parquet") -> int:
        """Write samples (``.parquet`` or ``.jsonl`` by suffix) atomically; return the count."""
        return _write_samples(samples, self.file(name))

    def write_figure(self, stem: str, fig: Any, *,
                     formats: Sequence[str] = ("png", "svg")) -> list[Path]:
        """Save a matplotlib figure as ``figures/<stem>.png`` / ``.svg``; return the paths."""
        paths = []
        for fmt in formats:
            if fmt == "png":
                paths.append(self._write_fig_bytes(f"{stem}.png", figure_to_png(fig)))
            elif fmt == "svg":
                paths.append(self._write_fig_bytes(f"{stem}.svg", figure_to_svg(fig).encode()))
            else:
                raise InputError(f"figure format {fmt!r} is not supported; use 'png' or 'svg'")
        return paths

    def _write_fig_bytes(self, name: str, data: bytes) -> Path:
        return self.write_bytes(str(Path("figures") / name), data)

    # ------------------------------------------------------------------ metrics.jsonl

    def append_metrics(self, records: Iterable[Mapping[str, Any]],
                       name: str = "metrics.jsonl") -> int:
        """Append flat records to ``metrics.jsonl``, one JSON object per line; return the count.

        Nested mappings are flattened with dotted keys (``{"a": {"b": 1}}`` → ``"a.b"``); NaN
        and inf become ``null``. The whole batch is checked before anything is written, then
        written with one ``write``, flushed and ``fsync``-ed. A torn last line (no newline, left
        by a crash) is cut off first; complete earlier lines are never touched.

        Raises
        ------
        InputError
            if a record is not a mapping or holds a list or a value JSON cannot represent.
        """
        lines = []
        for i, rec in enumerate(records):
            if not isinstance(rec, Mapping):
                raise InputError(f"metrics record {i} is a {type(rec).__name__}; give a dict")
            flat = _json_ready(_flatten(rec), True, f"metrics record {i}")
            lines.append(json.dumps(flat, sort_keys=True, allow_nan=False, ensure_ascii=False))
        if not lines:
            return 0
        p = self.file(name)
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "a+b") as fh:
            _drop_torn_tail(fh)
            fh.write(("\n".join(lines) + "\n").encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        return len(lines)

    def read_metrics(self, name: str = "metrics.jsonl") -> list[dict[str, Any]]:
        """Read ``metrics.jsonl`` back; a torn last line (no newline) is ignored."""
        p = self.file(name)
        if not p.exists():
            return []
        data = p.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        return [json.loads(line) for line in complete.splitlines() if line.strip()]


def _drop_torn_tail(fh: Any) -> None:
    """Truncate bytes after the last newline of a file opened ``a+b``."""
    size = fh.seek(0, os.SEEK_END)
    if size == 0:
        return
    fh.seek(size - 1)
    if fh.read(1) == b"\n":
        return
    block = 1 << 16
    pos = size
    while pos > 0:
        start = max(0, pos - block)
        fh.seek(start)
        chunk = fh.read(pos - start)
        nl = chunk.rfind(b"\n")
        if nl >= 0:
            fh.truncate(start + nl + 1)
            return
        pos = start
    fh.truncate(0)


def _create_unique(root: Path, stem: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(1, 10_000):
        path = root / (stem if i == 1 else f"{stem}-{i}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise InputError(f"{root}: could not find a free run folder name for {stem!r}")
