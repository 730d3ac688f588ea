"""The ``jdl`` command line: a thin layer over the package's functions."""

from __future__ import annotations

import datetime as dt
import os
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
    from jdl.upload.template import write_template

    written = write_template(path)
    click.echo(f"wrote the blank Data Upload Template to {written}")


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--national", "national_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="National data folder whose data window to check dates against.")
@click.option("--setting", type=click.Choice(["custody", "community"]), default=None,
              help="The request's setting, for rows that give none (default: the Intervention sheet's answer).")
def validate(path: Path, national_dir: Path | None, setting: str | None) -> None:
    """Check a filled Data Upload Template (.xlsx or .csv) at PATH.

    Prints every problem with sheet, row and column (errors, and warnings such as dates that put
    the index event outside the data window or make a one-year follow-up unlikely), then a
    one-line summary; exits 1 when an error blocks the request, else 0. Never prints a value from
    the file.
    """
    from jdl.upload.validate import validate_upload
    from jdl.window import DataWindow

    window = DataWindow.from_national(national_dir) if national_dir else None
    result = validate_upload(path, window=window, setting=setting)
    for line in result.problem_lines():
        click.echo(line)
    click.echo(result.summary())
    sys.exit(0 if result.ok else 1)


DEFAULT_NATIONAL = Path("data/national")
DEFAULT_UPLOADS = Path("data/uploads")
DEFAULT_TRUTH = Path("data/truth/programmes.json")
DEFAULT_PARAMS = Path("params")
MONTH_HELP = ("MONTH is a month's name, e.g. 2014-03: its requests are the params files in PARAMS/MONTH "
              "(params/2014-03 by default). A path to that folder (params/2014-03) works too; --params is "
              "then not needed.")


def month_folder(ctx: click.Context, month: str, params_root: Path) -> tuple[Path, str]:
    """``jdl run`` and ``jdl summary`` take the month the same way: a month's name (``2014-03``,
    under ``--params``, default ``params``) or a path to the month's params folder
    (``params/2014-03``, anything holding a path separator). Returns the params folder holding
    the month's folder and the month's name. A path with an explicit ``--params`` is a usage
    error (the two would disagree)."""
    separators = {os.sep, *((os.altsep,) if os.altsep else ())}
    if not any(separator in month for separator in separators):
        if month in ("", ".", ".."):
            raise click.BadParameter(f"'{month}' is not a month: give one such as 2014-03", param_hint="MONTH")
        return params_root, month
    if ctx.get_parameter_source("params_root") is not click.core.ParameterSource.DEFAULT:
        raise click.UsageError(f"{month} is a folder's path; give a month's name (e.g. 2014-03) with --params, "
                               "or the folder's path without --params")
    folder = Path(month)
    if folder.name in ("", ".", ".."):
        folder = folder.resolve()
    return folder.parent, folder.name


def _params_option(func):
    return click.option("--params", "params_root", type=click.Path(file_okay=False, path_type=Path),
                        default=DEFAULT_PARAMS, show_default=True,
                        help="The params folder: one sub-folder a month, one YAML file a request.")(func)


