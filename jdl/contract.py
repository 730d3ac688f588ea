"""The contract between the report template, the month runner and the bulletin, as types.

- :class:`Status`: every status a request can have (in a params file, in a report's scraps, in
  ``run.json``);
- :class:`Verdict`: the headline verdict a report glues;
- :class:`ReportScraps`: the scraps every executed report glues, one typed field each, with
  :meth:`ReportScraps.glue` (in the report's kernel) and :meth:`ReportScraps.read` (by the runner
  and the bulletin), which checks every scrap and raises :class:`ScrapError` naming the scrap.

Both enums are ``str`` enums (:class:`enum.StrEnum`) whose values are the words the files have
always held, so ``run.json``, params files and scraps written before still read, a member equals
its word (``Status.PUBLISHED == "published"``), and ``str()``, f-strings and JSON give the word
(never ``Status.PUBLISHED``). Only ``repr()`` shows the member.

Scrapbook cannot store a null, so a value that does not apply (a field that may be None) is not
glued at all, and a missing scrap reads as None. JSON has no infinity: an infinite number is
glued as its text ("inf"), read back as the float; a NaN is not glued; inside lists and dicts
non-finite floats are dropped (:func:`json_ready`).

Error messages name the scrap and the rule it breaks, never the value (a scrap could hold text
from an upload); the allowed statuses and verdicts are fixed words and are named.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from numbers import Integral, Real
from dataclasses import dataclass, field, fields


class Status(enum.StrEnum):
    """What has become of a request. A params file says ``received`` (run it), ``withdrawn`` or
    ``in progress`` (listed, not run); an executed report glues ``published`` or ``not
    processed``; the month runner records, besides those, ``failed`` (to be run again) and
    ``interrupted`` (queued or running when the run was stopped)."""

    RECEIVED = "received"
    WITHDRAWN = "withdrawn"
    IN_PROGRESS = "in progress"
    PUBLISHED = "published"
    NOT_PROCESSED = "not processed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


# The statuses a params file may give (default received).
PARAMS_STATUSES = (Status.RECEIVED, Status.WITHDRAWN, Status.IN_PROGRESS)
# The statuses of requests listed but never executed.
NOT_RUN_STATUSES = (Status.WITHDRAWN, Status.IN_PROGRESS)
# The statuses an executed report may glue.
REPORT_STATUSES = (Status.PUBLISHED, Status.NOT_PROCESSED)


class Verdict(enum.StrEnum):
    """The headline verdict of a report (:func:`jdl.words.verdict` gives the first three; a
    request that is not processed has the verdict ``not processed``)."""

    SIGNIFICANT_REDUCTION = "significant reduction"
    SIGNIFICANT_INCREASE = "significant increase"
    INCONCLUSIVE = "inconclusive"
    NOT_PROCESSED = "not processed"


# The verdicts of a processed request, in the order the bulletin tallies them.
HEADLINE_VERDICTS = (Verdict.SIGNIFICANT_REDUCTION, Verdict.SIGNIFICANT_INCREASE, Verdict.INCONCLUSIVE)


class ScrapError(ValueError):
    """Scraps that break the report contract. ``scrap``: the name of the (first) scrap at fault.
    The message names the scrap and the rule, never its value."""

    def __init__(self, scrap: str, message: str):
        super().__init__(message)
        self.scrap = scrap


# What each kind of scrap holds, in words (for the error messages).
_KIND_WORDS = {"text": "text", "int": "a whole number", "number": "a number", "dict": "a mapping",
               "counts": "a mapping of text to whole numbers", "list": "a list",
               "status": f"one of {', '.join(REPORT_STATUSES)}", "verdict": f"one of {', '.join(Verdict)}"}


def _scrap(kind: str, doc: str, optional: bool = False):
    """A field of :class:`ReportScraps`: its ``kind`` (how it is checked), its description, and a
    default of None when it may be absent."""
    metadata = {"kind": kind, "doc": doc, "optional": optional}
    return field(default=None, metadata=metadata) if optional else field(metadata=metadata)


def _whole(value) -> bool:
    """True for a whole number (a Python or NumPy integer), never a bool."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def _checked(name: str, kind: str, value):
    """``value`` as the scrap ``name`` of ``kind`` holds it (a number as a float, a status or a
    verdict as its enum member); raises :class:`ScrapError` naming the scrap otherwise."""
    def wrong():
        return ScrapError(name, f"the report's '{name}' scrap is not {_KIND_WORDS[kind]}")

    if kind in ("status", "verdict"):
        enum_type = Status if kind == "status" else Verdict
        if not isinstance(value, str) or value not in tuple(enum_type):
            raise wrong()
        member = enum_type(value)
        if kind == "status" and member not in REPORT_STATUSES:
            raise wrong()
        return member
    if kind == "text" and isinstance(value, str):
        return value
    if kind == "int" and _whole(value):
        return int(value)
    if kind == "number" and isinstance(value, Real) and not isinstance(value, bool):
        return float(value)
    if kind == "dict" and isinstance(value, dict):
        return value
    if kind == "counts" and isinstance(value, dict) and all(isinstance(k, str) and _whole(v) for k, v in value.items()):
        return {k: int(v) for k, v in value.items()}
    if kind == "list" and isinstance(value, (list, tuple)):
        return list(value)
    raise wrong()


