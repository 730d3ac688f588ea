"""Requests: the params file of one request (``params/<month>/<id>.yaml``) and the scraps its
executed report notebook glues (the contract between the report template, the month runner and
the summary bulletin).

A params file is YAML with these fields (``id``, ``organisation``, ``programme``, ``date_received``
and ``upload`` are required)::

    id: 2014-03-001                  # request id: letters, digits, "-" and "_" (also the folder name)
    organisation: Safe Ground
    programme: Family Man
    programme_type: education        # for the evidence library (default "other")
    date_received: 2014-01-15
    upload: data/uploads/family-man.xlsx   # relative to the project root (the params folder's parent's parent)
    setting: custody                 # custody or community (default: taken from the upload)
    status: received                 # received (run it), withdrawn or in progress (listed, not run)
    options:                         # passed to the report template
      method: radius
      caliper: 0.2

Unknown fields are an error (a typo must not silently change a report).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

RECEIVED = "received"
WITHDRAWN = "withdrawn"
IN_PROGRESS = "in progress"
STATUSES = (RECEIVED, WITHDRAWN, IN_PROGRESS)
SETTINGS = ("custody", "community")
OPTIONS = ("method", "caliper", "ratio", "replace", "exact")
REQUIRED = ("id", "organisation", "programme", "date_received", "upload")
OPTIONAL = ("programme_type", "setting", "status", "options")
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")

# Outcomes of one request in a month run and in the bulletin.
PUBLISHED = "published"
NOT_PROCESSED = "not processed"
FAILED = "failed"

# File names under outputs/<month>/: each request's executed report (outputs/<month>/<id>/) and
# the month runner's record of what happened to each request.
REPORT_NOTEBOOK = "report.ipynb"
RUN_JSON = "run.json"

# Verdicts glued by the report (jdl.words.VERDICTS plus "not processed").
NOT_PROCESSED_VERDICT = "not processed"

# The scraps every executed report glues (name -> what it holds). Values are plain JSON types;
# scrapbook cannot store a null, so a value that does not apply ("or None" below) is not glued at
# all: read a missing scrap as None (see :func:`read_scraps`). An infinite number needed is glued
# as the float inf, which scrapbook stores and returns as the text "inf".
SCRAPS = {
    "request_id": "the request id (str)",
    "organisation": "the organisation (str)",
    "programme": "the programme (str)",
    "programme_type": "the programme type (str)",
    "date_received": "the date received, ISO (str)",
    "status": '"published" or "not processed" (str)',
    "verdict": '"significant reduction", "significant increase", "inconclusive" or "not processed"',
    "reason": "why the request was not processed (str), or None",
    "n_submitted": "people submitted (int)",
    "n_treated": "treatment group size analysed (int; 0 when not processed)",
    "n_comparison": "distinct comparison people (int; 0 when not processed)",
    "n_comparison_effective": "comparison effective size (float; None when not processed)",
    "treated_rate": "treatment group one-year proven re-offending rate, a proportion (float or None)",
    "comparison_rate": "comparison group rate, a proportion (float or None)",
    "difference": "treated_rate - comparison_rate (float or None)",
    "lower": "95% interval lower bound of the difference (float or None)",
    "upper": "95% interval upper bound of the difference (float or None)",
    "p_value": "Welch two-sided p-value (float or None)",
    "standard_error": "Welch standard error of the difference (float or None)",
    "number_needed": "treatment group size needed when inconclusive (float, may be inf, or None)",
    "e_value": "E-value of the headline risk ratio (float or None)",
    "e_value_bound": "E-value of its interval bound nearest 1; 1 when the interval includes 1 (float or None)",
    "adjusted_difference": "regression-adjusted (doubly robust) rate difference on the matched sample (float or None)",
    "attrition": "people per attrition bucket in the methodology's order (dict str -> int)",
    "controlled_for_region": "the match with exact matching on region beside the national one (dict; see "
                             "jdl.subgroups.RegionAnalysis.scrap), or None when not processed",
    "subgroups": "the sub-analyses, one dict per sub-group, run or not and why (list; see "
                 "jdl.subgroups.SubgroupResult.scrap), or None when not processed",
}


def read_report(notebook_path) -> tuple[dict, bool]:
    """The scraps of an executed report notebook as a dict over every name in :data:`SCRAPS`
    (None for those not glued; ``number_needed`` as a float, inf when unreachable), and whether
    papermill marked the notebook as stopped by an exception. Reads the notebook once."""
    import scrapbook

    notebook = scrapbook.read_notebook(str(notebook_path))
    glued = {name: scrap.data for name, scrap in notebook.scraps.items()}
    scraps = {name: glued.get(name) for name in SCRAPS}
    if scraps["number_needed"] is not None:
        scraps["number_needed"] = float(scraps["number_needed"])
    stopped = bool(notebook.metadata.get("papermill", {}).get("exception"))
    return scraps, stopped


def read_scraps(notebook_path) -> dict:
    """The scraps of an executed report notebook (see :func:`read_report`)."""
    return read_report(notebook_path)[0]


class ParamsError(ValueError):
    """A params file that cannot be used: says which file and which field."""


@dataclass(frozen=True)
class Request:
    """One request as its params file gives it. ``upload`` is resolved against ``root``."""

    id: str
    organisation: str
    programme: str
    date_received: dt.date
    upload: Path
    programme_type: str = "other"
    setting: str | None = None
    status: str = RECEIVED
    options: dict = field(default_factory=dict)
    source: Path | None = None

    @property
    def month(self) -> str:
        """The publication month: the name of the params file's folder."""
        return self.source.parent.name if self.source is not None else ""

    def parameters(self, national_dir: Path) -> dict:
        """The papermill parameters of the report template for this request."""
        return {"request_id": self.id, "organisation": self.organisation, "programme": self.programme,
                "programme_type": self.programme_type, "date_received": self.date_received.isoformat(),
                "upload_path": str(self.upload), "setting": self.setting or "",
                "national_dir": str(national_dir), "options": dict(self.options)}