def _check_people(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    from jdl.synth.world import MIN_PEOPLE

    if value is not None and value < MIN_PEOPLE:
        raise click.BadParameter(
            f"{value:,} is too few: at least {MIN_PEOPLE:,}. Fewer people cannot reliably give the seven "
            "synthetic programmes participants (the narrowest, such as young men released from custody "
            "in 2007-2010, can have nobody eligible).")
    return value


@main.command()
@click.option("--people", "n_people", type=int, default=None, callback=_check_people,
              help="Number of people in the national data: at least 2,000 (default 200,000).")
@click.option("--seed", type=int, default=None, help="Random seed (default 20130401).")
@click.option("--out", "national_dir", type=click.Path(file_okay=False, path_type=Path),
              default=DEFAULT_NATIONAL, show_default=True, help="Where the national Parquet files go.")
@click.option("--uploads", "uploads_dir", type=click.Path(file_okay=False, path_type=Path),
              default=DEFAULT_UPLOADS, show_default=True, help="Where the programmes' submissions go.")
@click.option("--truth", "truth_path", type=click.Path(dir_okay=False, path_type=Path),
              default=DEFAULT_TRUTH, show_default=True,
              help="Where the programmes' true effects go (read only by tests and benchmarks).")
def synth(n_people: int | None, seed: int | None, national_dir: Path, uploads_dir: Path, truth_path: Path) -> None:
    """Write the synthetic national data, the synthetic programmes' submissions and their true effects.

    Every file written is owner-only (0600) and every folder written to owner-only (0700),
    whatever the umask: they hold (synthetic) names, dates of birth and ids."""
    import time

    from jdl.synth.world import SynthConfig, TooFewPeopleError, short_programmes, synthesise

    config = SynthConfig(**{k: v for k, v in {"n_people": n_people, "seed": seed}.items() if v is not None})
    started = time.perf_counter()
    try:
        world = synthesise(national_dir, uploads_dir, truth_path, config)
    except TooFewPeopleError as error:
        click.echo(f"jdl synth: {error}", err=True)
        sys.exit(2)
    rows = ", ".join(f"{name} {table.num_rows:,}" for name, table in world.tables.items())
    click.echo(f"national data ({config.n_people:,} people, seed {config.seed}) in {national_dir}: {rows}")
    click.echo(f"submissions of {len(world.participants)} programmes in {uploads_dir}")
    short = short_programmes(world)
    if short:
        click.echo(f"{len(short)} programmes have fewer participants than designed ({config.n_people:,} people "
                   "hold too few eligible): " + ", ".join(f"{prog.name} {got:,} of {prog.n_in_national:,}"
                                                           for prog, got in short))
    click.echo(f"done in {time.perf_counter() - started:.1f} s")


@main.command()
@click.argument("month", required=False)
@click.option("--older-than", "older_than_days", type=click.IntRange(min=0), default=None, metavar="DAYS",
              help="Keep requests done fewer than DAYS days ago (withdrawn ones: received). Without MONTH: "
                   "every month.")
@click.option("--params", "params_root", type=click.Path(file_okay=False, path_type=Path),
              default=Path("params"), show_default=True, help="The params folder (one sub-folder a month).")
@click.option("--outputs", "outputs_root", type=click.Path(file_okay=False, path_type=Path),
              default=Path("outputs"), show_default=True, help="The outputs folder (one sub-folder a month).")
@click.option("--uploads", "uploads_dir", type=click.Path(file_okay=False, path_type=Path),
              default=DEFAULT_UPLOADS, show_default=True,
              help="The uploads folder: nothing outside it is ever deleted.")
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete and record nothing.")
def purge(month: str | None, older_than_days: int | None, params_root: Path, outputs_root: Path,
          uploads_dir: Path, dry_run: bool) -> None:
    """Delete the submitted data of the requests of MONTH (e.g. 2014-03) that are done.

    A request is done when OUTPUTS/MONTH/run.json records it as published or not processed: its
    upload and any row-level intermediate (report.failed.ipynb, stray .report.ipynb.* files) go;
    its published report, the bulletin and run.json stay. Failed, in-progress, not-run and
    withdrawn requests are kept, and so is an upload another request still needs. Appends what it
    did to OUTPUTS/MONTH/retention.json. With --older-than DAYS and no MONTH, purges every month
    (a scheduled job's form). Exits 1 if a file could not be deleted, 2 if nothing could be done.
    """
    from jdl.run.requests import ParamsError
    from jdl.run.retention import RetentionError, purge_all, purge_month

    if month is None and older_than_days is None:
        raise click.UsageError("name a MONTH (e.g. 2014-03), or give --older-than DAYS to purge every month")
    try:
        if month is not None:
            results = [purge_month(month, params_root, outputs_root, uploads_dir, older_than_days=older_than_days,
                                   dry_run=dry_run)]
        else:
            results = purge_all(older_than_days, params_root, outputs_root, uploads_dir, dry_run=dry_run)
    except (ParamsError, RetentionError) as error:
        click.echo(f"jdl purge: {error}", err=True)
        sys.exit(2)
    verb = "would delete" if dry_run else "deleted"
    for result in results:
        click.echo(f"{result.month}:")
        for request in result.requests:
            line = f"  {request.id}  {request.status}"
            if request.reason:
                line += f"  kept: {request.reason}"
            elif request.deleted:
                line += f"  {verb} {', '.join(request.deleted)}"
            else:
                line += "  nothing to delete"
            click.echo(line)
            for note in request.notes:
                click.echo(f"    {note}")
        for error in result.errors:
            click.echo(f"  {error}", err=True)
    total = sum(len(result.deleted) for result in results)
    if dry_run:
        click.echo(f"dry run: {total} file(s) would be deleted; nothing deleted or recorded")
    else:
        records = ", ".join(str(outputs_root / result.month / result.record.name)
                            for result in results if result.record is not None)
        click.echo(f"{total} file(s) deleted" + (f"; recorded in {records}" if records else "; nothing new to record"))
    sys.exit(1 if any(result.errors for result in results) else 0)


@main.command()
@click.option("--national", "national_dir", type=click.Path(file_okay=False, path_type=Path),
              default=DEFAULT_NATIONAL, show_default=True)
@click.option("--uploads", "uploads_dir", type=click.Path(file_okay=False, path_type=Path),
              default=DEFAULT_UPLOADS, show_default=True)
@click.option("--params", "params_root", type=click.Path(file_okay=False, path_type=Path),
              default=Path("params"), show_default=True)
@click.option("--outputs", "outputs_root", type=click.Path(file_okay=False, path_type=Path),
              default=Path("outputs"), show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Local worker processes (default: the number of CPUs).")
def demo(national_dir: Path, uploads_dir: Path, params_root: Path, outputs_root: Path, workers: int | None) -> None:
    """The monthly report set on the built-in synthetic data.

    Builds the synthetic national data and submissions if they are absent, writes the params of
    the demo pilot (three months of requests, one under the minimum criteria and one withdrawn),
    runs and publishes every month's reports, writes each month's bulletin, and prints where
    everything is. Exits 1 if any request or bulletin failed.
    """
    import time

    from jdl.run.bulletin import build_summary
    from jdl.synth.demo import MONTHS, missing_demo_uploads, write_demo_params
    from jdl.run.runner import (MonthLockedError, OutputsError, RunInterrupted, RunRecordError, describe_error,
                                outcome_line, run_month)
    from jdl.synth.world import SynthConfig, make_private_tree, synthesise

    started = time.perf_counter()
    # the uploads go after `jdl purge`: rebuild them (same seed: the same data) rather than fail
    if not (national_dir / "manifest.json").exists() or missing_demo_uploads(uploads_dir):
        click.echo("building the synthetic national data and submissions ...")
        synthesise(national_dir, uploads_dir, national_dir.parent / "truth" / "programmes.json", SynthConfig())
    # data written by an older jdl synth was world-readable: the demo's own data is made owner-only
    tightened = sum(make_private_tree(folder) for folder in (national_dir, uploads_dir, national_dir.parent / "truth"))
    if tightened:
        click.echo(f"made {tightened} synthetic data file(s) and folder(s) owner-only (0600/0700)")
    written = write_demo_params(params_root, uploads_dir=uploads_dir.as_posix())
    click.echo(f"demo pilot: {len(written)} requests over {len(MONTHS)} months in {params_root}/")
    failed = False
    for month in MONTHS:
        click.echo(f"{month}:")
        stopped = None
        try:
            month_run = run_month(params_root / month, outputs_dir=outputs_root, national_dir=national_dir,
                                  workers=workers, uploads_dir=uploads_dir)
        except (MonthLockedError, OutputsError) as error:  # nothing of this month ran
            click.echo(f"  {error}", err=True)
            failed = True
            continue
        except RunInterrupted as error:
            stopped, month_run = error, error.run
        except RunRecordError as error:
            month_run, failed = error.run, True
            click.echo(f"  could not write the run record of {month}: {month_run.record_error}", err=True)
        for outcome in month_run.outcomes:
            click.echo("  " + outcome_line(outcome, month_run))
        if stopped is not None:
            click.echo(f"stopped by {stopped.signal_name}: {len(month_run.interrupted)} request(s) not finished, "
                       "recorded as interrupted; the later months were not run", err=True)
            sys.exit(stopped.exit_code)
        failed |= bool(month_run.failed)
        try:
            summary = build_summary(month, params_root, outputs_root)
            click.echo(f"  bulletin: {summary.with_suffix('.html')} and .pdf")
        except Exception as error:  # one failing bulletin must not stop the other months
            failed = True
            click.echo(f"  bulletin failed: {describe_error(error)}", err=True)
    click.echo(f"done in {time.perf_counter() - started:.0f} s. Reports: {outputs_root}/<month>/<id>/report.html "
               f"and report.pdf (executed notebooks: report.ipynb); bulletins: {outputs_root}/<month>/summary.html")
    sys.exit(1 if failed else 0)


@main.command(epilog=MONTH_HELP)
@click.argument("month")
@_params_option
@click.option("--outputs", "outputs_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("outputs"), show_default=True, help="The outputs folder (one sub-folder a month).")
@click.option("--national", "national_dir", type=click.Path(file_okay=False, path_type=Path),
              default=DEFAULT_NATIONAL, show_default=True, help="The national data folder the reports read.")
@click.option("--notebook", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The report template [default: the one installed with jdl, notebooks/request_report.ipynb].")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=600, show_default=True,
              help="Seconds for all of one request's cells together, from when its kernel is ready.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Local worker processes (default: the number of CPUs).")
@click.option("--publish/--no-publish", default=True, show_default=True,
              help="Also write report.html and report.pdf for each request.")
@click.option("--dask-scheduler", "dask_scheduler", default=None, metavar="ADDRESS",
              help="Run the requests on this dask.distributed scheduler (e.g. tcp://host:8786) instead of "
                   "local processes; the workers must see the same files at the same paths.")
@click.option("--uploads", "uploads_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The folder every request's upload must lie in, symlinks resolved "
                   "[default: data/uploads of the project the params folder is in, i.e. PARAMS/../data/uploads].")
@click.pass_context
def run(ctx: click.Context, month: str, params_root: Path, outputs_dir: Path, national_dir: Path, notebook: Path,
        timeout: float, workers: int | None, publish: bool, dask_scheduler: str | None,
        uploads_dir: Path | None) -> None:
    """Execute the report template once for each request of MONTH (e.g. 2014-03, the params
    files in params/2014-03).

    Writes OUTPUTS/<month>/<id>/report.ipynb (and report.html, report.pdf unless --no-publish)
    and OUTPUTS/<month>/run.json and run.log. Withdrawn and in-progress requests are listed, not
    run. Prints one line per request; exits 1 if any request failed or run.json could not be
    written, 2 if the params are unusable or another jdl run is running the same month, and 128 +
    the signal's number (130 for Ctrl-C, 143 for SIGTERM) when stopped, after recording the
    requests not finished as interrupted.
    """
    from jdl.run.requests import ParamsError, load_month
    from jdl.run.runner import (MonthLockedError, OutputsError, RunInterrupted, RunRecordError, outcome_line,
                                run_month)

    if dask_scheduler and workers:
        raise click.UsageError("--workers applies to local processes; leave it out with --dask-scheduler")
    params_root, month = month_folder(ctx, month, params_root)
    month_dir = params_root / month
    try:
        load_month(month_dir, uploads_dir=uploads_dir)
    except ParamsError as error:
        click.echo(str(error), err=True)
        sys.exit(2)
    if notebook is not None and not notebook.is_file():
        click.echo(f"{notebook}: no such report template", err=True)
        sys.exit(2)
    client = None
    if dask_scheduler:
        try:
            from dask.distributed import Client
        except ImportError:
            click.echo("--dask-scheduler needs dask.distributed: pip install 'dask[distributed]'", err=True)
            sys.exit(2)
        try:
            client = Client(dask_scheduler)
        except (OSError, ValueError) as error:
            click.echo(f"cannot connect to the dask scheduler {dask_scheduler} ({type(error).__name__})", err=True)
            sys.exit(2)
    stopped = record_failed = None
    try:
        month_run = run_month(month_dir, outputs_dir=outputs_dir, notebook=notebook, national_dir=national_dir,
                              executor=client, timeout=timeout, publish=publish, workers=workers,
                              uploads_dir=uploads_dir)
    except (MonthLockedError, OutputsError) as error:
        click.echo(str(error), err=True)
        sys.exit(2)
    except RunInterrupted as error:
        stopped, month_run = error, error.run
    except RunRecordError as error:
        record_failed, month_run = error, error.run
    finally:
        if client is not None:
            client.close()
    if month_run.stale_lock is not None:
        click.echo(f"note: {month_run.month_dir} had a stale lock: the jdl run that held it "
                   f"({month_run.stale_lock.describe()}) ended without finishing; this run took it over", err=True)
    for outcome in month_run.outcomes:
        click.echo(outcome_line(outcome, month_run))
    counts = ", ".join(f"{n} {status}" for status, n in month_run.counts().items()) or "no requests"
    recorded = "" if month_run.record_error else " (run.json, run.log)"
    click.echo(f"{counts}; outputs in {month_run.month_dir}{recorded}")
    if month_run.record_error:
        click.echo(f"could not write the run record (run.json, run.log) in {month_run.month_dir}: "
                   f"{month_run.record_error}; the outcomes above are not recorded", err=True)
    if stopped is not None:
        click.echo(f"stopped by {stopped.signal_name}: {len(month_run.interrupted)} request(s) not finished, "
                   "recorded as interrupted; nothing more will be published", err=True)
        sys.exit(stopped.exit_code)
    sys.exit(1 if month_run.failed or record_failed is not None else 0)


@main.command(epilog=MONTH_HELP)
@click.argument("month")
@_params_option
@click.option("--outputs", "outputs_root", type=click.Path(file_okay=False, path_type=Path),
              default=Path("outputs"), show_default=True, help="The outputs folder (one sub-folder a month).")
@click.option("--publish/--no-publish", default=True, show_default=True,
              help="Also write summary.html and summary.pdf.")
@click.option("--publication-date", "publication_date", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="The date the bulletin states it is published, YYYY-MM-DD (default: today); the next "
                   "release date follows from it.")
@click.pass_context
def summary(ctx: click.Context, month: str, params_root: Path, outputs_root: Path, publish: bool,
            publication_date: dt.datetime | None) -> None:
    """Build the summary bulletin of MONTH (e.g. 2014-03, the params files in params/2014-03).

    Executes the summary notebook installed with jdl (notebooks/monthly_summary.ipynb) over every
    report to date into OUTPUTS/MONTH/summary.ipynb and, unless --no-publish, publishes
    summary.html and summary.pdf beside it. The bulletin states it was published on
    --publication-date (a bulletin prepared ahead of its release day) or today.
    """
    from jdl.run import bulletin

    params_root, month = month_folder(ctx, month, params_root)
    if not (params_root / month).is_dir():
        raise click.BadParameter(f"no params folder {params_root / month}", param_hint="MONTH")
    notebook = bulletin.build_summary(month, params_root, outputs_root, publish=publish,
                                      publication_date=publication_date and publication_date.date())
    click.echo(f"wrote {notebook}")
    if publish:
        for name in ("summary.html", "summary.pdf"):
            click.echo(f"wrote {notebook.parent / name}")


@main.command()
@click.option("--baseline-rate", "baseline_rate", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              required=True, help="The comparison group's one-year re-offending rate, a proportion (0.36).")
@click.option("--reduction", type=click.FloatRange(0, 1, min_open=True, max_open=True), required=True,
              help="The reduction to detect, a proportion (0.05 is 5 percentage points).")
@click.option("--ratio", type=click.FloatRange(0, min_open=True), default=1.0, show_default=True,
              help="Comparison group size divided by treatment group size.")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05, show_default=True)
@click.option("--power", "power_", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.8,
              show_default=True)
def power(baseline_rate: float, reduction: float, ratio: float, alpha: float, power_: float) -> None:
    """People needed in the treatment group to detect a REDUCTION in the re-offending rate from
    BASELINE-RATE (two-sided test of two proportions, statsmodels' power tools)."""
    from jdl.stats.power import people_needed, power_sentence

    try:
        n = people_needed(baseline_rate, reduction, alpha=alpha, power=power_, ratio=ratio)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    click.echo(power_sentence(baseline_rate, reduction, n, ratio=ratio, alpha=alpha, power=power_))


if __name__ == "__main__":
    main()
