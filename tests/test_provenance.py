"""Provenance for reviewers (jdl.report.provenance): what ran, on which data, when; exact values."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from nbconvert.filters.markdown_mistune import markdown2html_mistune

import jdl
from jdl.report import provenance as prov
from jdl.report.provenance import provenance, provenance_markdown
from national_builder import build_national

# SHA-256 of b"abc" (FIPS 180-2, appendix B.1): a digest known independently of hashlib
ABC_SHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
NATIONAL_FILES = ["benefits.parquet", "employment.parquet", "index_events.parquet", "manifest.json",
                  "oasys.parquet", "offences.parquet", "people.parquet"]
# an upload's content: a header, a name, a date of birth and ids that must never reach the record
UPLOAD_CONTENT = (b"surname_qzx,forename_qzx,date_of_birth_qzx,pnc_id_qzx\n"
                  b"Xylqwertovic,Vumbrickshaw,1971-03-09,QZ99/123456X\n")
PARAMS = {"request_id": "2014-01-001", "organisation": "Northern Resettlement Trust",
          "programme": "Gateway Mentoring", "programme_type": "mentoring and support",
          "date_received": dt.date(2013, 10, 14), "setting": "custody",
          "options": {"method": "nearest", "ratio": np.int64(2), "exact": ("sex",)},
          # not recorded: paths and anything else
          "upload_path": "/srv/uploads/upload.csv", "national_dir": "/srv/national", "uploads_dir": "/srv/uploads"}
NOW = dt.datetime(2014, 7, 1, 10, 30, 15, 123456, tzinfo=dt.timezone(dt.timedelta(hours=1)))
HOSTILE = ("<script>alert(1)</script>", "[x](javascript:y)", "a | b\n# heading", "![i](http://e.example/p.png)")


@pytest.fixture
def national(tmp_path) -> Path:
    folder = tmp_path / "national"
    build_national(folder, people=[{"person_id": 1}], events=[{"event_id": 1, "person_id": 1,
                                                              "index_date": dt.date(2010, 1, 1),
                                                              "sentence_date": dt.date(2009, 7, 1),
                                                              "episode_end": dt.date(2010, 1, 1)}])
    return folder


@pytest.fixture
def upload(tmp_path) -> Path:
    path = tmp_path / "uploads" / "upload.csv"
    path.parent.mkdir()
    path.write_bytes(UPLOAD_CONTENT)
    return path


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def expected_national(folder: Path) -> tuple[list[dict], str]:
    """The national files' entries and combined digest, computed independently: whole-file
    hashlib digests and the ``sha256sum`` listing written out by hand."""
    files = [{"name": n, "bytes": len((folder / n).read_bytes()), "sha256": sha256((folder / n).read_bytes())}
             for n in NATIONAL_FILES]
    listing = "".join(f"{f['sha256']}  {f['name']}\n" for f in files)
    return files, sha256(listing.encode())


# ---------------------------------------------------------------- the record


def test_the_record_holds_exactly_what_ran_on_which_data_and_when(national, upload):
    info = provenance(upload, national, PARAMS, now=NOW)
    files, combined = expected_national(national)
    assert set(info) == {"run_at", "jdl", "libraries", "national", "upload", "params"}
    assert info["run_at"] == "2014-07-01T09:30:15+00:00"
    assert info["jdl"]["version"] == jdl.__version__ == "0.1.0"
    assert info["upload"] == {"name": "upload.csv", "bytes": 104, "sha256": sha256(UPLOAD_CONTENT)}
    assert len(UPLOAD_CONTENT) == 104
    assert info["national"] == {"manifest": {"extract_date": "2014-06-30", "window_start": "2002-01-01"},
                                "sha256": combined, "files": files}
    assert [f["name"] for f in info["national"]["files"]] == NATIONAL_FILES
    assert info["national"]["files"][3]["bytes"] == len(
        json.dumps({"extract_date": "2014-06-30", "window_start": "2002-01-01"}))
    assert info["params"] == {"request_id": "2014-01-001", "organisation": "Northern Resettlement Trust",
                              "programme": "Gateway Mentoring", "programme_type": "mentoring and support",
                              "date_received": "2013-10-14", "setting": "custody",
                              "options": {"method": "nearest", "ratio": 2, "exact": ["sex"]}}
    assert type(info["params"]["options"]["ratio"]) is int
    assert list(info["libraries"]) == ["python", "pandas", "numpy", "statsmodels", "scipy", "duckdb", "pyarrow",
                                       "papermill", "nbconvert", "scrapbook", "matplotlib", "seaborn"]
    assert info["libraries"]["python"] == platform.python_version()
    assert info["libraries"]["pandas"] == pd.__version__
    assert info["libraries"]["numpy"] == np.__version__
    assert "not installed" not in info["libraries"].values()
    # JSON-ready: a round trip changes nothing, and the annex reads the same from either
    assert json.loads(json.dumps(info, allow_nan=False)) == info
    assert provenance_markdown(json.loads(json.dumps(info))) == provenance_markdown(info)


def test_known_digest_and_the_whole_manifest_as_written(tmp_path, national):
    path = tmp_path / "abc.xlsx"
    path.write_bytes(b"abc")
    manifest = {"schema_version": 1, "seed": 20130401, "n_people": 2000, "extract_date": "2014-06-30",
                "window_start": "2002-01-01", "tables": {"people": 1}}
    (national / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    info = provenance(path, national, now=NOW)
    assert info["upload"] == {"name": "abc.xlsx", "bytes": 3, "sha256": ABC_SHA256}
    assert info["national"]["manifest"] == manifest
    assert info["params"] == {}
    assert info["national"]["sha256"] == expected_national(national)[1]


def test_the_national_digest_is_what_sha256sum_prints_piped_to_sha256sum(national, upload):
    if shutil.which("sha256sum") is None:
        pytest.skip("no sha256sum here")
    listing = subprocess.run(["sha256sum", *NATIONAL_FILES], cwd=national, capture_output=True, check=True).stdout
    assert provenance(upload, national)["national"]["sha256"] == sha256(listing)


def test_only_the_files_the_lab_reads_are_hashed_and_each_byte_counts(national, upload):
    before = provenance(upload, national, now=NOW)["national"]
    (national / "notes.txt").write_text("not national data")
    (national / ".DS_Store").write_bytes(b"\0")
    assert provenance(upload, national, now=NOW)["national"] == before
    people = national / "people.parquet"
    people.write_bytes(people.read_bytes() + b"\0")
    after = provenance(upload, national, now=NOW)["national"]
    assert after["sha256"] != before["sha256"]
    assert after["files"][6]["bytes"] == before["files"][6]["bytes"] + 1
    assert after["files"][:6] == before["files"][:6]


def test_a_missing_national_file_or_upload_is_named(national, upload, tmp_path):
    (national / "oasys.parquet").unlink()
    with pytest.raises(FileNotFoundError, match=r"lacks: oasys\.parquet"):
        provenance(upload, national)
    with pytest.raises(FileNotFoundError):
        provenance(tmp_path / "absent.xlsx", tmp_path)


# ---------------------------------------------------------------- the run time


def test_now_is_injected_and_given_in_utc(national, upload):
    assert provenance(upload, national, now=NOW)["run_at"] == "2014-07-01T09:30:15+00:00"
    naive = dt.datetime(2014, 7, 1, 9, 30, 15)       # taken to be UTC already
    assert provenance(upload, national, now=naive)["run_at"] == "2014-07-01T09:30:15+00:00"


def test_now_defaults_to_the_current_utc_time(national, upload):
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    run_at = dt.datetime.fromisoformat(provenance(upload, national)["run_at"])
    after = dt.datetime.now(dt.timezone.utc)
    assert run_at.utcoffset() == dt.timedelta(0)
    assert before <= run_at <= after


# ---------------------------------------------------------------- the git commit


def test_the_commit_is_unknown_when_git_gives_nothing(monkeypatch, national, upload):
    monkeypatch.setattr(prov, "_git", lambda args, cwd: None)
    info = provenance(upload, national, now=NOW)
    assert info["jdl"] == {"version": "0.1.0", "commit": "unknown", "dirty": "unknown"}
    assert ("| jdl | version 0\\.1\\.0; git commit unknown (not run from a git checkout, or git unavailable) |"
            in provenance_markdown(info))


def test_the_commit_is_unknown_when_git_is_absent(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert prov.source_commit() == {"commit": "unknown", "dirty": "unknown"}


def test_git_is_called_with_a_timeout_and_a_timeout_never_fails(monkeypatch):
    calls = []

    def slow(args, **kwargs):
        calls.append((args, kwargs))
        raise subprocess.TimeoutExpired(args, kwargs.get("timeout"))

    monkeypatch.setattr(prov.subprocess, "run", slow)
    assert prov.source_commit() == {"commit": "unknown", "dirty": "unknown"}
    assert calls and all(kw["timeout"] == prov.GIT_TIMEOUT > 0 for _, kw in calls)
    assert all(kw["stdin"] is subprocess.DEVNULL and kw["capture_output"] for _, kw in calls)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=Test", "-c", "user.email=test@example.invalid",
                           "-c", "commit.gpgsign=false", *args], cwd=cwd, capture_output=True, check=True,
                          text=True, timeout=60).stdout.strip()


@pytest.fixture
def checkout(tmp_path) -> Path:
    """A git checkout holding a committed package folder ``pkg``."""
    if shutil.which("git") is None:
        pytest.skip("no git here")
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "__init__.py").write_text("")
    (repo / ".gitignore").write_text("venv/\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "one")
    return repo


def test_the_commit_and_working_tree_state_of_a_checkout(checkout):
    head = git(checkout, "rev-parse", "HEAD")
    assert re.fullmatch(r"[0-9a-f]{40}", head)
    assert prov.source_commit(checkout / "pkg") == {"commit": head, "dirty": False}
    (checkout / "pkg" / "__init__.py").write_text("x = 1\n")
    assert prov.source_commit(checkout / "pkg") == {"commit": head, "dirty": True}
    git(checkout, "commit", "-q", "-am", "two")
    assert prov.source_commit(checkout / "pkg") == {"commit": git(checkout, "rev-parse", "HEAD"), "dirty": False}
    (checkout / "pkg" / "new.py").write_text("")          # untracked source changes what runs
    assert prov.source_commit(checkout / "pkg")["dirty"] is True


def test_a_package_installed_inside_another_checkout_has_no_commit(checkout):
    installed = checkout / "venv" / "lib" / "site-packages" / "pkg"   # ignored, untracked
    installed.mkdir(parents=True)
    (installed / "__init__.py").write_text("")
    assert prov.source_commit(installed) == {"commit": "unknown", "dirty": "unknown"}


def test_a_folder_outside_any_checkout_has_no_commit(tmp_path):
    folder = tmp_path / "wheel" / "pkg"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    assert prov.source_commit(folder) == {"commit": "unknown", "dirty": "unknown"}
    assert prov.source_commit(tmp_path / "absent") == {"commit": "unknown", "dirty": "unknown"}


def test_this_checkouts_commit_when_jdl_runs_from_one():
    source = Path(prov.__file__).resolve().parents[2]
    try:
        head = git(source, "rev-parse", "HEAD")
        git(source, "ls-files", "--error-unmatch", "--", "jdl/__init__.py")
    except (OSError, subprocess.SubprocessError):
        pytest.skip("jdl is not run from a git checkout here")
    found = prov.source_commit()
    assert found["commit"] == head
    assert found["dirty"] in (True, False)


# ---------------------------------------------------------------- the upload is only hashed


def test_no_byte_of_the_upload_reaches_the_record_the_annex_or_the_console(national, upload, capsys, caplog):
    info = provenance(upload, national, PARAMS, now=NOW)
    text = json.dumps(info) + "\n" + provenance_markdown(info)
    content = UPLOAD_CONTENT.decode()
    windows = {content[i:i + 6] for i in range(len(content) - 5)} - {"\n"}
    assert not [w for w in windows if w in text]
    for token in ("qzx", "Xylqwertovic", "Vumbrickshaw", "1971-03-09", "1971", "QZ99", "123456X"):
        assert token not in text
    out, err = capsys.readouterr()
    assert out == err == "" and not caplog.records


def test_a_workbook_is_hashed_never_opened_as_a_workbook(tmp_path, national, monkeypatch):
    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.active.title = "Qzxsheet"
    workbook.active.append(["Qzxheader", "date_of_birth"])
    workbook.active.append(["Qzxname", dt.date(1971, 3, 9)])
    path = tmp_path / "gateway.xlsx"
    workbook.save(path)

    def refuse(*args, **kwargs):
        raise AssertionError("the upload was read as data")

    for module, name in ((openpyxl, "load_workbook"), (pd, "read_excel"), (pd, "read_csv"), (pd, "ExcelFile")):
        monkeypatch.setattr(module, name, refuse)
    info = provenance(path, national, now=NOW)
    assert info["upload"] == {"name": "gateway.xlsx", "bytes": path.stat().st_size,
                              "sha256": sha256(path.read_bytes())}
    text = json.dumps(info) + provenance_markdown(info)
    assert "qzx" not in text.lower()


# ---------------------------------------------------------------- reading in chunks


class SpyFile:
    def __init__(self, f, reads: list):
        self._f, self._reads = f, reads

    def read(self, n=-1):
        self._reads.append(n)
        return self._f.read(n)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


def spy_on_open(monkeypatch) -> dict:
    """Every file jdl.report.provenance hashes, with the sizes of its reads."""
    reads: dict[str, list] = {}

    def spy_open(path, mode="r", *args, **kwargs):
        assert mode == "rb"
        return SpyFile(open(path, mode, *args, **kwargs), reads.setdefault(Path(path).name, []))

    monkeypatch.setattr(prov, "open", spy_open, raising=False)
    return reads


def test_a_file_bigger_than_a_chunk_is_read_a_chunk_at_a_time(tmp_path, national, monkeypatch):
    assert prov.CHUNK_SIZE == 1 << 20
    data = bytes(range(256)) * (2 * prov.CHUNK_SIZE // 256) + b"tail"
    path = tmp_path / "big.xlsx"
    path.write_bytes(data)
    reads = spy_on_open(monkeypatch)
    info = provenance(path, national, now=NOW)
    assert info["upload"] == {"name": "big.xlsx", "bytes": 2 * prov.CHUNK_SIZE + 4, "sha256": sha256(data)}
    # three chunks (1 MiB, 1 MiB, 4 bytes) and the empty read that ends the file; never the whole file
    assert reads["big.xlsx"] == [prov.CHUNK_SIZE] * 4
    assert sorted(reads) == sorted(NATIONAL_FILES + ["big.xlsx"])
    assert all(n == prov.CHUNK_SIZE for sizes in reads.values() for n in sizes)


def test_small_chunks_give_the_same_digests(monkeypatch, national, upload):
    whole = provenance(upload, national, now=NOW)
    monkeypatch.setattr(prov, "CHUNK_SIZE", 7)
    reads = spy_on_open(monkeypatch)
    chunked = provenance(upload, national, now=NOW)
    assert chunked == whole
    assert reads["upload.csv"] == [7] * (104 // 7 + 2)       # 14 full chunks, 6 bytes, then end of file


# ---------------------------------------------------------------- the annex


INFO = {
    "run_at": "2014-07-01T09:30:15+00:00",
    "jdl": {"version": "0.1.0", "commit": "0123456789abcdef0123456789abcdef01234567", "dirty": False},
    "libraries": {"python": "3.11.7", "pandas": "2.2.3"},
    "national": {"manifest": {"seed": 7, "extract_date": "2014-06-30", "tables": {"people": 2000}},
                 "sha256": "f" * 64,
                 "files": [{"name": "manifest.json", "bytes": 1234, "sha256": "a" * 64},
                           {"name": "people.parquet", "bytes": 56, "sha256": "b" * 64}]},
    "upload": {"name": "gateway-mentoring.xlsx", "bytes": 48662, "sha256": "c" * 64},
    "params": {"request_id": "2014-01-001", "organisation": "Safe Harbour", "options": {"ratio": 2}},
}


def test_the_annex_exactly():
    assert provenance_markdown(INFO) == "\n".join([
        "| item | value |",
        "|---|---|",
        "| Run at (UTC) | 2014\\-07\\-01T09\\:30\\:15\\+00\\:00 |",
        "| jdl | version 0\\.1\\.0; git commit 0123456789abcdef0123456789abcdef01234567 (clean working tree) |",
        "| Python and libraries | python 3\\.11\\.7; pandas 2\\.2\\.3 |",
        "| Request | request\\_id 2014\\-01\\-001; organisation Safe Harbour; options \\{\\\"ratio\\\"\\: 2\\} |",
        "| Upload | gateway\\-mentoring\\.xlsx: 48,662 bytes, SHA-256 " + "c" * 64 + " |",
        "| National data manifest | seed 7; extract\\_date 2014\\-06\\-30; tables \\{\\\"people\\\"\\: 2000\\} |",
        "| National data SHA-256 | " + "f" * 64 + " |",
        "",
        "The national data SHA-256 is the SHA-256 of the lines \"file SHA-256, two spaces, file name\" for these "
        "files in order of name, as the `sha256sum` command prints them:",
        "",
        "| file | size | SHA-256 |",
        "|---|---:|---|",
        "| manifest\\.json | 1,234 bytes | " + "a" * 64 + " |",
        "| people\\.parquet | 56 bytes | " + "b" * 64 + " |",
        "",
    ])


def test_the_annex_says_when_the_tree_was_dirty_or_its_state_unknown():
    dirty = {**INFO, "jdl": {**INFO["jdl"], "dirty": True}}
    assert "(with uncommitted changes in the working tree)" in provenance_markdown(dirty)
    unknown = {**INFO, "jdl": {**INFO["jdl"], "dirty": "unknown"}}
    assert "(working tree state unknown)" in provenance_markdown(unknown)
    assert "| National data manifest | none |" in provenance_markdown(
        {**INFO, "national": {**INFO["national"], "manifest": None}})


class Tags(HTMLParser):
    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags, self.text, self.rows = [], [], []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "tr":
            self.rows.append(0)
        elif tag in ("td", "th"):
            self.rows[-1] += 1

    def handle_data(self, data):
        self.text.append(data)


def test_hostile_names_show_as_text_and_never_as_markup(tmp_path, national):
    hostile_params = {**PARAMS, "organisation": HOSTILE[0], "programme": HOSTILE[1], "programme_type": HOSTILE[2],
                      "options": {"note": HOSTILE[3]}}
    manifest = {"extract_date": "2014-06-30", "window_start": "2002-01-01", HOSTILE[0]: HOSTILE[1]}
    (national / "manifest.json").write_text(json.dumps(manifest))
    path = tmp_path / "[x](javascript:y) <b>.csv"
    path.write_bytes(b"abc")
    markdown = provenance_markdown(provenance(path, national, hostile_params, now=NOW))
    assert "\\<script\\>alert\\(1\\)\\<\\/script\\>" in markdown
    assert "\\[x\\]\\(javascript\\:y\\)" in markdown
    page = Tags(markdown2html_mistune(markdown))
    assert {tag for tag, _ in page.tags} <= {"table", "thead", "tbody", "tr", "th", "td", "p", "code"}
    assert not [attrs for _, attrs in page.tags if set(attrs) - {"style"}]
    assert page.rows == [2] * 8 + [3] * 8               # no cell split by a "|" from outside
    text = "".join(page.text)
    assert "<script>alert(1)</script>" in text
    assert "[x](javascript:y)" in text
    assert "[x](javascript:y) <b>.csv: 3 bytes, SHA-256 " + ABC_SHA256 in text
    assert "a | b # heading" in text
    assert "![i](http://e.example/p.png)" in text


def test_the_bulletin_states_what_ran_and_when(monkeypatch):
    monkeypatch.setattr(prov, "source_commit", lambda package_dir=None: {"commit": "a" * 40, "dirty": False})
    info = prov.software(dt.datetime(2014, 7, 1, 9, 30, tzinfo=dt.timezone.utc))
    assert list(info) == ["run_at", "jdl", "libraries"]
    assert info["run_at"] == "2014-07-01T09:30:00+00:00"
    assert info["jdl"] == {"version": jdl.__version__, "commit": "a" * 40, "dirty": False}
    assert info["libraries"]["python"] == platform.python_version()
    table = prov.software_markdown(info).splitlines()
    assert table[:3] == ["| item | value |", "|---|---|", "| Run at (UTC) | 2014\\-07\\-01T09\\:30\\:00\\+00\\:00 |"]
    version = jdl.__version__.replace(".", "\\.")
    assert table[3] == f"| jdl | version {version}; git commit {'a' * 40} (clean working tree) |"
    assert table[4].startswith("| Python and libraries | python ") and len(table) == 5
