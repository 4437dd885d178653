"""Corpus-scale OCR on a real local Ray cluster (`ray start --head`, two CPU workers), with the
CPU engine on the workers: every one of 200 generated pages is done exactly once, a rerun does
nothing, and the outputs are byte-identical to a local job's on the same pages."""

from __future__ import annotations

import asyncio
import os
import pickle
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from qwen3vl_agent.agents.ocr_cluster import (
    ClusterError,
    ClusterOcrJob,
    ClusterOptions,
    join_endpoint_keys,
    split_endpoint_keys,
)
from qwen3vl_agent.agents.ocr_job import OcrJob, OcrJobOptions, create_job
from qwen3vl_agent.agents.ocr_job_store import OcrJobStore
from tests.support.ocr_documents import font, write_scanned_pdf
from tests.support.policy_server import MODEL_NAME, PolicyServer
from tests.support.ray_cluster import ray_env, start_ray_head, stop_ray

pytest.importorskip("ray", reason="the cluster extra (ray[data]) is part of the test install")

WORDS = [
    "invoice",
    "order",
    "amount",
    "total",
    "paid",
    "Zürich",
    "Köln",
    "Straße",
    "number",
    "date",
    "customer",
    "account",
]


def _page(doc: int, page: int) -> Image.Image:
    image = Image.new("L", (1100, 170), 255)
    draw = ImageDraw.Draw(image)
    fnt = font(14)
    line1 = f"Document {doc:03d} page {page} " + " ".join(
        WORDS[(doc + page + i) % len(WORDS)] for i in range(4)
    )
    line2 = f"Reference {doc * 1000 + page * 7:06d} " + " ".join(
        WORDS[(doc * 3 + i) % len(WORDS)] for i in range(3)
    )
    draw.text((30, 25), line1, fill=0, font=fnt)
    draw.text((30, 95), line2, fill=0, font=fnt)
    return image


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 pages: 20 scanned 5-page PDFs and 100 single-page PNGs."""
    root = tmp_path_factory.mktemp("corpus")
    for doc in range(20):
        write_scanned_pdf(root / f"scan-{doc:02d}.pdf", [_page(doc, p) for p in range(1, 6)])
    (root / "pngs").mkdir()
    for doc in range(20, 120):
        _page(doc, 1).save(root / "pngs" / f"page-{doc:03d}.png")
    return root


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Ray head on loopback with two CPUs (two worker slots); stopped at the end."""
    address = start_ray_head(tmp_path_factory.mktemp("ray"), num_cpus=2)
    try:
        yield address
    finally:
        stop_ray()


