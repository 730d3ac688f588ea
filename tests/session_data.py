"""Data built once per test session and shared, read-only, by the tests that need it (the
fixtures are in tests/conftest.py):

- the synthetic world: a 50,000-person national dataset with the synthetic programmes'
  submissions and their truth (:data:`WORLD_CONFIG`);
- the report month: one month of requests run through the real report template by ``jdl run``
  and summarised by ``jdl summary``, on that world. It holds every request whose published
  outputs the end-to-end tests read: two demo requests and a withdrawn one (tests/test_end_to_end.py),
  a request with hostile names (tests/test_hostile_end_to_end.py) and three crafted cases
  (tests/test_report_cases.py).

Under pytest-xdist the first worker to ask builds a folder in the session's shared temporary
folder while holding a file lock (the way pytest-xdist's documentation shares session data);
the other workers wait for it and then read the same copy. A digest of every file is taken when
the folder is built and checked again when the session ends: a test that changed shared data
fails the session. A test that writes must work on its own copy.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from filelock import FileLock

from fake_uploads import INTERVENTION

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "request_report.ipynb"
COMPLETE = ".complete"
DIGEST = ".digest.json"


# ---------------------------------------------------------------------------------------------
# building once, sharing between workers


def shared_folder(tmp_path_factory, name: str, build) -> Path:
    """The folder ``name`` of this test session, built by ``build(folder)`` the first time any
    process of the session asks for it (a file lock keeps the others waiting meanwhile). A
    folder left half-built by a failed build is built again. Its files' digest is recorded
    (see :func:`check_unchanged`)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent                      # shared by every worker of this session
    folder = base / name
    with FileLock(str(base / f"{name}.lock")):
        if not (folder / COMPLETE).exists():
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir()
            build(folder)
            (folder / DIGEST).write_text(json.dumps(digest(folder)))
            (folder / COMPLETE).touch()
    return folder


