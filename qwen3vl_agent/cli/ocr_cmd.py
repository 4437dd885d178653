"""`qwen3vl-agent ocr PATH...`, `qwen3vl-agent ocr resume JOB_ID`, `qwen3vl-agent ocr jobs`.

`ocr` is a group whose default command is `run`: a first argument that is not `resume`, `jobs`
or `run` is a path (use `ocr run resume` for a file literally named "resume").
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from qwen3vl_agent.errors import UserFacingError

SUBCOMMANDS = ("run", "resume", "jobs")


class _DefaultRunGroup(click.Group):
    """`ocr PATH...` means `ocr run PATH...`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_DefaultRunGroup)
def ocr() -> None:
    """Read documents (images, PDFs, folders) to text, Markdown, HTML, JSON or a searchable PDF.

    `ocr PATH...` is short for `ocr run PATH...` (see `ocr run --help` for the options).

    \b
    qwen3vl-agent ocr scans/ --out out/ --format md --format pdf
    qwen3vl-agent ocr invoice.pdf --mode json --schema invoice.schema.json --out out/
    qwen3vl-agent ocr resume JOB_ID
    qwen3vl-agent ocr jobs
    """


def _progress_printer(show: bool) -> tuple[Any, Any]:
    """A tqdm bar fed by job events (rate and ETA from tqdm), plus its closer."""
    from tqdm import tqdm

    state: dict[str, Any] = {"bar": None}

    def on_progress(event: Any) -> None:
        bar = state["bar"]
        if bar is None and show:
            bar = tqdm(
                total=event.total,
                initial=event.done + event.failed,
                unit="page",
                file=sys.stderr,
                dynamic_ncols=True,
                smoothing=0.1,
            )
            state["bar"] = bar
        if event.kind in ("page_done", "page_failed") and bar is not None:
            bar.update(1)
            bar.set_postfix(failed=event.failed, refresh=False)
        if event.kind in ("fallback", "export_failed", "page_failed", "page_quarantined"):
            where = (
                f"{event.path} p.{event.page}: " if event.page else (f"{event.path}: " if event.path else "")
            )
            text = f"{event.kind.replace('_', ' ')}: {where}{event.message}"
            if bar is not None:
                bar.write(text, file=sys.stderr)
            else:
                click.echo(text, err=True)

    def close() -> None:
        if state["bar"] is not None:
            state["bar"].close()

    return on_progress, close


async def _run_job(job_id: str, show_progress: bool, cluster: str | None = None) -> Any:
    from qwen3vl_agent.agents.ocr_job import OcrJob
    from qwen3vl_agent.agents.ocr_job_store import OcrJobStore
    from qwen3vl_agent.config import load_settings

    store = OcrJobStore()
    job = store.job(job_id)
    settings = load_settings()
    runtime = None
    reason = None
    cluster = cluster or job.options.get("cluster")
    if job.options.get("engine") == "qwen" and not cluster:
        from qwen3vl_agent.runtime import build_runtime

        try:
            runtime = await build_runtime(settings)
        except UserFacingError as exc:
            reason = str(exc)
    on_progress, close = _progress_printer(show_progress)
    try:
        runner: OcrJob
        if cluster:
            from qwen3vl_agent.agents.ocr_cluster import ClusterOcrJob, ClusterOptions

            endpoints = [e.model_dump(exclude_none=True) for e in settings.engine.endpoints]
            workers = job.options.get("workers")
            runner = ClusterOcrJob(
                store, job_id, ClusterOptions(cluster, workers, endpoints), on_progress=on_progress
            )
        else:
            runner = OcrJob(
                store,
                job_id,
                runtime.service if runtime else None,
                on_progress=on_progress,
                unavailable_reason=reason,
                max_in_flight=settings.queue.max_in_flight,
            )
        return await runner.run()
    finally:
        close()
        if runtime is not None:
            await runtime.close()
        store.close()