def _outputs(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.mark.timeout(1800)
def test_cluster_job_does_every_page_once_and_matches_a_local_run(
    corpus: Path, ray_cluster: str, tmp_path: Path
) -> None:
    store = OcrJobStore()
    cluster_out, local_out = tmp_path / "cluster", tmp_path / "local"

    job = create_job(
        store, [corpus], OcrJobOptions(engine="cpu", formats=["txt", "md"], out_dir=str(cluster_out))
    )
    assert store.counts(job).total == 200
    summary = asyncio.run(ClusterOcrJob(store, job, ClusterOptions(ray_cluster, workers=2)).run())
    assert summary.status == "done", summary.failures
    counts = store.counts(job)
    assert (counts.done, counts.failed, counts.pending) == (200, 0, 0)
    # every page recognised and recorded exactly once
    completions = [
        r[0] for r in store.db.execute("SELECT completions FROM ocr_pages WHERE job_id = ?", [job])
    ]
    assert len(completions) == 200 and set(completions) == {1}

    # resuming a finished job sends nothing to the cluster
    again = asyncio.run(ClusterOcrJob(store, job, ClusterOptions(ray_cluster, workers=2)).run())
    assert again.counts.done == 200
    assert {r[0] for r in store.db.execute("SELECT completions FROM ocr_pages WHERE job_id = ?", [job])} == {
        1
    }

    local = create_job(
        store, [corpus], OcrJobOptions(engine="cpu", formats=["txt", "md"], out_dir=str(local_out), workers=2)
    )
    assert asyncio.run(OcrJob(store, local).run()).status == "done"
    a, b = _outputs(cluster_out), _outputs(local_out)
    assert len(a) == 240  # 120 documents x (txt, md)
    assert a == b
    assert "Document 007 page 3" in a["scan-07.txt"].decode()


def test_unreachable_cluster_is_a_clear_error(corpus: Path) -> None:
    store = OcrJobStore()
    job = create_job(store, [corpus / "pngs" / "page-020.png"], OcrJobOptions(engine="cpu"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    code = (
        "import asyncio, sys\n"
        "from qwen3vl_agent.agents.ocr_cluster import ClusterOcrJob, ClusterOptions, ClusterError\n"
        "from qwen3vl_agent.agents.ocr_job_store import OcrJobStore\n"
        f"job = ClusterOcrJob(OcrJobStore(), {job!r}, ClusterOptions('127.0.0.1:{port}'))\n"
        "try:\n    asyncio.run(job.run())\nexcept ClusterError as e:\n    print('CLUSTER-ERROR', e); sys.exit(3)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env=ray_env(),
    )
    assert done.returncode == 3, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Cannot connect to the Ray cluster" in done.stdout
    assert store.counts(job).pending == 1  # nothing lost: the page is still there to do


def test_cli_cluster_option_runs_the_job_on_the_cluster(
    corpus: Path, ray_cluster: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    files = [str(corpus / "pngs" / f"page-{n:03d}.png") for n in (21, 22, 23)]
    cli = [
        sys.executable,
        "-m",
        "qwen3vl_agent",
        "ocr",
        "run",
        *files,
        "--engine",
        "cpu",
        "--cluster",
        ray_cluster,
        "--out",
        str(out),
        "--no-progress",
    ]
    done = subprocess.run(cli, capture_output=True, text=True, timeout=600, env=ray_env())
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Document 022 page 1" in (out / "page-022.txt").read_text()
    store = OcrJobStore()
    (job,) = store.jobs(1)
    assert job.options["cluster"] == ray_cluster and store.counts(job.id).done == 3


@pytest.mark.engine
def test_qwen_pages_on_the_cluster_go_through_the_configured_endpoint(
    corpus: Path, ray_cluster: str, tiny_engine
) -> None:
    """Workers read their pages with Qwen3-VL through the endpoint (the real tiny vLLM): its words
    are noise, but every page is recognised on a worker and recorded once."""
    store = OcrJobStore()
    files = [corpus / "pngs" / f"page-{n:03d}.png" for n in (30, 31, 32, 33, 34)]
    job = create_job(store, files, OcrJobOptions(engine="qwen", mode="text", budget_tokens=256, max_tokens=8))
    before = tiny_engine.metric("vllm:request_success_total")
    endpoint = tiny_engine.endpoint_settings().model_dump(exclude_none=True)
    summary = asyncio.run(
        ClusterOcrJob(store, job, ClusterOptions(ray_cluster, workers=2, endpoints=[endpoint])).run()
    )
    assert summary.status == "done", summary.failures
    assert store.counts(job).done == 5
    assert tiny_engine.metric("vllm:request_success_total") == before + 5
    engines = {r[0] for r in store.db.execute("SELECT engine FROM ocr_pages WHERE job_id = ?", [job])}
    assert all(e.startswith("qwen") for e in engines), engines


def test_endpoint_keys_stay_out_of_the_pickled_worker_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "sk-cluster-" + os.urandom(8).hex()
    endpoints = [
        {"url": "http://gpu-a:8000/v1", "api_key": key, "model": "m"},
        {"url": "http://gpu-b:8000/v1"},  # no key: nothing to carry
    ]
    worker = split_endpoint_keys(endpoints)
    assert key.encode() not in pickle.dumps(worker.endpoints)
    assert key not in repr(ClusterOptions("127.0.0.1:6379", endpoints=endpoints))
    assert list(worker.env.values()) == [key]
    assert worker.endpoints[1] == {"url": "http://gpu-b:8000/v1"}
    # on the worker, the runtime_env's variables put the keys back
    for name, value in worker.env.items():
        monkeypatch.setenv(name, value)
    assert join_endpoint_keys(worker.endpoints) == endpoints
    monkeypatch.delenv(next(iter(worker.env)))
    with pytest.raises(ClusterError, match="did not reach this Ray worker"):
        join_endpoint_keys(worker.endpoints)


def test_qwen_workers_get_the_endpoint_key_through_the_runtime_env(corpus: Path, ray_cluster: str) -> None:
    """A keyed OpenAI-compatible server (401 on /v1 without the key, like vLLM's --api-key) on
    loopback: every page the workers send reaches it with the key, though the key is not among the
    actors' constructor arguments."""
    key = "sk-cluster-" + os.urandom(8).hex()
    server = PolicyServer(api_key=key).start()
    try:
        store = OcrJobStore()
        files = [corpus / "pngs" / f"page-{n:03d}.png" for n in (40, 41, 42)]
        job = create_job(store, files, OcrJobOptions(engine="qwen", mode="text", max_tokens=16))
        endpoint = {"url": server.url, "api_key": key, "model": MODEL_NAME}
        options = ClusterOptions(ray_cluster, workers=2, endpoints=[endpoint])
        summary = asyncio.run(ClusterOcrJob(store, job, options).run())
        assert summary.status == "done", summary.failures
        assert store.counts(job).done == 3
        assert server.chat_requests == 3 and server.unauthorized == 0
    finally:
        server.stop()