@dataclass(frozen=True, kw_only=True)
class ReportScraps:
    """The scraps every executed report glues (``analysis.scraps()`` in the report template), one
    field per scrap; each field's description is in its metadata (``doc``) and in :data:`SCRAPS`.
    A field that may be None is not glued when None. Built, it is checked (:class:`ScrapError`
    otherwise): each field of its type (an int where a number goes is taken as a float), the
    status one of :data:`REPORT_STATUSES`, and the verdict ``not processed`` exactly when the status
    is; a status or verdict given as its word becomes the enum member. Nested values (the dicts
    and lists) are checked only as dicts and lists."""

    request_id: str = _scrap("text", "the request id (str)")
    organisation: str = _scrap("text", "the organisation (str)")
    programme: str = _scrap("text", "the programme (str)")
    programme_type: str = _scrap("text", "the programme type (str)")
    date_received: str = _scrap("text", "the date received, ISO (str)")
    status: Status = _scrap("status", '"published" or "not processed" (Status)')
    verdict: Verdict = _scrap("verdict", '"significant reduction", "significant increase", "inconclusive" or '
                                         '"not processed" (Verdict)')
    reason: str | None = _scrap("text", "why the request was not processed (str), or None", optional=True)
    n_submitted: int = _scrap("int", "people submitted (int)")
    n_treated: int = _scrap("int", "treatment group size analysed (int; 0 when not processed)")
    n_comparison: int = _scrap("int", "distinct comparison people (int; 0 when not processed)")
    n_comparison_effective: float | None = _scrap(
        "number", "comparison effective size (float; None when not processed)", optional=True)
    treated_rate: float | None = _scrap(
        "number", "treatment group one-year proven re-offending rate, a proportion (float or None)", optional=True)
    comparison_rate: float | None = _scrap("number", "comparison group rate, a proportion (float or None)",
                                           optional=True)
    difference: float | None = _scrap("number", "treated_rate - comparison_rate (float or None)", optional=True)
    lower: float | None = _scrap("number", "95% interval lower bound of the difference (float or None)",
                                 optional=True)
    upper: float | None = _scrap("number", "95% interval upper bound of the difference (float or None)",
                                 optional=True)
    p_value: float | None = _scrap("number", "Welch two-sided p-value (float or None)", optional=True)
    standard_error: float | None = _scrap("number", "Welch standard error of the difference (float or None)",
                                          optional=True)
    number_needed: float | None = _scrap(
        "number", "treatment group size needed when inconclusive (float, may be inf, or None)", optional=True)
    e_value: float | None = _scrap("number", "E-value of the headline risk ratio (float or None)", optional=True)
    e_value_bound: float | None = _scrap(
        "number", "E-value of its interval bound nearest 1; 1 when the interval includes 1 (float or None)",
        optional=True)
    adjusted_difference: float | None = _scrap(
        "number", "regression-adjusted (doubly robust) rate difference on the matched sample (float or None)",
        optional=True)
    attrition: dict = _scrap("counts", "people per attrition bucket in the methodology's order (dict str -> int)")
    controlled_for_region: dict | None = _scrap(
        "dict", "the match with exact matching on region beside the national one (dict; see "
                "jdl.stats.subgroups.RegionAnalysis.scrap), or None when not processed", optional=True)
    subgroups: list | None = _scrap(
        "list", "the sub-analyses, one dict per sub-group, run or not and why (list; see "
                "jdl.stats.subgroups.SubgroupResult.scrap), or None when not processed", optional=True)
    published_counts: dict = _scrap(
        "dict", "the report's disclosure view: the totals it prints and every count table as published, "
                "strings (dict; see jdl.stats.disclosure.Publication.scrap)")
    match: dict | None = _scrap(
        "dict", "the match as run: method, distance, caliper (SD and width), ratio, replacement, exact "
                "variables, covariates, estimator, separated and dropped terms, pool restrictions (dict; see "
                "jdl.stats.plan.match_scrap), or None when no match was run", optional=True)
    employment: dict | None = _scrap(
        "dict", "experimental: the employment and benefit measures in the year after, measure column -> a "
                "dict with label, kind (rate or days), shown (bool) and, when shown, treated_mean, "
                "comparison_mean, difference, lower, upper (proportions for rates, days for days), p_value "
                "and significant, or the reason when not shown (dict; see jdl.analysis.employment_scrap), or "
                "None when not processed (and in reports made before the scrap existed)", optional=True)

    def __post_init__(self):
        for scrap in fields(self):
            value = getattr(self, scrap.name)
            if value is None:
                if not scrap.metadata["optional"]:
                    raise ScrapError(scrap.name, f"the report's '{scrap.name}' scrap is missing")
                continue
            object.__setattr__(self, scrap.name, _checked(scrap.name, scrap.metadata["kind"], value))
        if (self.status == Status.NOT_PROCESSED) != (self.verdict == Verdict.NOT_PROCESSED):
            raise ScrapError("verdict", "the report's 'verdict' scrap must be 'not processed' exactly when its "
                                        "'status' scrap is")

    # ---------------------------------------------------------------- plain data

    def to_dict(self) -> dict:
        """Scrap name -> value, in the contract's order (the status and verdict as their words;
        nested values as they are, not copied)."""
        return {scrap.name: (value.value if isinstance(value, enum.Enum) else value)
                for scrap in fields(self) for value in (getattr(self, scrap.name),)}

    @classmethod
    def from_glued(cls, glued: Mapping) -> ReportScraps:
        """The scraps as read from a notebook (name -> data): names outside the contract are
        ignored, a missing scrap is None, a number glued as "inf" or "-inf" is the float again.
        Raises :class:`ScrapError` naming the scrap(s) missing or of the wrong kind."""
        values = {}
        missing = []
        for scrap in fields(cls):
            value = glued.get(scrap.name)
            if value is None and not scrap.metadata["optional"]:
                missing.append(scrap.name)
            if scrap.metadata["kind"] == "number" and value in ("inf", "-inf"):
                value = float(value)
            values[scrap.name] = value
        if missing:
            raise ScrapError(missing[0], "the report glued no " + ", ".join(f"'{name}'" for name in missing)
                             + (" scraps" if len(missing) > 1 else " scrap"))
        return cls(**values)

    # ---------------------------------------------------------------- scrapbook

    def glue(self) -> None:
        """Glue every field into the running notebook with scrapbook (see :func:`glue_values`)."""
        glue_values(self.to_dict())

    @classmethod
    def read(cls, notebook_path) -> ReportScraps:
        """The scraps of the executed report notebook at ``notebook_path``, checked (see
        :meth:`from_glued`; :class:`ScrapError` naming the scrap otherwise). Whether papermill
        marked the notebook as stopped by an exception is :func:`read_report`'s to say."""
        return cls.from_glued(_read_notebook(notebook_path)[0])


