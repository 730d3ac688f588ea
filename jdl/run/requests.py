"""Requests: the params file of one request (``params/<month>/<id>.yaml``), and the scraps its
executed report notebook glues: :class:`jdl.contract.ReportScraps` (the contract between the
report template, the month runner and the summary bulletin), glued by :func:`glue_scraps` and read
by :func:`read_scraps` and :func:`read_report`.

A params file is YAML with these fields (``id``, ``organisation``, ``programme``, ``date_received``
and ``upload`` are required)::

    id: 2014-03-001                  # request id: letters, digits, "-" and "_" (also the folder name)
    organisation: Safe Ground
    programme: Family Man
    programme_type: education        # one of PROGRAMME_TYPES, for the evidence library (default "other")
    date_received: 2014-01-15
    upload: data/uploads/family-man.xlsx   # relative to the project root (the params folder's parent's parent)
    setting: custody                 # custody or community (default: taken from the upload)
    status: received                 # received (run it), withdrawn or in progress (listed, not run)
    options:                         # passed to the report template
      method: radius
      caliper: 0.2

Unknown fields are an error (a typo must not silently change a report).

Params are data, never markup or code, and are checked before anything runs (:class:`ParamsError`
names the file and the field):

- a params file is at most :data:`MAX_PARAMS_BYTES` bytes, checked before it is read;
- text fields are at most :data:`MAX_TEXT_LENGTH` characters (the id :data:`MAX_ID_LENGTH`), and
  hold no control, format (bidirectional overrides, zero-width characters), line or paragraph
  separator, private-use or surrogate character (:func:`check_text`); whatever else they hold is
  shown as text wherever it is published (:func:`jdl.words.markdown_text`, HTML-escaped tables);
- ``options`` values have their documented types and ranges (:data:`OPTION_RULES`);
- ``programme_type`` is one of the controlled list :data:`PROGRAMME_TYPES` (exactly as written
  there), so that the bulletin's evidence library groups like with like;
- the upload, after symlinks are resolved, lies inside the uploads folder (default
  ``<root>/data/uploads``, :data:`DEFAULT_UPLOADS`): a params file cannot make the lab read
  anything else (``/etc/passwd``, another organisation's folder, a symlink out).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from jdl.contract import (PARAMS_STATUSES, SCRAPS, ReportScraps, Status, Verdict, glue_values,  # noqa: F401
                          json_ready as _json_ready, read_report)

RECEIVED = Status.RECEIVED
WITHDRAWN = Status.WITHDRAWN
IN_PROGRESS = Status.IN_PROGRESS
STATUSES = PARAMS_STATUSES
SETTINGS = ("custody", "community")
OPTIONS = ("method", "caliper", "ratio", "replace", "exact")
MATCH_METHODS = ("radius", "nearest")
# What each option may hold, in words (the check is in _check_options).
OPTION_RULES = {
    "method": "radius or nearest",
    "caliper": "a number above 0 and at most 5 (standard deviations), or null for none (nearest only)",
    "ratio": "a whole number from 1 to 10",
    "replace": "true or false",
    "exact": "a list of up to 10 column names (lower-case letters, digits and _)",
}
_COLUMN_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# The controlled list of programme types (params/README.md): the Justice Data Lab's own themes, the
# two broader themes the demo pilot uses, and "other" (the default: listed, never pooled).
PROGRAMME_TYPES = ("accommodation", "arts", "behaviour programme", "education", "education and employment",
                   "employment", "family", "mentoring", "mentoring and support", "restorative justice", "sport",
                   "substance misuse", "other")
DATE_RECEIVED_RULE = "field 'date_received' is not a date (YYYY-MM-DD)"
PROGRAMME_TYPE_RULE = f"field 'programme_type' must be one of {', '.join(PROGRAMME_TYPES)}"
REQUIRED = ("id", "organisation", "programme", "date_received", "upload")
OPTIONAL = ("programme_type", "setting", "status", "options")
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
# Limits on a params file (see the module docstring).
MAX_PARAMS_BYTES = 64 * 1024
MAX_TEXT_LENGTH = 200
MAX_ID_LENGTH = 64
MAX_PATH_LENGTH = 1024
# Unicode categories refused in params text: control, format (bidi overrides and isolates,
# zero-width characters, the BOM), line and paragraph separators, surrogates, private use.
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co"})
# Where uploads must lie, relative to the project root, unless the caller names another folder.
DEFAULT_UPLOADS = Path("data/uploads")

# Outcomes of one request in a month run and in the bulletin (kept for callers of these names;
# the statuses are jdl.contract.Status).
PUBLISHED = Status.PUBLISHED
NOT_PROCESSED = Status.NOT_PROCESSED
FAILED = Status.FAILED

# File names under outputs/<month>/: each request's executed report (outputs/<month>/<id>/) and
# the month runner's record of what happened to each request.
REPORT_NOTEBOOK = "report.ipynb"
RUN_JSON = "run.json"

# The verdict glued by a report not processed (jdl.contract.Verdict).
NOT_PROCESSED_VERDICT = Verdict.NOT_PROCESSED


def parse_date_received(value) -> dt.date:
    """A request's date received: a date, or its ISO text (YYYY-MM-DD). Raises ValueError
    (:data:`DATE_RECEIVED_RULE`, no value shown) for anything else, a date and time included. The
    params file and the report template's parameter are checked by this one rule."""
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(DATE_RECEIVED_RULE) from None
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise ValueError(DATE_RECEIVED_RULE)
    return value


