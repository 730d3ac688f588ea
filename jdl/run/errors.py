"""The errors whose reason the lab may show: a safe channel for why a request failed.

A failed request is recorded by exception type only (:func:`jdl.run.runner.describe_error`): an
exception's message may quote a value from the upload (a name, a date of birth, an id), so it is
never printed. Some errors, though, are raised by the lab itself with wording of its own that
holds nothing from an upload -- "method must be one of ('radius', 'nearest')", "the propensity
model's information matrix cannot be inverted; check the covariates". For those alone the reason
is worth showing, and :func:`safe_reason` gives it::

    safe_reason("ValueError", "method must be one of ('radius', 'nearest')")
    # -> "method must be one of radius, nearest"
    safe_reason("ValueError", "could not convert string to float: 'Smith'")
    # -> None: not a message the lab wrote; only "ValueError" is shown

How it is decided. The message of an error raised in a report's kernel reaches the runner as text
(papermill's ``ename`` and ``evalue``), from a process that ran code over the upload, so the text
itself is never trusted. A reason is shown only when both

1. the exception's class name is on a fixed allow-list (the keys of :data:`SAFE_MESSAGES`), and
2. the message matches, in full, one of the fixed templates listed for that class (:class:`SafeMessage`);

and what is shown is then rebuilt from the template's own words, never copied from the message.
A template's placeholders match only what cannot carry an upload value, and only some of them are
shown: ``{count}`` (digits, with or without thousands commas), ``{codepoint}`` (4 to 6 hexadecimal
digits), ``{fit_status}`` and ``{field}`` (one of a fixed set of words) are shown as matched;
``{hidden}`` (anything: a path, a list of problems) is matched but never shown (it becomes "…",
or the template gives other words). So whatever text arrives, the reason shown is the lab's
wording with at most numbers and fixed words in it.

A new error the lab raises with fixed wording opts in by adding its template here (and, in
tests/test_errors.py, a trigger: a call that raises the real error, whose message must match, so
the two cannot drift apart; that test fails for a template without one).
Never add a template whose shown text would copy free text from the message.
"""

from __future__ import annotations

import functools
import re
import string
from dataclasses import dataclass

from jdl.run.requests import DATE_RECEIVED_RULE, OPTION_RULES, PROGRAMME_TYPE_RULE

# The longest message looked at: anything longer is not a message the lab wrote.
MAX_MESSAGE = 4096
# What a {hidden} placeholder is shown as.
ELIDED = "…"
# What each placeholder may match (a regular expression) and whether the match is shown.
FIT_STATUSES = ("aliased", "separated", "iteration limit", "singular", "no progress", "converged")
TEXT_FIELDS = ("request_id", "organisation", "programme", "programme_type", "date_received", "text")
PLACEHOLDERS: dict[str, tuple[str, bool]] = {
    "count": (r"[0-9]{1,12}|[0-9]{1,3}(?:,[0-9]{3}){1,3}", True),
    "codepoint": (r"[0-9A-F]{4,6}", True),
    "fit_status": ("|".join(map(re.escape, FIT_STATUSES)), True),
    "field": ("|".join(map(re.escape, TEXT_FIELDS)), True),
    "hidden": (r".*?", False),
}


@dataclass(frozen=True)
class SafeMessage:
    """One message the lab raises with fixed wording. ``message``: the message as raised, with
    ``{placeholder}`` where it varies (see :data:`PLACEHOLDERS`; ``{{`` and ``}}`` for literal
    braces); ``shown``: the words shown for it (default: ``message`` itself), which may use the
    shown placeholders of ``message`` and never ``{hidden}``."""

    message: str
    shown: str | None = None

    def __post_init__(self):
        fields = _fields(self.message)
        unknown = set(fields) - set(PLACEHOLDERS)
        if unknown:
            raise ValueError(f"unknown placeholder(s) {sorted(unknown)} in {self.message!r}")
        if self.shown is not None:
            used = set(_fields(self.shown))
            if not used <= set(fields) or any(not PLACEHOLDERS[name][1] for name in used):
                raise ValueError(f"the shown text {self.shown!r} may use only the shown placeholders of its message")
        if len(fields) != len(set(fields)):
            raise ValueError(f"a placeholder is used twice in {self.message!r}")

    @property
    def pattern(self) -> re.Pattern:
        """The message as a regular expression, each placeholder a named group."""
        return _pattern(self.message)

    def reason(self, message: str) -> str | None:
        """The words shown for ``message`` if it is this message, else None."""
        found = self.pattern.fullmatch(message)
        if found is None:
            return None
        values = {name: (value if PLACEHOLDERS[name][1] else ELIDED) for name, value in found.groupdict().items()}
        return (self.shown if self.shown is not None else self.message).format(**values)


@functools.lru_cache(maxsize=None)
def _pattern(message: str) -> re.Pattern:
    parts = []
    for literal, name, _spec, _conversion in string.Formatter().parse(message):
        parts.append(re.escape(literal))
        if name is not None:
            parts.append(f"(?P<{name}>{PLACEHOLDERS[name][0]})")
    return re.compile("".join(parts), re.DOTALL)