# The scraps every executed report glues: name -> what it holds (the fields of ReportScraps).
SCRAPS = {scrap.name: scrap.metadata["doc"] for scrap in fields(ReportScraps)}


def json_ready(value):
    """``value`` with every non-finite float inside a list or dict dropped (a dict key left out,
    as scrapbook stores no null; None in a list) and every enum member as its value: JSON has no
    NaN or infinity, and the kernel's messages must be valid JSON."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()
                if not (isinstance(v, float) and not math.isfinite(v))}
    if isinstance(value, (list, tuple)):
        return [None if isinstance(v, float) and not math.isfinite(v) else json_ready(v) for v in value]
    return value


def glue_values(scraps: Mapping) -> None:
    """Glue ``scraps`` (names of :data:`SCRAPS` -> plain values, some or all of them) into the
    running notebook with scrapbook. A None is not glued (scrapbook stores no null: readers take a
    missing scrap as None); text goes through scrapbook's text encoder (its JSON encoder would read
    a str as JSON text); an infinite float is glued as its text ("inf"), which
    :meth:`ReportScraps.from_glued` turns back into a float; a NaN is not glued; inside lists and
    dicts non-finite floats are dropped (:func:`json_ready`). Raises ValueError for a name that is
    not in :data:`SCRAPS`. :meth:`ReportScraps.glue` is the checked way to glue the whole contract."""
    import scrapbook

    unknown = sorted(set(scraps) - set(SCRAPS))
    if unknown:
        raise ValueError(f"not scraps of the report contract: {', '.join(unknown)}")
    for name, value in scraps.items():
        if isinstance(value, enum.Enum):
            value = value.value
        if isinstance(value, float) and not math.isfinite(value):
            value = None if math.isnan(value) else str(value)
        if value is None:
            continue
        if isinstance(value, str):
            scrapbook.glue(name, value, encoder="text")
        else:
            scrapbook.glue(name, json_ready(value), encoder="json")


def _read_notebook(notebook_path) -> tuple[dict, bool]:
    """The scraps glued in the notebook at ``notebook_path`` (name -> data) and whether papermill
    marked it as stopped by an exception."""
    import scrapbook

    notebook = scrapbook.read_notebook(str(notebook_path))
    glued = {name: scrap.data for name, scrap in notebook.scraps.items()}
    return glued, bool(notebook.metadata.get("papermill", {}).get("exception"))


def read_report(notebook_path) -> tuple[ReportScraps | None, bool]:
    """The scraps of the executed report notebook at ``notebook_path`` as a :class:`ReportScraps`,
    and whether papermill marked the notebook as stopped by an exception; a stopped notebook's
    scraps are not read and are None (they may be partial, and a stopped report states no
    result). Reads the notebook once. Raises :class:`ScrapError` (naming the scrap, never its
    value) when the scraps of a notebook that ran to the end break the contract."""
    glued, stopped = _read_notebook(notebook_path)
    return (None, True) if stopped else (ReportScraps.from_glued(glued), False)