def check_programme_type(value) -> None:
    """Raises ValueError (:data:`PROGRAMME_TYPE_RULE`) unless ``value`` is one of the controlled
    list of :data:`PROGRAMME_TYPES` (the params file and the template's parameter alike)."""
    if value not in PROGRAMME_TYPES:
        raise ValueError(PROGRAMME_TYPE_RULE)


def glue_scraps(scraps: ReportScraps | Mapping) -> None:
    """Glue a report's scraps into the running notebook with scrapbook: a
    :class:`jdl.contract.ReportScraps` (the whole contract, checked; what the report template
    glues) through :meth:`~jdl.contract.ReportScraps.glue`, or a mapping of some scrap names to
    values as given (:func:`jdl.contract.glue_values`: None not glued, "inf" for an infinite
    number, non-finite floats dropped inside lists and dicts; ValueError for a name outside the
    contract)."""
    if isinstance(scraps, ReportScraps):
        scraps.glue()
    else:
        glue_values(scraps)


def read_scraps(notebook_path) -> ReportScraps:
    """The scraps of an executed report notebook, checked (:meth:`jdl.contract.ReportScraps.read`;
    :class:`jdl.contract.ScrapError` naming the scrap when they break the contract)."""
    return ReportScraps.read(notebook_path)


class ParamsError(ValueError):
    """A params file that cannot be used: says which file and which field."""


@dataclass(frozen=True)
class Request:
    """One request as its params file gives it. ``upload`` is resolved against ``root`` and lies
    inside ``uploads_dir`` (checked by :func:`load_request`)."""

    id: str
    organisation: str
    programme: str
    date_received: dt.date
    upload: Path
    programme_type: str = "other"
    setting: str | None = None
    status: Status = Status.RECEIVED
    options: dict = field(default_factory=dict)
    source: Path | None = None
    uploads_dir: Path | None = None

    @property
    def month(self) -> str:
        """The publication month: the name of the params file's folder."""
        return self.source.parent.name if self.source is not None else ""

    def parameters(self, national_dir: Path) -> dict:
        """The papermill parameters of the report template for this request."""
        return {"request_id": self.id, "organisation": self.organisation, "programme": self.programme,
                "programme_type": self.programme_type, "date_received": self.date_received.isoformat(),
                "upload_path": str(self.upload), "uploads_dir": str(self.uploads_dir or self.upload.parent),
                "setting": self.setting or "",
                "national_dir": str(national_dir), "options": dict(self.options)}


def check_text(value: str, name: str = "text", limit: int = MAX_TEXT_LENGTH) -> str:
    """``value`` if it is usable text from outside (a params field, a notebook parameter): at
    most ``limit`` characters and no character of :data:`REFUSED_CATEGORIES`. Raises ValueError
    saying which rule ``name`` breaks and where (the character's position and code point, never
    the text around it)."""
    if len(value) > limit:
        raise ValueError(f"field '{name}' is {len(value):,} characters long; the limit is {limit:,}")
    for position, character in enumerate(value, start=1):
        if unicodedata.category(character) in REFUSED_CATEGORIES:
            raise ValueError(f"field '{name}' holds a control, bidirectional or other invisible character "
                             f"(U+{ord(character):04X} at character {position}); use plain text")
    return value


def _text(path: Path, raw: dict, name: str, default=None, limit: int = MAX_TEXT_LENGTH) -> str | None:
    value = raw.get(name, default)
    if value is None:
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool) or not str(value).strip():
        raise ParamsError(f"{path}: field '{name}' must be non-empty text")
    try:
        return check_text(str(value).strip(), name, limit)
    except ValueError as error:
        raise ParamsError(f"{path}: {error}") from None


def _check_options(path: Path, options) -> dict:
    """The ``options`` mapping checked against :data:`OPTION_RULES` (ParamsError otherwise)."""
    if options is None:
        return {}
    if not isinstance(options, dict) or set(options) - set(OPTIONS):
        raise ParamsError(f"{path}: field 'options' may hold only {', '.join(OPTIONS)}")

    def number(value) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

    valid = {
        "method": lambda v: v in MATCH_METHODS,
        "caliper": lambda v: v is None or (number(v) and 0 < v <= 5),
        "ratio": lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 10,
        "replace": lambda v: isinstance(v, bool),
        "exact": lambda v: (isinstance(v, list) and len(v) <= 10
                            and all(isinstance(c, str) and _COLUMN_NAME.match(c) for c in v)),
    }
    for name, value in options.items():
        if not valid[name](value):
            raise ParamsError(f"{path}: option '{name}' must be {OPTION_RULES[name]}")
    return dict(options)


