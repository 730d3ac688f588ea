"""The safe error channel (jdl.run.errors): which failed requests may show the lab's own reason.

Every template of the allow-list is matched against the message the lab really raises (the real
function is called and fails), so a template cannot drift from the code it describes; a test
fails when a template has no such trigger. Then hostile messages: names and dates in a hidden
part, a template with text added, very long messages, values that are not text, classes not on
the list. Finally the runner's one-line description of a failed request."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from papermill.exceptions import PapermillExecutionError

import jdl.stats.matching as matching
from jdl.run import errors
from jdl.run.errors import ELIDED, MAX_MESSAGE, SAFE_MESSAGES, SafeMessage, safe_reason
from jdl.analysis import Request
from jdl.run.requests import DATE_RECEIVED_RULE, OPTION_RULES, PROGRAMME_TYPE_RULE, ParamsError, check_text, confine_upload, load_request
from jdl.run.runner import describe_error

# Stand-ins for what an upload holds: a name, a date of birth, an id.
NAME, BORN, PNC = "Jane Smith", "1980-02-03", "1995/0123456X"
PERSONAL = (NAME, BORN, PNC, "Smith", "1980")


def units(n: int = 40, seed: int = 1) -> pd.DataFrame:
    """Treated and comparison units with one numeric covariate: a propensity model that fits."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"treated": np.r_[np.ones(n // 4, int), np.zeros(n - n // 4, int)],
                         "x": rng.normal(size=n)})


def raised(call) -> BaseException:
    """The exception ``call()`` raises."""
    with pytest.raises(Exception) as caught:
        call()
    return caught.value


def match_with(**options):
    return lambda: matching.match(units(), "treated", ["x"], **options)


def _propensity_no_convergence(monkeypatch):
    # Newton never converges and no separation is found: the maximum likelihood fit fails
    def never(design, y, treated, scale, watch_separation=True, max_iterations=0):
        return matching._Fit(np.zeros(design.shape[1]), np.zeros(len(y)), 75, "no progress"), \
            np.arange(design.shape[1])

    monkeypatch.setattr(matching, "_fit_ml", never)
    monkeypatch.setattr(matching, "_lp_separated", lambda design, y: np.zeros(len(y), dtype=bool))
    return lambda: matching.fit_propensity(units(), "treated", ["x"])


def _propensity_firth_fails(monkeypatch):
    # a level only treated units hold (separation), and Firth's fit does not converge
    monkeypatch.setattr(matching, "_firth_logit", lambda design, y, scale, beta, *a, **k: matching._Fit(
        beta, np.zeros(len(y)), 3, "singular"))
    data = units().assign(region=lambda d: np.where(np.arange(len(d)) < 3, "West", "North"))
    return lambda: matching.fit_propensity(data, "treated", ["x", "region"])


def _propensity_not_invertible(monkeypatch):
    # a converged fit whose information matrix could not be factorised
    monkeypatch.setattr(matching, "_fit_ml", lambda design, y, treated, scale, **k: (matching._Fit(
        np.zeros(design.shape[1]), np.zeros(len(y)), 4, "converged"), np.arange(design.shape[1])))
    return lambda: matching.fit_propensity(units(), "treated", ["x"])


def _no_comparison(monkeypatch):
    from jdl.stats.plan import plan_match

    data = units(60).assign(sex="M", disposal_kind="court order", previous_custodial_sentences=1)
    data.loc[data["treated"] == 1, "previous_custodial_sentences"] = 0   # every participant: none
    data.loc[data.index[-1], "previous_custodial_sentences"] = 2        # the pool varies, never has 0
    return lambda: plan_match(data, ["previous_custodial_sentences", "x"])


def _headline_not_reported(monkeypatch):
    from jdl.analysis import Analysis

    gated = SimpleNamespace(measures=[SimpleNamespace(comparison=None)])  # the rate failed its gate
    return lambda: Analysis.headline.func(gated)


def _disclosure_check_fails(monkeypatch):
    from jdl.analysis import Analysis

    leaky = SimpleNamespace(processed=False,
                            publication=SimpleNamespace(audit=lambda: {"recoverable": pd.Series([False, True])}))
    return lambda: Analysis.check_disclosure(leaky)


def _upload_not_usable(monkeypatch, tmp_path):
    import jdl
    from national_builder import build_national

    build_national(tmp_path / "national")
    upload = tmp_path / "uploads" / f"{NAME}.csv"
    upload.parent.mkdir()
    upload.write_text(f"name,born\n{NAME},{BORN}\n")   # no template column at all
    return lambda: jdl.analyse(upload, "custody", tmp_path / "national")