def _finish(summary: Any, print_text: bool) -> None:
    from qwen3vl_agent.agents.ocr_job_store import OcrJobStore

    c = summary.counts
    if print_text:
        store = OcrJobStore()
        for doc_id, path, _n, status, _e, _x in store.documents(summary.job_id):
            if status != "ok":
                continue
            doc = store.load_document(doc_id, "text")
            if len(store.documents(summary.job_id)) > 1:
                click.echo(f"==> {path} <==")
            click.echo(doc.text().replace("\f", "\n\f\n"))
        store.close()
    for name in summary.exported:
        click.echo(f"wrote {name}", err=True)
    quarantined = f", {c.quarantined} quarantined" if c.quarantined else ""
    click.echo(
        f"job {summary.job_id}: {c.done}/{c.total} pages done, {c.failed} failed{quarantined},"
        f" {c.documents_failed} unreadable documents (engine: {summary.engine_used})",
        err=True,
    )
    if c.running:
        click.echo(
            f"  {c.running} pages are being read by another run of this job; it exports them", err=True
        )
    if not summary.ok:
        click.secho("problems:", fg="yellow", err=True)
        for path, page, reason in summary.failures[:20]:
            where = f"{path} page {page}" if page else path
            click.echo(f"  {where}: {reason}", err=True)
        if len(summary.failures) > 20:
            click.echo(f"  ... and more: see the job's records ({summary.job_id})", err=True)
        if c.pending:
            click.echo(
                f"  {c.pending} pages still pending: qwen3vl-agent ocr resume {summary.job_id}", err=True
            )
        sys.exit(1)


def _parse_region(text: str) -> tuple[int, int, int, int]:
    try:
        left, top, width, height = (int(v) for v in text.replace("x", ",").split(","))
    except ValueError as exc:
        raise click.BadParameter("use LEFT,TOP,WIDTH,HEIGHT in screen pixels") from exc
    if width <= 0 or height <= 0:
        raise click.BadParameter("width and height must be positive")
    return left, top, width, height