def confine_upload(upload: Path, uploads_dir: Path) -> Path:
    """``upload`` if, with every symlink resolved, it lies inside ``uploads_dir`` (also resolved)
    and is not a folder or a special file; raises ValueError otherwise. Returns the path as given
    (the lab reads it by that name; its resolved target is inside the folder)."""
    resolved, folder = Path(os.path.realpath(upload)), Path(os.path.realpath(uploads_dir))
    if not resolved.is_relative_to(folder) or resolved == folder:
        raise ValueError(f"field 'upload' must name a file inside the uploads folder {uploads_dir} "
                         "(symlinks resolved); it points elsewhere")
    if resolved.exists() and not resolved.is_file():
        raise ValueError("field 'upload' must name a regular file, not a folder or a special file")
    return upload


def load_request(path: Path, root: Path | None = None, uploads_dir: Path | None = None,
                 confine: bool = True) -> Request:
    """Read and check one params file. ``root``: the folder ``upload`` is relative to (default:
    two levels above the params file's folder, i.e. the project root for ``params/<month>/x.yaml``);
    ``uploads_dir``: the folder every upload must lie in (default ``root / DEFAULT_UPLOADS``);
    ``confine=False`` skips that check, for callers that never open the upload (the bulletin
    reads only the request's description; retention applies its own check before deleting).
    Raises :class:`ParamsError` naming the file and the field (see the module docstring)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_PARAMS_BYTES:
            raise ParamsError(f"{path}: the params file is {size:,} bytes; the limit is {MAX_PARAMS_BYTES:,}")
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ParamsError(f"{path}: cannot read as YAML ({type(error).__name__})") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of fields")
    unknown = sorted(str(name) for name in set(raw) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        shown = ", ".join(name if ID_PATTERN.match(name) and len(name) <= 40 else "(a field name that is not "
                          "plain text)" for name in unknown)
        raise ParamsError(f"{path}: unknown field(s) {shown}")
    missing = [name for name in REQUIRED if raw.get(name) in (None, "")]
    if missing:
        raise ParamsError(f"{path}: missing field(s) {', '.join(missing)}")
    request_id = _text(path, raw, "id", limit=MAX_ID_LENGTH)
    if not ID_PATTERN.match(request_id):
        raise ParamsError(f"{path}: field 'id' may hold only letters, digits, '-' and '_'")
    try:
        received = parse_date_received(raw["date_received"])
    except ValueError as error:
        raise ParamsError(f"{path}: {error}") from None
    setting = _text(path, raw, "setting")
    if setting is not None and setting not in SETTINGS:
        raise ParamsError(f"{path}: field 'setting' must be one of {', '.join(SETTINGS)}")
    status = _text(path, raw, "status", Status.RECEIVED)
    if status not in PARAMS_STATUSES:
        raise ParamsError(f"{path}: field 'status' must be one of {', '.join(PARAMS_STATUSES)}")
    status = Status(status)
    programme_type = _text(path, raw, "programme_type", "other")
    try:
        check_programme_type(programme_type)
    except ValueError as error:
        raise ParamsError(f"{path}: {error}") from None
    options = _check_options(path, raw.get("options"))
    root = Path(root) if root is not None else path.resolve().parent.parent.parent
    uploads_dir = Path(uploads_dir) if uploads_dir is not None else root / DEFAULT_UPLOADS
    upload = Path(_text(path, raw, "upload", limit=MAX_PATH_LENGTH))
    upload = upload if upload.is_absolute() else root / upload
    try:
        if confine:
            confine_upload(upload, uploads_dir)
    except ValueError as error:
        raise ParamsError(f"{path}: {error}") from None
    return Request(id=request_id, organisation=_text(path, raw, "organisation"),
                   programme=_text(path, raw, "programme"), date_received=received,
                   upload=upload, programme_type=programme_type,
                   setting=setting, status=status, options=options, source=path, uploads_dir=uploads_dir)


def load_month(month_dir: Path, root: Path | None = None, uploads_dir: Path | None = None,
               confine: bool = True) -> list[Request]:
    """Every request of a month folder (``*.yaml`` and ``*.yml``), sorted by id (``root``,
    ``uploads_dir`` and ``confine`` as in :func:`load_request`). Raises :class:`ParamsError` for a missing folder,
    a bad file, or two files with the same id."""
    month_dir = Path(month_dir)
    if not month_dir.is_dir():
        raise ParamsError(f"{month_dir}: no such params folder")
    requests = [load_request(p, root, uploads_dir, confine) for p in sorted(month_dir.glob("*.y*ml"))]
    seen: dict[str, Path] = {}
    for request in requests:
        if request.id in seen:
            raise ParamsError(f"{request.source}: id '{request.id}' is also used by {seen[request.id]}")
        seen[request.id] = request.source
    return sorted(requests, key=lambda r: r.id)