def _cannot_protect_line(monkeypatch):
    from jdl.stats.disclosure import protect_counts

    return lambda: protect_counts(pd.Series({"A": 88, "B": 2}), fixed=["A"])


def _cannot_protect_recoverable(monkeypatch):
    from jdl.stats.disclosure import suppress

    return lambda: suppress(pd.DataFrame({"a": [1, 1], "b": [1, 1]}))


def _params_file(tmp_path: Path, options: dict) -> Path:
    # a params file whose own name holds personal data: the path is never shown
    path = tmp_path / "params" / "2014-03" / f"{NAME} {BORN}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"id": "a", "organisation": "Org", "programme": "P", "date_received": "2014-01-15",
                                    "upload": "data/uploads/a.csv", "options": options}))
    return path


BAD_OPTIONS = {"method": "nearst", "caliper": 0, "ratio": 11, "replace": "yes", "exact": "region"}


def _upload_is_a_folder(tmp_path: Path):
    folder = tmp_path / "uploads" / NAME
    folder.mkdir(parents=True)
    return lambda: confine_upload(folder, tmp_path / "uploads")


def _bad_option(name: str):
    return lambda monkeypatch, tmp_path: lambda: load_request(_params_file(tmp_path, {name: BAD_OPTIONS[name]}))

# (id, ename, a function (monkeypatch, tmp_path) -> a call that raises, the reason shown)
TRIGGERS = [
    ("method", "ValueError", lambda mp, tp: match_with(method="nearst"), "method must be one of radius, nearest"),
    ("distance", "ValueError", lambda mp, tp: match_with(distance="odds"), "distance must be one of logit, propensity"),
    ("m_order", "ValueError", lambda mp, tp: match_with(method="nearest", m_order="random"),
     "m_order must be one of largest, smallest, data"),
    ("radius-caliper", "ValueError", lambda mp, tp: match_with(method="radius", caliper=None),
     "radius matching needs a caliper"),
    ("radius-replace", "ValueError", lambda mp, tp: match_with(method="radius", replace=False),
     "radius matching is always with replacement (replace=True)"),
    ("radius-ratio", "ValueError", lambda mp, tp: match_with(method="radius", ratio=2),
     "ratio applies to nearest-neighbour matching only"),
    ("caliper", "ValueError", lambda mp, tp: match_with(method="nearest", caliper=-0.2),
     "caliper must be a positive number of standard deviations, or None"),
    ("ratio", "ValueError", lambda mp, tp: match_with(method="nearest", ratio=0), "ratio must be a whole number >= 1"),
    ("width", "ValueError", lambda mp, tp: lambda: matching.radius_match([0.0, 1.0], [True, False], width=-1.0),
     "the caliper width must be a finite number >= 0"),
    ("no-covariate", "ValueError", lambda mp, tp: lambda: matching.match(units(), "treated", []),
     "give at least one covariate for the propensity model"),
    ("one-group", "ValueError", lambda mp, tp: lambda: matching.match(units().assign(treated=1), "treated", ["x"]),
     "the data must hold both treated and comparison units"),
    ("upload-outside", "ValueError",
     lambda mp, tp: lambda: confine_upload(Path("/etc/passwd"), tp / NAME / BORN),
     "field 'upload' must name a file inside the uploads folder (symlinks resolved); it points elsewhere"),
    ("upload-folder", "ValueError",
     lambda mp, tp: _upload_is_a_folder(tp),
     "field 'upload' must name a regular file, not a folder or a special file"),
    ("programme-type", "ValueError", lambda mp, tp: lambda: Request(programme_type="<b>mentorin"), PROGRAMME_TYPE_RULE),
    ("date-received", "ValueError", lambda mp, tp: lambda: Request(date_received="2014-13-01"), DATE_RECEIVED_RULE),
    ("text-length", "ValueError", lambda mp, tp: lambda: check_text(NAME * 500, "organisation"),
     "field 'organisation' is 5,000 characters long, over the limit"),
    ("text-short-limit", "ValueError", lambda mp, tp: lambda: check_text(NAME, "programme", limit=5),
     "field 'programme' is 10 characters long, over the limit"),
    ("text-character", "ValueError", lambda mp, tp: lambda: check_text(f"{NAME}\u202e", "programme"),
     "field 'programme' holds a control, bidirectional or other invisible character (U+202E at character 11); "
     "use plain text"),
    ("text-control", "ValueError", lambda mp, tp: lambda: check_text("a\x07", "request_id"),
     "field 'request_id' holds a control, bidirectional or other invisible character (U+0007 at character 2); "
     "use plain text"),
    ("newton", "PropensityModelError", lambda mp, tp: _propensity_no_convergence(mp),
     "the propensity model could not be fitted: Newton's method did not converge (no progress after 75 "
     "iterations) although no separation was found; check the covariates for extreme values"),
    ("firth", "PropensityModelError", lambda mp, tp: _propensity_firth_fails(mp),
     "the propensity model could not be fitted: Firth's penalised likelihood (used because of separation) did "
     "not converge (singular)"),
    ("information", "PropensityModelError", lambda mp, tp: _propensity_not_invertible(mp),
     "the propensity model's information matrix cannot be inverted; check the covariates"),
    ("no-comparison", "NoComparison", lambda mp, tp: _no_comparison(mp),
     "no one in the comparison pool shares the values every treated person has"),
    ("headline", "HeadlineNotReported", lambda mp, tp: _headline_not_reported(mp),
     "the one-year proven re-offending rate cannot be reported: fewer than 10 people in the treatment group "
     "re-offended, or fewer than 10 did not"),
    ("upload-not-usable", "UploadNotUsable", lambda mp, tp: _upload_not_usable(mp, tp),
     "the upload cannot be analysed: it has problems that block the request (jdl validate lists them)"),
    ("cannot-protect-line", "CannotProtect", lambda mp, tp: _cannot_protect_line(mp),
     "a line has one suppressed count and nothing else that may be hidden"),
    ("cannot-protect", "CannotProtect", lambda mp, tp: _cannot_protect_recoverable(mp),
     "a suppressed count can be worked out, and nothing else may be hidden"),
    ("disclosure-check", "RuntimeError", lambda mp, tp: _disclosure_check_fails(mp),
     "disclosure check failed: a hidden count could be worked out; the report is not published"),
    *[(f"option-{name}", "ParamsError", _bad_option(name), f"option '{name}' must be {rule}")
      for name, rule in OPTION_RULES.items()],
]