@ocr.command("run")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--mode", type=click.Choice(["text", "markdown", "html", "lines", "json"]), default="text")
@click.option(
    "--schema",
    "schema_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON schema for --mode json.",
)
@click.option(
    "--engine",
    type=click.Choice(["qwen", "cpu"]),
    default="qwen",
    show_default=True,
    help="qwen: Qwen3-VL through the queue (falls back to cpu when unavailable); cpu: Tesseract.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the exports (without it the text is printed).",
)
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=click.Choice(["txt", "md", "json", "html", "pdf"]),
    help="Export format, repeatable; pdf = searchable PDF. Default: txt.",
)
@click.option("--dpi", type=int, default=200, show_default=True, help="Resolution PDFs are rendered at.")
@click.option(
    "--use-text-layer/--no-use-text-layer",
    default=True,
    show_default=True,
    help="Use a PDF page's own text when it has one.",
)
@click.option("--include", multiple=True, help="Glob of files to take from folders (repeatable).")
@click.option("--exclude", multiple=True, help="Glob of files to skip in folders (repeatable).")
@click.option(
    "--lang",
    default="auto",
    show_default=True,
    help="CPU engine language: auto (chosen per page), Tesseract codes such as eng or deu+fra, "
    "or chi_sim / chi_tra / jpn (PaddleOCR models; they read the English mixed in too).",
)
@click.option("--languages", help="Tesseract languages, e.g. eng+deu (default: eng+deu+fra where installed).")
@click.option("--workers", type=int, help="CPU engine worker processes (default: CPU count).")
@click.option(
    "--concurrency", type=int, help="Qwen pages in flight (default and maximum: the queue's bound)."
)
@click.option(
    "--budget-tokens",
    type=int,
    help="Visual tokens per page for Qwen3-VL (default: images.ocr_budget_tokens).",
)
@click.option("--max-tokens", type=int, help="Longest answer per page for Qwen3-VL (default: per mode).")
@click.option("--screen-region", help="Also read a screen region LEFT,TOP,WIDTH,HEIGHT.")
@click.option("--clipboard", is_flag=True, help="Also read the image on the clipboard.")
@click.option(
    "--cluster",
    metavar="ADDRESS",
    help="Run the pages on an existing Ray cluster (ray://HOST:10001 or HOST:6379); the documents "
    "must be on storage every node sees. Needs the cluster extra (ray[data]).",
)
@click.option(
    "--follow-symlinks",
    is_flag=True,
    help="Follow symbolic links in input folders that lead out of them (skipped by default).",
)
@click.option(
    "--memory-budget",
    "memory_budget_mb",
    type=click.IntRange(min=64),
    default=1024,
    show_default=True,
    metavar="MB",
    help="Decoded page pixels in flight at once; a larger page runs alone.",
)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def run_cmd(
    paths: tuple[Path, ...],
    mode: str,
    schema_file: Path | None,
    engine: str,
    out_dir: Path | None,
    formats: tuple[str, ...],
    dpi: int,
    use_text_layer: bool,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    lang: str,
    languages: str | None,
    workers: int | None,
    concurrency: int | None,
    budget_tokens: int | None,
    max_tokens: int | None,
    screen_region: str | None,
    clipboard: bool,
    cluster: str | None,
    follow_symlinks: bool,
    memory_budget_mb: int,
    no_progress: bool,
) -> None:
    """Start a new OCR job on PATH... (files and folders)."""
    from qwen3vl_agent.agents.ocr_job import OcrJobOptions, create_job
    from qwen3vl_agent.agents.ocr_job_store import OcrJobStore
    from qwen3vl_agent.config import load_settings
    from qwen3vl_agent.ocr import inputs
    from qwen3vl_agent.paths import app_paths

    sources: list[Path] = list(paths)
    snapshots = app_paths().ensure().cache_dir / "ocr-inputs"
    if screen_region:
        image = inputs.capture_screen_region(*_parse_region(screen_region))
        sources.append(inputs.save_snapshot(image, snapshots, "screen"))
    if clipboard:
        sources.append(inputs.save_snapshot(inputs.clipboard_image(), snapshots, "clipboard"))
    if not sources:
        raise click.UsageError("give at least one PATH (or --screen-region / --clipboard)")
    schema = None
    if schema_file is not None:
        try:
            schema = json.loads(schema_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UserFacingError(f"Cannot read the schema {schema_file}: {exc}") from exc
    options = OcrJobOptions(
        engine=engine,
        mode=mode,
        schema=schema,
        dpi=dpi,
        use_text_layer=use_text_layer,
        formats=list(formats) or ["txt"],
        out_dir=str(out_dir.resolve()) if out_dir else None,
        include=list(include),
        exclude=list(exclude),
        languages=languages,
        lang=lang,
        workers=workers,
        concurrency=concurrency,
        budget_tokens=budget_tokens or load_settings().images.ocr_budget_tokens,
        max_tokens=max_tokens,
        cluster=cluster,
        follow_symlinks=follow_symlinks,
        memory_budget_mb=memory_budget_mb,
    )
    store = OcrJobStore()
    try:
        job_id = create_job(store, sources, options)
        for _at, kind, message in store.events(job_id):
            if kind == "skipped":
                click.echo(f"note: {message}", err=True)
    finally:
        store.close()
    click.echo(f"job {job_id} (resume with: qwen3vl-agent ocr resume {job_id})", err=True)
    summary = asyncio.run(_run_job(job_id, not no_progress))
    _finish(summary, print_text=out_dir is None)


@ocr.command("resume")
@click.argument("job_id")
@click.option("--retry-failed", is_flag=True, help="Also run the pages that failed again.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def resume_cmd(job_id: str, retry_failed: bool, no_progress: bool) -> None:
    """Finish a job that was stopped: only its pending pages run again."""
    from qwen3vl_agent.agents.ocr_job_store import OcrJobStore

    store = OcrJobStore()
    try:
        job = store.job(job_id)
        if retry_failed:
            store.reset_failed(job_id)
        print_text = not job.options.get("out_dir")
    finally:
        store.close()
    summary = asyncio.run(_run_job(job_id, not no_progress))
    _finish(summary, print_text=print_text)


@ocr.command("jobs")
@click.option("--limit", type=int, default=30, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def jobs_cmd(limit: int, as_json: bool) -> None:
    """List OCR jobs, newest first."""
    from qwen3vl_agent.agents.ocr_job_store import OcrJobStore

    store = OcrJobStore()
    try:
        rows: list[dict[str, str | int]] = []
        for job in store.jobs(limit):
            c = store.counts(job.id)
            rows.append(
                {
                    "id": job.id,
                    "created": time.strftime("%Y-%m-%d %H:%M", time.localtime(job.created_at)),
                    "status": job.status,
                    "engine": job.engine_used or job.engine,
                    "mode": job.mode,
                    "done": c.done,
                    "failed": c.failed,
                    "pending": c.pending,
                    "running": c.running,
                    "quarantined": c.quarantined,
                    "total": c.total,
                    "documents_failed": c.documents_failed,
                }
            )
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no OCR jobs yet")
        return
    from rich.console import Console
    from rich.table import Column, Table

    # The id column never shrinks or wraps: ids are copied from here into `ocr resume`.
    id_width = max(len(str(r["id"])) for r in rows)
    table = Table(
        Column("job", no_wrap=True, min_width=id_width),
        *("created", "status", "engine", "mode", "done", "failed", "pending", "total"),
    )
    for r in rows:
        table.add_row(
            *(
                str(r[k])
                for k in ("id", "created", "status", "engine", "mode", "done", "failed", "pending", "total")
            )
        )
    Console().print(table)