def _fields(template: str) -> list[str]:
    return [name for _literal, name, _spec, _conversion in string.Formatter().parse(template) if name is not None]


_PROPENSITY = "the propensity model could not be fitted: "

# The allow-list: exception class name -> the messages of that class the lab raises with fixed words.
SAFE_MESSAGES: dict[str, tuple[SafeMessage, ...]] = {
    "ValueError": (
        # jdl.stats.matching.match: the matching options
        SafeMessage("method must be one of ('radius', 'nearest')", "method must be one of radius, nearest"),
        SafeMessage("distance must be one of ('logit', 'propensity')", "distance must be one of logit, propensity"),
        SafeMessage("m_order must be one of ('largest', 'smallest', 'data')",
                    "m_order must be one of largest, smallest, data"),
        SafeMessage("radius matching needs a caliper"),
        SafeMessage("radius matching is always with replacement (replace=True)"),
        SafeMessage("ratio applies to nearest-neighbour matching only"),
        SafeMessage("caliper must be a positive number of standard deviations, or None"),
        SafeMessage("ratio must be a whole number >= 1"),
        SafeMessage("the caliper width must be a finite number >= 0"),
        SafeMessage("give at least one covariate for the propensity model"),
        SafeMessage("the data must hold both treated and comparison units"),
        # jdl.run.requests.confine_upload and check_text: the request's params, checked again in the report
        SafeMessage("field 'upload' must name a file inside the uploads folder {hidden} (symlinks resolved); "
                    "it points elsewhere",
                    "field 'upload' must name a file inside the uploads folder (symlinks resolved); it points elsewhere"),
        SafeMessage("field 'upload' must name a regular file, not a folder or a special file"),
        # jdl.analysis.Request: the programme type, from the lab's controlled list, and the date received
        SafeMessage(PROGRAMME_TYPE_RULE),
        SafeMessage(DATE_RECEIVED_RULE),
        SafeMessage("field '{field}' is {count} characters long; the limit is {hidden}",
                    "field '{field}' is {count} characters long, over the limit"),
        SafeMessage("field '{field}' holds a control, bidirectional or other invisible character "
                    "(U+{codepoint} at character {count}); use plain text"),
    ),
    "PropensityModelError": (  # jdl.stats.matching
        SafeMessage(_PROPENSITY + "Newton's method did not converge ({fit_status} after {count} iterations) "
                    "although no separation was found; check the covariates for extreme values"),
        SafeMessage(_PROPENSITY + "Firth's penalised likelihood (used because of separation by {hidden}) did not "
                    "converge ({fit_status})",
                    _PROPENSITY + "Firth's penalised likelihood (used because of separation) did not converge "
                    "({fit_status})"),
        SafeMessage("the propensity model's information matrix cannot be inverted; check the covariates"),
    ),
    "NoComparison": (  # jdl.cohort.build
        SafeMessage("no one in the comparison pool shares the values every treated person has"),
    ),
    "HeadlineNotReported": (  # jdl.analysis
        SafeMessage("the one-year proven re-offending rate cannot be reported: fewer than 10 people in the "
                    "treatment group re-offended, or fewer than 10 did not"),
    ),
    "UploadNotUsable": (  # jdl.analysis: the problems it lists are left out (jdl validate lists them)
        SafeMessage("the upload cannot be analysed:\n{hidden}",
                    "the upload cannot be analysed: it has problems that block the request (jdl validate lists them)"),
    ),
    "CannotProtect": (  # jdl.stats.disclosure
        SafeMessage("a line has one suppressed count and nothing else that may be hidden"),
        SafeMessage("a suppressed count can be worked out, and nothing else may be hidden"),
    ),
    "RuntimeError": (  # jdl.analysis.Analysis.check_disclosure
        SafeMessage("disclosure check failed: a hidden count could be worked out; the report is not published"),
    ),
    "ParamsError": tuple(  # jdl.run.requests: the params file's path is left out
        SafeMessage("{hidden}: option '" + name + "' must be " + rule.replace("{", "{{").replace("}", "}}"),
                    "option '" + name + "' must be " + rule.replace("{", "{{").replace("}", "}}"))
        for name, rule in OPTION_RULES.items()
    ),
}


def safe_reason(ename: object, evalue: object) -> str | None:
    """The lab's own words for an error of class ``ename`` (its name, e.g. ``"ValueError"``)
    with message ``evalue``, when the class is on the allow-list and the message is one of the
    class's fixed templates (see the module docstring); else None. Never returns text copied
    from ``evalue`` beyond numbers and fixed words."""
    if not isinstance(ename, str) or not isinstance(evalue, str) or len(evalue) > MAX_MESSAGE:
        return None
    for template in SAFE_MESSAGES.get(ename, ()):
        reason = template.reason(evalue)
        if reason is not None:
            return reason
    return None