def matching_template(ename: str, message: str) -> SafeMessage | None:
    """The template of the allow-list that ``message`` of class ``ename`` matches, if any."""
    return next((t for t in SAFE_MESSAGES.get(ename, ()) if t.pattern.fullmatch(message)), None)


@pytest.mark.parametrize("ename,make,shown", [t[1:] for t in TRIGGERS], ids=[t[0] for t in TRIGGERS])
def test_each_message_the_lab_raises_is_recognised(ename, make, shown, monkeypatch, tmp_path):
    error = raised(make(monkeypatch, tmp_path))
    assert type(error).__name__ == ename
    [message] = error.args
    assert safe_reason(ename, message) == shown
    for value in PERSONAL:                      # what the message may hold of an upload is not shown
        assert value not in shown


def test_every_template_has_a_real_error_that_matches_it(monkeypatch, tmp_path):
    matched = set()
    for number, (_id, ename, make, _shown) in enumerate(TRIGGERS):
        folder = tmp_path / str(number)
        folder.mkdir()
        with monkeypatch.context() as patch:
            error = raised(make(patch, folder))
        template = matching_template(ename, error.args[0])
        assert template is not None, _id
        matched.add((ename, template.message))
    listed = {(ename, template.message) for ename, templates in SAFE_MESSAGES.items() for template in templates}
    assert listed - matched == set()


def test_the_params_error_path_is_left_out(tmp_path):
    error = raised(lambda: load_request(_params_file(tmp_path, {"ratio": 0})))
    assert isinstance(error, ParamsError) and NAME in str(error)          # the path names the file ...
    assert safe_reason("ParamsError", str(error)) == f"option 'ratio' must be {OPTION_RULES['ratio']}"  # ... not shown


# ---------------------------------------------------------------------------------------------
# hostile messages