def _text(path: Path, raw: dict, name: str, default=None) -> str | None:
    value = raw.get(name, default)
    if value is None:
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool) or not str(value).strip():
        raise ParamsError(f"{path}: field '{name}' must be non-empty text")
    return str(value).strip()


def load_request(path: Path, root: Path | None = None) -> Request:
    """Read and check one params file. ``root``: the folder ``upload`` is relative to (default:
    two levels above the params file's folder, i.e. the project root for ``params/<month>/x.yaml``).
    Raises :class:`ParamsError` naming the file and the field."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ParamsError(f"{path}: cannot read as YAML ({type(error).__name__})") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of fields")
    unknown = sorted(set(raw) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise ParamsError(f"{path}: unknown field(s) {', '.join(unknown)}")
    missing = [name for name in REQUIRED if raw.get(name) in (None, "")]
    if missing:
        raise ParamsError(f"{path}: missing field(s) {', '.join(missing)}")
    request_id = _text(path, raw, "id")
    if not ID_PATTERN.match(request_id):
        raise ParamsError(f"{path}: field 'id' may hold only letters, digits, '-' and '_'")
    received = raw["date_received"]
    if isinstance(received, str):
        try:
            received = dt.date.fromisoformat(received)
        except ValueError:
            raise ParamsError(f"{path}: field 'date_received' is not a date (YYYY-MM-DD)") from None
    if not isinstance(received, dt.date) or isinstance(received, dt.datetime):
        raise ParamsError(f"{path}: field 'date_received' is not a date (YYYY-MM-DD)")
    setting = _text(path, raw, "setting")
    if setting is not None and setting not in SETTINGS:
        raise ParamsError(f"{path}: field 'setting' must be one of {', '.join(SETTINGS)}")
    status = _text(path, raw, "status", RECEIVED)
    if status not in STATUSES:
        raise ParamsError(f"{path}: field 'status' must be one of {', '.join(STATUSES)}")
    options = raw.get("options") or {}
    if not isinstance(options, dict) or set(options) - set(OPTIONS):
        raise ParamsError(f"{path}: field 'options' may hold only {', '.join(OPTIONS)}")
    root = Path(root) if root is not None else path.resolve().parent.parent.parent
    upload = Path(_text(path, raw, "upload"))
    return Request(id=request_id, organisation=_text(path, raw, "organisation"),
                   programme=_text(path, raw, "programme"), date_received=received,
                   upload=upload if upload.is_absolute() else root / upload,
                   programme_type=_text(path, raw, "programme_type", "other"), setting=setting,
                   status=status, options=options, source=path)


def load_month(month_dir: Path, root: Path | None = None) -> list[Request]:
    """Every request of a month folder (``*.yaml`` and ``*.yml``), sorted by id. Raises
    :class:`ParamsError` for a missing folder, a bad file, or two files with the same id."""
    month_dir = Path(month_dir)
    if not month_dir.is_dir():
        raise ParamsError(f"{month_dir}: no such params folder")
    requests = [load_request(p, root) for p in sorted(month_dir.glob("*.y*ml"))]
    seen: dict[str, Path] = {}
    for request in requests:
        if request.id in seen:
            raise ParamsError(f"{request.source}: id '{request.id}' is also used by {seen[request.id]}")
        seen[request.id] = request.source
    return sorted(requests, key=lambda r: r.id)
