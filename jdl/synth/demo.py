"""The demo pilot: three months of requests about the synthetic programmes (jdl.synth.world.PROGRAMMES),
written as params files so that ``jdl demo`` runs the monthly report set end to end.

The pilot has a request under the minimum criteria (Open Door Arts, 48 people) and a withdrawn
request, as the real pilot had. Programme types are shared so that the bulletin's evidence library
pools some of them: two "mentoring and support" and two "education and employment" results.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from jdl.atomic import write_text_atomically
from jdl.contract import PARAMS_STATUSES, Status
from jdl.run.settings import write_default_settings


@dataclass(frozen=True)
class DemoRequest:
    """One demo request: its month, number in the month, the synthetic programme's slug, the
    programme type, the date received and the status."""

    month: str
    number: int
    slug: str
    programme_type: str
    date_received: str
    status: Status = Status.RECEIVED

    def __post_init__(self):
        if self.status not in PARAMS_STATUSES:
            raise ValueError(f"a demo request's status must be one of {', '.join(PARAMS_STATUSES)}")
        object.__setattr__(self, "status", Status(self.status))

    @property
    def id(self) -> str:
        return f"{self.month}-{self.number:03d}"


DEMO_PILOT = (
    DemoRequest("2014-01", 1, "gateway-mentoring", "mentoring and support", "2013-10-14"),
    DemoRequest("2014-01", 2, "womens-centre", "mentoring and support", "2013-10-30"),
    DemoRequest("2014-02", 1, "learning-inside", "education and employment", "2013-11-18"),
    DemoRequest("2014-02", 2, "open-door-arts", "arts", "2013-11-25"),
    DemoRequest("2014-02", 3, "safe-harbour", "accommodation", "2013-12-02", status=Status.WITHDRAWN),
    DemoRequest("2014-03", 1, "work-ready", "education and employment", "2013-12-09"),
    DemoRequest("2014-03", 2, "short-sharp-challenge", "behaviour programme", "2013-12-16"),
    DemoRequest("2014-03", 3, "safe-harbour", "accommodation", "2014-01-06"),
)
MONTHS = tuple(sorted({r.month for r in DEMO_PILOT}))


def demo_params(request: DemoRequest, uploads_dir: str = "data/uploads") -> dict:
    """The params file content of a demo request (organisation and programme names, setting and
    upload file from jdl.synth.world.PROGRAMMES)."""
    from jdl.synth.world import PROGRAMMES

    programme = {p.slug: p for p in PROGRAMMES}[request.slug]
    extension = "csv" if programme.file_format == "csv" else "xlsx"
    params = {"id": request.id, "organisation": programme.organisation, "programme": programme.name,
              "programme_type": request.programme_type, "date_received": request.date_received,
              "upload": f"{uploads_dir}/{request.slug}.{extension}", "setting": programme.setting}
    if request.status != Status.RECEIVED:
        params["status"] = request.status.value
    return params


def write_demo_params(params_root: Path, uploads_dir: str = "data/uploads") -> list[Path]:
    """Write the demo pilot's params files under ``params_root/<month>/<id>.yaml`` (replacing
    files of the same name; leaving other files alone) and return their paths; also the default
    settings (``params_root/settings.yaml``, :mod:`jdl.run.settings`) when there are none."""
    written = []
    for request in DEMO_PILOT:
        path = Path(params_root) / request.month / f"{request.id}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        text = "# demo pilot request (written by `jdl demo`)\n" + yaml.safe_dump(
            demo_params(request, uploads_dir), sort_keys=False, allow_unicode=True)
        write_text_atomically(path, text)
        written.append(path)
    write_default_settings(params_root)      # the reports' contact and status, unless set already
    return written


def demo_uploads(uploads_dir: str | Path = "data/uploads") -> list[Path]:
    """The upload files the demo pilot's requests name, each once, in pilot order."""
    paths = [Path(demo_params(request, Path(uploads_dir).as_posix())["upload"]) for request in DEMO_PILOT]
    return list(dict.fromkeys(paths))


def missing_demo_uploads(uploads_dir: str | Path = "data/uploads") -> list[Path]:
    """The demo pilot's upload files that are not there: after ``jdl purge`` has deleted the
    uploads of published requests, the pilot cannot run again until ``jdl synth`` rewrites them."""
    return [path for path in demo_uploads(uploads_dir) if not path.is_file()]