def test_a_hidden_part_is_matched_and_never_shown():
    outside = ("field 'upload' must name a file inside the uploads folder /home/Jane Smith/1980-02-03/1995/0123456X "
               "(symlinks resolved); it points elsewhere")
    assert safe_reason("ValueError", outside) == (
        "field 'upload' must name a file inside the uploads folder (symlinks resolved); it points elsewhere")
    problems = f"the upload cannot be analysed:\nSheet 1 row 2: {NAME} born {BORN}\nrow 3: {PNC}"
    assert safe_reason("UploadNotUsable", problems) == (
        "the upload cannot be analysed: it has problems that block the request (jdl validate lists them)")
    firth = (f"the propensity model could not be fitted: Firth's penalised likelihood (used because of separation "
             f"by surname_{NAME}, dob_{BORN}) did not converge (iteration limit)")
    assert safe_reason("PropensityModelError", firth) == (
        "the propensity model could not be fitted: Firth's penalised likelihood (used because of separation) "
        "did not converge (iteration limit)")
    limit = f"field 'programme' is 201 characters long; the limit is {NAME}"
    assert safe_reason("ValueError", limit) == "field 'programme' is 201 characters long, over the limit"
    assert safe_reason("ParamsError", f"/srv/{NAME}/{BORN}.yaml: option 'replace' must be true or false") == (
        "option 'replace' must be true or false")


def test_a_template_with_elided_words_shows_the_ellipsis_only_where_the_template_says():
    template = SafeMessage("copied {hidden} here")
    assert template.reason(f"copied {NAME} here") == f"copied {ELIDED} here"
    assert template.reason("copied  here") == f"copied {ELIDED} here"
    assert template.reason(f"copied {NAME} there") is None


@pytest.mark.parametrize("ename,message", [
    # a template with text added before, after or inside
    ("ValueError", f"method must be one of ('radius', 'nearest') {NAME}"),
    ("ValueError", f"method must be one of ('radius', 'nearest')\n{NAME}"),
    ("ValueError", f"{NAME}: method must be one of ('radius', 'nearest')"),
    ("ValueError", "method must be one of ('radius', 'nearest', 'Jane Smith')"),
    ("NoComparison", "no one in the comparison pool shares the values every treated person has: Smith, 1980"),
    ("RuntimeError", "disclosure check failed: a hidden count could be worked out; the report is not published."),
    # placeholders that are shown match only numbers and fixed words
    ("ValueError", f"field '{NAME}' is 201 characters long; the limit is 200"),
    ("ValueError", f"field 'programme' is {BORN} characters long; the limit is 200"),
    ("ValueError", "field 'programme' is 1,00 characters long; the limit is 200"),
    ("ValueError", "field 'text' holds a control, bidirectional or other invisible character (U+SMITH at "
                   "character 3); use plain text"),
    ("ValueError", "field 'text' holds a control, bidirectional or other invisible character (U+202E at "
                   f"character {BORN}); use plain text"),
    ("PropensityModelError", "the propensity model could not be fitted: Newton's method did not converge "
                             f"({NAME} after 75 iterations) although no separation was found; check the covariates "
                             "for extreme values"),
    ("ParamsError", f"{NAME}: option 'colour' must be red"),
    # the case and the spaces of the lab's words
    ("ValueError", "Radius matching needs a caliper"),
    ("ValueError", "radius matching needs a caliper "),
    # an error class that is not on the list, or only looks like one that is
    ("KeyError", "method must be one of ('radius', 'nearest')"),
    ("ValueError ", "method must be one of ('radius', 'nearest')"),
    ("valueerror", "method must be one of ('radius', 'nearest')"),
    (f"{NAME}Error", "radius matching needs a caliper"),
    ("", "radius matching needs a caliper"),
    ("CannotProtect", "radius matching needs a caliper"),     # another class's message
])
def test_what_is_not_the_lab_s_own_message_gives_no_reason(ename, message):
    assert safe_reason(ename, message) is None


def test_a_long_message_gives_no_reason():
    head = "the upload cannot be analysed:\n"
    longest = head + "x" * (MAX_MESSAGE - len(head))
    assert safe_reason("UploadNotUsable", longest) is not None                  # at the limit: still looked at
    assert safe_reason("UploadNotUsable", longest + "x") is None
    assert safe_reason("UploadNotUsable", head + f"{NAME} {BORN}\n" * 700) is None  # 10 kB
    assert safe_reason("ValueError", "radius matching needs a caliper" + " " * 10_000) is None


@pytest.mark.parametrize("ename,evalue", [
    ("ValueError", None), ("ValueError", 42), ("ValueError", b"radius matching needs a caliper"),
    ("ValueError", ["radius matching needs a caliper"]), ("ValueError", ("radius matching needs a caliper",)),
    (None, "radius matching needs a caliper"), (ValueError, "radius matching needs a caliper"),
    (b"ValueError", "radius matching needs a caliper"),
])
def test_values_that_are_not_text_give_no_reason(ename, evalue):
    assert safe_reason(ename, evalue) is None


def test_a_string_subclass_is_read_as_its_text_only():
    class Sneaky(str):
        def __str__(self):
            return NAME

    assert safe_reason("ValueError", Sneaky("radius matching needs a caliper")) == "radius matching needs a caliper"


