"""The ``jdl`` command line: a thin layer over the package's functions."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.group()
@click.version_option(package_name="jdl")
def main() -> None:
    """Justice Data Lab: synthetic data, upload templates, validation and reports."""


@main.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def template(path: Path) -> None:
    """Write the blank Data Upload Template (.xlsx) to PATH."""
    from jdl.template import write_template

    written = write_template(path)
    click.echo(f"wrote the blank Data Upload Template to {written}")


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--national", "national_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="National data folder whose data window to check dates against.")
def validate(path: Path, national_dir: Path | None) -> None:
    """Check a filled Data Upload Template (.xlsx or .csv) at PATH.

    Prints every problem with sheet, row and column and exits 1, or prints a one-line
    summary and exits 0. Never prints a value from the file.
    """
    from jdl.validate import validate_upload
    from jdl.window import DataWindow

    window = DataWindow.from_national(national_dir) if national_dir else None
    result = validate_upload(path, window=window)
    for line in result.problem_lines():
        click.echo(line)
    click.echo(result.summary())
    sys.exit(0 if result.ok else 1)


DEFAULT_NATIONAL = Path("data/national")
DEFAULT_UPLOADS = Path("data/uploads")
DEFAULT_TRUTH = Path("data/truth/programmes.json")


@main.command()
@click.option("--people", "n_people", type=click.IntRange(min=1000), default=None,
              help="Number of people in the national data (default 200,000).")
@click.option("--seed", type=int, default=None, help="Random seed (default 20130401).")
@click.option("--out", "national_dir", type=click.Path(file_okay=False, path_type=Path),
              default=DEFAULT_NATIONAL, show_default=True, help="Where the national Parquet files go.")
@click.option("--uploads", "uploads_dir", type=click.Path(file_okay=False, path_type=Path),
              default=DEFAULT_UPLOADS, show_default=True, help="Where the programmes' submissions go.")
@click.option("--truth", "truth_path", type=click.Path(dir_okay=False, path_type=Path),
              default=DEFAULT_TRUTH, show_default=True,
              help="Where the programmes' true effects go (read only by tests and benchmarks).")
def synth(n_people: int | None, seed: int | None, national_dir: Path, uploads_dir: Path, truth_path: Path) -> None:
    """Write the synthetic national data, the synthetic programmes' submissions and their true effects."""
    import time

    from jdl.synth import SynthConfig, synthesise

    config = SynthConfig(**{k: v for k, v in {"n_people": n_people, "seed": seed}.items() if v is not None})
    started = time.perf_counter()
    world = synthesise(national_dir, uploads_dir, truth_path, config)
    rows = ", ".join(f"{name} {table.num_rows:,}" for name, table in world.tables.items())
    click.echo(f"national data ({config.n_people:,} people, seed {config.seed}) in {national_dir}: {rows}")
    click.echo(f"submissions of {len(world.participants)} programmes in {uploads_dir}")
    click.echo(f"done in {time.perf_counter() - started:.1f} s")


@main.command()
@click.option("--national", "national_dir", type=click.Path(file_okay=False, path_type=Path),
              default=DEFAULT_NATIONAL, show_default=True)
@click.option("--uploads", "uploads_dir", type=click.Path(file_okay=False, path_type=Path),
              default=DEFAULT_UPLOADS, show_default=True)
def demo(national_dir: Path, uploads_dir: Path) -> None:
    """The monthly report set on the built-in synthetic data.

    Builds the synthetic national data and submissions if they are absent, then checks every
    submission. (Linkage, matching and the reports are added by later stages.)
    """
    from jdl.synth import SynthConfig, synthesise
    from jdl.validate import validate_upload
    from jdl.window import DataWindow

    if not (national_dir / "manifest.json").exists() or not uploads_dir.is_dir():
        click.echo("building the synthetic national data and submissions ...")
        synthesise(national_dir, uploads_dir, national_dir.parent / "truth" / "programmes.json", SynthConfig())
    window = DataWindow.from_national(national_dir)
    uploads = sorted(p for p in uploads_dir.iterdir() if p.suffix.lower() in (".xlsx", ".csv"))
    click.echo(f"checking {len(uploads)} submissions in {uploads_dir} (data window {window.start} to {window.end}):")
    for path in uploads:
        click.echo("  " + validate_upload(path, window=window).summary())
    click.echo(f"national data: {national_dir}; submissions: {uploads_dir}; "
               f"details of any submission: jdl validate PATH")


if __name__ == "__main__":
    main()