def digest(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` by relative path (symlinks by their target), but
    for the bookkeeping files."""
    found = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if relative in (COMPLETE, DIGEST):
            continue
        if path.is_symlink():
            found[relative] = "-> " + os.readlink(path)
        elif path.is_file():
            found[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def check_unchanged(folder: Path) -> None:
    """Raise AssertionError naming the files added, removed or changed in ``folder`` since it was built."""
    recorded, now = json.loads((folder / DIGEST).read_text()), digest(folder)
    changed = sorted(name for name in recorded.keys() | now.keys() if recorded.get(name) != now.get(name))
    assert not changed, f"tests changed the shared, read-only {folder.name}: {', '.join(changed[:20])}"


# ---------------------------------------------------------------------------------------------
# the synthetic world


def world_config():
    from jdl.synth.world import SynthConfig

    return SynthConfig(n_people=50_000)


@dataclass(frozen=True)
class World:
    """The shared synthetic world's files: ``national`` (the Parquet files and manifest),
    ``uploads`` (the programmes' submissions), ``truth`` (programmes.json and links/)."""

    root: Path

    @property
    def national(self) -> Path:
        return self.root / "data" / "national"

    @property
    def uploads(self) -> Path:
        return self.root / "data" / "uploads"

    @property
    def truth(self) -> Path:
        return self.root / "data" / "truth"

    @functools.cached_property
    def generated(self):
        """The generated world (jdl.synth.world.SyntheticWorld) these files were written from,
        generated again in this process: the same seed gives the same world."""
        from jdl.synth.world import generate

        return generate(world_config())


def build_world(folder: Path) -> None:
    from jdl.synth.world import synthesise

    world = World(folder)
    synthesise(world.national, world.uploads, world.truth / "programmes.json", world_config())


# ---------------------------------------------------------------------------------------------
# the report month

MONTH = "2014-01"


def demo_requests():
    from jdl.synth.demo import DemoRequest

    return (DemoRequest(MONTH, 1, "gateway-mentoring", "mentoring", "2013-10-14"),
            DemoRequest(MONTH, 2, "open-door-arts", "arts", "2013-11-25"),
            DemoRequest(MONTH, 3, "safe-harbour", "accommodation", "2013-12-02", status="withdrawn"))


# the request with hostile names: markup, Markdown links, file: URLs and TeX
HOSTILE_ID = f"{MONTH}-004"
ORGANISATION = '<iframe src="file:///etc/passwd"></iframe> & <img src=x onerror=alert(1)> Trust'
PROGRAMME = "[x](javascript:alert(1)) <b onmouseover=alert(1)>bold</b> <script>alert(1)</script> $\\frac{1}{0}$"
# the programme type is from a controlled list (jdl.run.requests.PROGRAMME_TYPES), so markup cannot get in
PROGRAMME_TYPE = "family"  # not a type another request of the month has (so nothing new is pooled)

# the crafted cases, by their number in tests/test_report_cases.py: the upload and the options
CASES = {1: ("ninety", {}), 2: ("seventy", {}), 3: ("ninety", {"method": "nearest", "ratio": 2, "caliper": 0.1})}


def case_id(number: int) -> str:
    return f"{MONTH}-{number + 4:03d}"


@dataclass(frozen=True)
class ReportMonth:
    """The shared report month: ``root`` the project (params/, data/uploads/, outputs/),
    ``national`` the shared world's national data, ``run`` and ``summary`` the exit code and
    output of ``jdl run`` and ``jdl summary`` (dicts with "exit_code" and "output")."""

    root: Path
    national: Path

    @property
    def out(self) -> Path:
        return self.root / "outputs" / MONTH

    @property
    def uploads(self) -> Path:
        return self.root / "data" / "uploads"

    def params(self, request_id: str) -> Path:
        return self.root / "params" / MONTH / f"{request_id}.yaml"

    def report(self, request_id: str) -> Path:
        return self.out / request_id

    @functools.cached_property
    def cli(self) -> dict:
        return json.loads((self.root / "cli.json").read_text())

    @property
    def run(self) -> dict:
        return self.cli["run"]

    @property
    def summary(self) -> dict:
        return self.cli["summary"]


def _fakes(n: int) -> list[dict]:
    """People who are in no national data (made-up names, no identifiers): "not found"."""
    return [{"surname": f"Testname{i}", "forename": "Nobody", "date_of_birth": dt.datetime(1979, 3, 1 + i),
             "sex": "M", "intervention_start": dt.datetime(2011, 6, 1), "setting": "community"} for i in range(n)]


def _rows(people: pd.DataFrame, orders: pd.DataFrame) -> list[dict]:
    chosen = orders.merge(people, on="person_id")
    return [{"surname": r.surname, "forename": r.forename, "pnc_id": r.pnc_id,
             "date_of_birth": dt.datetime.combine(r.date_of_birth, dt.time()), "sex": r.sex,
             "intervention_start": dt.datetime.combine(r.index_date, dt.time()), "setting": "community"}
            for r in chosen.itertuples()]


def write_crafted_uploads(national_dir: Path, uploads: Path) -> None:
    """ninety.xlsx (88 people found, 2 not) and seventy.xlsx (68 found with no custodial history,
    2 not): adults starting a community order in 2011 to mid 2012 with no earlier index event
    since 2010 (so the order running on the intervention start is this one; later events, which
    follow re-offending, are allowed), with every covariate known."""
    from jdl.cohort.measures import covariates
    from jdl.cohort.national import NationalData
    from jdl.upload.template import write_filled_template

    national = NationalData.open(national_dir)
    people = pd.read_parquet(national_dir / "people.parquet")
    events = pd.read_parquet(national_dir / "index_events.parquet")
    orders = events[(events["event_type"] == "community order start")
                    & (events["index_date"] >= dt.date(2011, 1, 1)) & (events["index_date"] <= dt.date(2012, 6, 30))]
    since = events[events["index_date"] >= dt.date(2010, 1, 1)].groupby("person_id")["index_date"].min()
    orders = orders[orders["person_id"].map(since) == orders["index_date"]]
    orders = orders[~orders.duplicated("person_id", keep=False)].set_index("event_id")
    known = covariates(national, orders.index)
    known = known[(known["age"] >= 19) & known.notna().all(axis=1)]
    orders = orders.loc[known.index].sort_index().reset_index()
    rng = np.random.default_rng(90)
    ninety = orders.iloc[np.sort(rng.choice(len(orders), 88, replace=False))]
    never_inside = orders[orders["event_id"].map(known["previous_custodial_sentences"]) == 0]
    seventy = never_inside.iloc[np.sort(rng.choice(len(never_inside), 68, replace=False))]
    write_filled_template(uploads / "ninety.xlsx", pd.DataFrame(_rows(people, ninety) + _fakes(2)), INTERVENTION)
    write_filled_template(uploads / "seventy.xlsx", pd.DataFrame(_rows(people, seventy) + _fakes(2)), INTERVENTION)


def month_params(world: World) -> dict[str, dict]:
    """The params of every request of the month, by id."""
    from jdl.synth.demo import DemoRequest, demo_params

    params = {request.id: demo_params(request) for request in demo_requests()}
    params[HOSTILE_ID] = {**demo_params(DemoRequest(MONTH, 4, "gateway-mentoring", "x", "2013-10-14")),
                          "organisation": ORGANISATION, "programme": PROGRAMME, "programme_type": PROGRAMME_TYPE}
    for number, (upload, options) in CASES.items():
        params[case_id(number)] = {"id": case_id(number), "organisation": "Crafted Cases Trust",
                                   "programme": f"Case {number}", "date_received": "2013-12-09",
                                   "setting": "community", "upload": f"data/uploads/{upload}.xlsx",
                                   **({"options": options} if options else {})}
    return params


def build_month(world: World, folder: Path) -> None:
    """The project of the report month in ``folder``: its uploads (copies of the world's, and
    the crafted ones), its params, then ``jdl run`` and ``jdl summary`` through the command line."""
    from click.testing import CliRunner

    from jdl.cli import main

    uploads = folder / "data" / "uploads"
    uploads.mkdir(parents=True, mode=0o700)
    params = month_params(world)
    for fields in params.values():
        source = world.root / fields["upload"]
        if source.exists():
            shutil.copy2(source, folder / fields["upload"])
    write_crafted_uploads(world.national, uploads)
    for request_id, fields in params.items():
        path = folder / "params" / MONTH / f"{request_id}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(fields, allow_unicode=True))
    runner = CliRunner()
    # the month by its name under --params (the folder's path is given in tests/test_runner.py)
    run = runner.invoke(main, ["run", MONTH, "--params", str(folder / "params"),
                               "--outputs", str(folder / "outputs"), "--national", str(world.national),
                               "--notebook", str(NOTEBOOK)])
    summary = runner.invoke(main, ["summary", MONTH, "--params", str(folder / "params"),
                                   "--outputs", str(folder / "outputs")])
    (folder / "cli.json").write_text(json.dumps({
        name: {"exit_code": result.exit_code, "output": result.output,
               "exception": None if result.exception is None or isinstance(result.exception, SystemExit)
               else type(result.exception).__name__}
        for name, result in (("run", run), ("summary", summary))}))