def test_templates_cannot_show_what_they_hide():
    with pytest.raises(ValueError, match="may use only the shown placeholders"):
        SafeMessage("problem with {hidden}", "problem with {hidden}")
    with pytest.raises(ValueError, match="may use only the shown placeholders"):
        SafeMessage("{count} rows", "{count} rows in {field}")
    with pytest.raises(ValueError, match="unknown placeholder"):
        SafeMessage("hello {name}")
    with pytest.raises(ValueError, match="used twice"):
        SafeMessage("{count} and {count}")


def test_every_allow_listed_template_shows_only_fixed_words_and_numbers():
    # built from each template's own pattern: the hidden parts filled with personal data
    for ename, templates in SAFE_MESSAGES.items():
        for template in templates:
            fill = {"count": "1,234", "codepoint": "202E", "fit_status": "singular", "field": "programme",
                    "hidden": f"{NAME} {BORN} {PNC}"}
            message = template.message.format(**{name: fill[name] for name in errors._fields(template.message)})
            shown = safe_reason(ename, message)
            assert shown is not None, template.message
            assert not any(value in shown for value in PERSONAL), template.message
            assert ELIDED not in shown, template.message     # every hidden part has other words on the list


# ---------------------------------------------------------------------------------------------
# the runner's description of a failed request


def cell_error(ename, evalue, exec_count=4):
    return PapermillExecutionError(cell_index=5, exec_count=exec_count, source="x", ename=ename, evalue=evalue,
                                   traceback=[f"{ename}: {evalue}"])


def test_a_failed_cell_with_the_lab_s_own_message_says_why():
    assert describe_error(cell_error("ValueError", "method must be one of ('radius', 'nearest')")) == (
        "PapermillExecutionError: ValueError: method must be one of radius, nearest (raised in cell 5, In [4])")
    problems = f"the upload cannot be analysed:\nSheet 1 row 2: {NAME}"
    assert describe_error(cell_error("UploadNotUsable", problems, exec_count=None)) == (
        "PapermillExecutionError: UploadNotUsable: the upload cannot be analysed: it has problems that block the "
        "request (jdl validate lists them) (raised in cell 5)")


def test_a_failed_cell_with_any_other_message_gives_the_class_only():
    assert describe_error(cell_error("ValueError", f"could not convert string to float: '{NAME}'")) == (
        "PapermillExecutionError: ValueError raised in cell 5 (In [4])")
    assert describe_error(cell_error("ValueError", f"method must be one of ('radius', 'nearest') {NAME}")) == (
        "PapermillExecutionError: ValueError raised in cell 5 (In [4])")
    assert describe_error(cell_error("KeyError", "radius matching needs a caliper")) == (
        "PapermillExecutionError: KeyError raised in cell 5 (In [4])")
    assert describe_error(cell_error("ValueError", "radius matching needs a caliper" + "!" * 10_000)) == (
        "PapermillExecutionError: ValueError raised in cell 5 (In [4])")
    # an ename that is not a class name is not repeated, and its message is not looked at
    assert describe_error(cell_error(f"{NAME} ValueError", "radius matching needs a caliper")) == (
        "PapermillExecutionError: an exception raised in cell 5 (In [4])")


def test_an_error_raised_in_this_process_says_why_only_with_the_lab_s_words():
    from jdl.stats.plan import NoComparison

    assert describe_error(NoComparison("no one in the comparison pool shares the values every treated person has"),
                          3) == ("NoComparison: no one in the comparison pool shares the values every treated "
                                 "person has in cell 3")
    assert describe_error(ValueError("radius matching needs a caliper")) == (
        "ValueError: radius matching needs a caliper")
    assert describe_error(ValueError(NAME)) == "ValueError"
    assert describe_error(ValueError("radius matching needs a caliper", NAME)) == "ValueError"   # two arguments
    assert describe_error(ValueError(42)) == "ValueError"


def test_no_description_holds_personal_data():
    for ename, evalue in [("ValueError", f"field 'upload' must name a file inside the uploads folder /{NAME} "
                                         "(symlinks resolved); it points elsewhere"),
                          ("ParamsError", f"{BORN}.yaml: option 'ratio' must be {OPTION_RULES['ratio']}"),
                          ("ValueError", NAME), ("UploadNotUsable", f"the upload cannot be analysed:\n{PNC}")]:
        text = describe_error(cell_error(ename, evalue))
        assert not re.search("|".join(map(re.escape, PERSONAL)), text), text
