"""The sample record and its JSONL / Parquet I/O.

A *sample* is one generation: ``prompt_id``, ``prompt``, ``text``, optional ``token_ids``,
``logprob`` (total log-probability under the model that produced it), per-token
``top_logprobs`` (one ``{token: logprob}`` mapping per generated token), ``source`` (which
model / checkpoint / beta) and free ``meta``.

JSONL is read line by line (:func:`iter_jsonl`), so files larger than memory stream; every
malformed line is answered with a :class:`~rewardshift.SampleFileError` that names the file,
the line and the field. Writers are atomic: they write a temporary file beside the target and
rename it, so an interrupted write never leaves a half file and never clobbers the old one.

Defaults when a field is missing: ``prompt`` is ``""``; ``prompt_id`` is the prompt itself,
so that a file of unconditional generations (no prompts at all) is one input with many
samples; ``source`` is the file's stem when read through :func:`read_samples`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rewardshift._exceptions import InputError, SampleFileError

__all__ = [
    "MAX_LINE_BYTES",
    "Sample",
    "atomic_write",
    "from_frame",
    "iter_jsonl",
    "iter_samples",
    "read_samples",
    "to_frame",
    "write_samples",
]

#: A single JSONL line longer than this is refused (a sign of a binary or corrupt file).
MAX_LINE_BYTES = 64 * 1024 * 1024

_FIELDS = ("prompt_id", "prompt", "text", "token_ids", "logprob", "top_logprobs", "source", "meta",
           "image")


@dataclass(frozen=True)
class Sample:
    """One generation and what is known about it.

    Attributes
    ----------
    text : the generated text (required).
    prompt_id : groups samples of the same input; per-input metrics group by it.
    prompt : the input text.
    token_ids : the generated token ids, when the producer knows them.
    logprob : total log-probability of ``text`` under the model that produced it.
    top_logprobs : for each generated token, ``{token: logprob}`` of the top-k candidates.
    source : which model, checkpoint or beta produced it.
    meta : free per-sample fields (attributes, quality scores, rewards).
    image : a generated image: the path of a PNG/JPEG file (relative paths are relative to
        the sample file's folder) or a ``data:image/png;base64,...`` URI. A record with an
        image may leave ``text`` out (it is then ``""``); ``rewardshift measure`` measures
        the images of such a file (:func:`rewardshift.images.folder.read_image_samples`).
    """

    text: str
    prompt_id: str = ""
    prompt: str = ""
    token_ids: tuple[int, ...] | None = None
    logprob: float | None = None
    top_logprobs: tuple[Mapping[str, float], ...] | None = None
    source: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)
    image: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``None`` fields are left out."""
        d = asdict(self)
        if d["token_ids"] is not None:
            d["token_ids"] = list(d["token_ids"])
        if d["top_logprobs"] is not None:
            d["top_logprobs"] = [dict(t) for t in d["top_logprobs"]]
        d["meta"] = dict(d["meta"])
        return {k: v for k, v in d.items() if v is not None}


# --------------------------------------------------------------------------- validation


def _fail(msg: str, path: str | None, line: int | None, fld: str | None = None) -> SampleFileError:
    return SampleFileError(msg, path=path, line=line, field=fld)


def _finite(value: Any, fld: str, path: str | None, line: int | None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(f"expected a number, got {type(value).__name__} {value!r}", path, line, fld)
    if not math.isfinite(value):
        raise _fail(f"expected a finite number, got {value!r}; drop or fix the sample", path,
                    line, fld)
    return float(value)


def _check_meta(meta: Any, path: str | None, line: int | None) -> dict[str, Any]:
    if not isinstance(meta, Mapping):
        raise _fail(f"expected an object, got {type(meta).__name__}", path, line, "meta")
    for key, value in meta.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise _fail(f"expected a finite number, got {value!r}", path, line, f"meta.{key}")
    return dict(meta)


def sample_from_dict(obj: Any, *, path: str | None = None, line: int | None = None) -> Sample:
    """Validate one decoded record and build a :class:`Sample`.

    Raises
    ------
    SampleFileError
        naming ``path``, ``line`` and the offending field.
    """
    if not isinstance(obj, Mapping):
        raise _fail(f"expected a JSON object per line, got {type(obj).__name__}", path, line)
    image = obj.get("image")
    if image is not None and (not isinstance(image, str) or not image.strip()):
        raise _fail("expected the path of an image file or a data:image/...;base64 URI, got "
                    f"{type(image).__name__} {image!r}"[:200], path, line, "image")
    if ("text" not in obj or obj["text"] is None) and image is None:
        raise _fail("missing required field; every sample needs its generated text (or an "
                    "image)", path, line, "text")
    text = obj.get("text") or ""
    if not isinstance(text, str):
        raise _fail(f"expected a string, got {type(text).__name__}", path, line, "text")
    prompt = obj.get("prompt") or ""
    if not isinstance(prompt, str):
        raise _fail(f"expected a string, got {type(prompt).__name__}", path, line, "prompt")
    prompt_id = obj.get("prompt_id", prompt)
    if isinstance(prompt_id, bool) or not isinstance(prompt_id, (str, int)):
        raise _fail(f"expected a string or integer, got {type(prompt_id).__name__}", path, line,
                    "prompt_id")
    source = obj.get("source") or ""
    if not isinstance(source, str):
        raise _fail(f"expected a string, got {type(source).__name__}", path, line, "source")

    token_ids = obj.get("token_ids")
    if token_ids is not None:
        if not isinstance(token_ids, (list, tuple)) or not all(
            isinstance(t, int) and not isinstance(t, bool) for t in token_ids
        ):
            raise _fail("expected a list of integers", path, line, "token_ids")
        token_ids = tuple(token_ids)

    logprob = obj.get("logprob")
    if logprob is not None:
        logprob = _finite(logprob, "logprob", path, line)
        if logprob > 1e-9:
            raise _fail(f"a log-probability must be <= 0, got {logprob}", path, line, "logprob")

    top = obj.get("top_logprobs")
    if top is not None:
        if not isinstance(top, (list, tuple)):
            raise _fail("expected a list of {token: logprob} objects", path, line, "top_logprobs")
        checked = []
        for i, step in enumerate(top):
            fld = f"top_logprobs[{i}]"
            if not isinstance(step, Mapping) or not step:
                raise _fail("expected a non-empty {token: logprob} object", path, line, fld)
            checked.append({str(k): _finite(v, fld, path, line) for k, v in step.items()})
        top = tuple(checked)

    meta = _check_meta(obj.get("meta", {}) or {}, path, line)
    unknown = set(obj) - set(_FIELDS)
    for key in sorted(unknown):  # unknown top-level fields are kept in meta, not dropped
        meta.setdefault(key, obj[key])
    return Sample(text=text, prompt_id=str(prompt_id), prompt=prompt, token_ids=token_ids,
                  logprob=logprob, top_logprobs=top, source=source, meta=meta, image=image)


# --------------------------------------------------------------------------- reading


def iter_jsonl(path: str | os.PathLike[str], *, source: str | None = None) -> Iterator[Sample]:
    """Stream samples from a JSONL file, one line at a time (constant memory).

    Blank lines are skipped. ``source`` fills in samples that carry none.

    Raises
    ------
    SampleFileError
        on the first malformed line, naming file, line and field.
    """
    p = str(path)
    try:
        fh = open(p, "rb")
    except OSError as exc:
        raise InputError(f"{p}: cannot open sample file ({exc.strerror})") from exc
    with fh:
        for lineno, raw in enumerate(fh, start=1):
            if len(raw) > MAX_LINE_BYTES:
                raise _fail(f"line is {len(raw):,} bytes, over the {MAX_LINE_BYTES:,}-byte "
                            "limit; is this a JSONL file?", p, lineno)
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except UnicodeDecodeError as exc:
                raise _fail(f"not UTF-8 text ({exc.reason})", p, lineno) from exc
            except json.JSONDecodeError as exc:
                raise _fail(f"malformed JSON: {exc.msg} at column {exc.colno}", p,
                            lineno) from exc
            sample = sample_from_dict(obj, path=p, line=lineno)
            if source and not sample.source:
                sample = dataclasses.replace(sample, source=source)
            yield sample


def iter_samples(path: str | os.PathLike[str], *, source: str | None = None,
                 batch_size: int = 4096) -> Iterator[Sample]:
    """Stream samples from ``.jsonl`` (line by line) or ``.parquet`` (row batch by batch)."""
    p = Path(path)
    if p.suffix == ".parquet":
        return _iter_parquet(p, source=source, batch_size=batch_size)
    return iter_jsonl(p, source=source)


def _iter_parquet(path: Path, *, source: str | None, batch_size: int) -> Iterator[Sample]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read Parquet file ({exc})") from exc
    row = 0
    for batch in pf.iter_batches(batch_size=batch_size):
        for rec in batch.to_pylist():
            row += 1
            rec = {k: v for k, v in rec.items() if v is not None}
            if isinstance(rec.get("meta"), str):  # meta is stored as a JSON string
                rec["meta"] = json.loads(rec["meta"])
            if isinstance(rec.get("top_logprobs"), str):
                rec["top_logprobs"] = json.loads(rec["top_logprobs"])
            sample = sample_from_dict(rec, path=str(path), line=row)
            if source and not sample.source:
                sample = dataclasses.replace(sample, source=source)
            yield sample


def read_samples(path: str | os.PathLike[str], *, source: str | None = None) -> list[Sample]:
    """Read a whole sample file (``.jsonl`` or ``.parquet``) into a list.

    ``source`` defaults to the file's stem for samples that name none.

    Raises
    ------
    SampleFileError
        for a malformed line, or for a file that holds no samples at all.
    """
    p = Path(path)
    samples = list(iter_samples(p, source=source or p.stem))
    if not samples:
        raise SampleFileError("holds no samples; nothing to measure", path=str(p))
    return samples


# --------------------------------------------------------------------------- writing


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would have given; mkstemp makes files 0600


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w") -> Iterator[Any]:
    """Open a temporary file beside ``path``; rename it over ``path`` only on success.

    An exception inside the block removes the temporary file and leaves ``path`` untouched.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        kwargs: dict[str, Any] = {"encoding": "utf-8", "newline": "\n"} if "b" not in mode else {}
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_samples(samples: Iterable[Sample], path: str | os.PathLike[str]) -> int:
    """Write samples to ``.jsonl`` or ``.parquet`` atomically; return how many were written.

    ``samples`` may be a generator: JSONL is written as it streams.
    """
    p = Path(path)
    if p.suffix == ".parquet":
        return _write_parquet(list(samples), p)
    n = 0
    with atomic_write(p) as fh:
        for s in samples:
            fh.write(json.dumps(s.to_dict(), ensure_ascii=False, allow_nan=False))
            fh.write("\n")
            n += 1
    return n


def _write_parquet(samples: list[Sample], path: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(_frame_for_parquet(samples), preserve_index=False)
    with atomic_write(path, "wb") as fh:
        pq.write_table(table, fh)
    return len(samples)


def _frame_for_parquet(samples: list[Sample]) -> Any:
    df = to_frame(samples)
    # meta and top_logprobs are free-form: store them as JSON strings, a stable schema.
    df["meta"] = [json.dumps(dict(s.meta), ensure_ascii=False, allow_nan=False) for s in samples]
    df["top_logprobs"] = [
        None if s.top_logprobs is None else json.dumps([dict(t) for t in s.top_logprobs])
        for s in samples
    ]
    return df


# --------------------------------------------------------------------------- pandas


def to_frame(samples: Iterable[Sample]) -> Any:
    """A pandas DataFrame with one row per sample and one column per field."""
    import pandas as pd

    rows = [{f: getattr(s, f) for f in _FIELDS} for s in samples]
    df = pd.DataFrame(rows, columns=list(_FIELDS))
    df["token_ids"] = [None if t is None else list(t) for t in df["token_ids"]]
    return df


def from_frame(df: Any) -> list[Sample]:
    """Samples from a DataFrame with a ``text`` or an ``image`` column (validated row by
    row)."""
    if "text" not in df.columns and "image" not in df.columns:
        raise InputError(f"DataFrame needs a 'text' column (or an 'image' one); it has "
                         f"{list(df.columns)}")
    out = []
    for i, rec in enumerate(df.to_dict(orient="records"), start=1):
        rec = {k: v for k, v in rec.items() if v is not None and not _is_na(v)}
        out.append(sample_from_dict(rec, path="<DataFrame>", line=i))
    return out


def _is_na(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)
