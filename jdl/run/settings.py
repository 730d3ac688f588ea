"""The lab's settings: what every report states about itself (contact, status), kept in
``settings.yaml`` in the params folder (``params/settings.yaml``) beside the months' folders.

::

    # params/settings.yaml
    contact: Justice Data Lab team            # who answers questions about the reports
    email: justice.datalab@example.org        # their address (optional)
    status: Official statistics in development

Every key is optional (a missing one takes its default, :data:`jdl.report.about.DEFAULT_SETTINGS`);
no other key is allowed. The file is at most :data:`MAX_SETTINGS_BYTES` bytes; each value is text
checked by :func:`jdl.run.requests.check_text` (at most 200 characters, no control or invisible
character); an email is one ``name@host``. Problems raise :class:`SettingsError` naming the file
and the field, never quoting the value. No file: the defaults. ``jdl demo`` writes the defaults
when there is no file (:func:`write_default_settings`).
"""

from __future__ import annotations

import re
from dataclasses import asdict, fields
from pathlib import Path

import yaml

from jdl.atomic import write_text_atomically
from jdl.report.about import DEFAULT_SETTINGS, ReportSettings
from jdl.run.requests import check_text

SETTINGS_FILE = "settings.yaml"
MAX_SETTINGS_BYTES = 16 * 1024
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class SettingsError(ValueError):
    """A settings file that cannot be used: says which file and which field."""


def settings_path(params_root: str | Path = "params") -> Path:
    """Where the settings of the params folder ``params_root`` are."""
    return Path(params_root) / SETTINGS_FILE


def load_settings(path: str | Path) -> ReportSettings:
    """The settings in ``path`` (a YAML mapping; see the module's docstring), or the defaults when
    there is no such file. Raises :class:`SettingsError` for a file too large, not a mapping, with
    an unknown key or a value that is not acceptable text."""
    path = Path(path)
    if not path.is_file():
        return DEFAULT_SETTINGS
    size = path.stat().st_size
    if size > MAX_SETTINGS_BYTES:
        raise SettingsError(f"{path}: the settings file is {size:,} bytes; the limit is {MAX_SETTINGS_BYTES:,}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise SettingsError(f"{path}: not a readable YAML file ({type(error).__name__})") from None
    if raw is None:
        return DEFAULT_SETTINGS
    if not isinstance(raw, dict):
        raise SettingsError(f"{path}: the settings must be a mapping of field: value")
    known = [f.name for f in fields(ReportSettings)]
    unknown = sorted(str(k) for k in raw if k not in known)
    if unknown:
        raise SettingsError(f"{path}: unknown field(s) {', '.join(repr(k[:40]) for k in unknown)}; "
                            f"the fields are {', '.join(known)}")
    values = {}
    for name, value in raw.items():
        if value is None and name == "email":
            values[name] = None
            continue
        if not isinstance(value, str) or not value.strip():
            raise SettingsError(f"{path}: field '{name}' must be non-empty text")
        try:
            values[name] = check_text(value.strip(), name)
        except ValueError as error:
            raise SettingsError(f"{path}: {error}") from None
        if name == "email" and not _EMAIL.match(values[name]):
            raise SettingsError(f"{path}: field 'email' is not an email address (name@host)")
    return ReportSettings(**values)


def write_default_settings(params_root: str | Path) -> Path | None:
    """Write the default settings to ``params_root/settings.yaml`` unless a file is there; returns
    the path written, or None when one was there already."""
    path = settings_path(params_root)
    if path.exists():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    text = ("# What every report states about itself (see jdl/run/settings.py): who to contact, and the\n"
            "# statistics' status. Written by `jdl demo`; edit to suit.\n"
            + yaml.safe_dump(asdict(DEFAULT_SETTINGS), sort_keys=False, allow_unicode=True))
    write_text_atomically(path, text)
    return path
