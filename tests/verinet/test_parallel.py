"""Parallel and distributed evaluation (verinet.parallel): results never depend on who evaluated a chunk.

* ``EvaluatorPool``: 1, 2 and 3 workers give bit-identical chunk results and Lipschitz results; a helper
  killed while it holds a chunk, or failing on it, changes nothing.
* ``DaskPool`` (skipped without ``distributed``): a ``LocalCluster`` on loopback gives the same results,
  also when one of its worker processes is killed mid-run.
"""

from __future__ import annotations

import importlib
import os
import signal
import time
import types

import numpy as np
import pytest

from verinet.errors import QueryError
from verinet.parallel import CHUNK, DaskPool, EvaluatorPool, make_pool
from verinet.region import Region

L = importlib.import_module("verinet.analyses.lipschitz")  # the package re-exports a function of the same name

MAX_BOXES = 2000  # below the 2,785 boxes the search needs to converge


@pytest.fixture(scope="module")
def query():
    """A 3-24-24-1 ReLU regressor, its region and a box budget large enough for many chunks."""
    from helpers import random_spec

    net = random_spec(np.random.default_rng(7), [3, 24, 24, 1], "relu").build()
    region = Region.box(["-3", "-3", "-3"], ["3", "3", "3"])
    return net, region


@pytest.fixture(scope="module")
def reference(query):
    net, region = query
    return L.lipschitz(net, region, max_boxes=MAX_BOXES, workers=1)


def _key(r):
    """Everything a result says except timings."""
    return (r.lower, r.upper, r.status, r.boxes, r.witness, r.partition, tuple(h[1:] for h in r.history))


def _args(net):
    c, _ = L._output_label(net, 0)
    return (net, c, "inf", None)


def _batch(ev, n, seed=0):
    rng = np.random.default_rng(seed)
    lo = rng.uniform(-1, 0.9, (n, 3))
    hi = lo + rng.uniform(1e-3, 0.1, (n, 3))
    return lo, hi, 0.5 * lo + 0.5 * hi, np.zeros((n, ev.n_kinked), dtype=np.int8)


def _same(a, b) -> bool:
    return len(a) == len(b) and all(x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(a, b))


def _warm_pools(monkeypatch, start="auto", pool_class=EvaluatorPool, module=L):
    """Make ``module`` (by default the Lipschitz search) use pools whose helpers are started and ready
    before the search begins."""
    made = []

    def make(factory, args, workers=1, scheduler=None):
        pool = pool_class(factory, args, workers, start=start, start_delay=0.0)
        assert pool.wait_ready()
        made.append(pool)
        return pool

    monkeypatch.setattr(module, "make_pool", make)
    return made


# ---------------------------------------------------------------------------------------------------------
# EvaluatorPool


def test_pool_chunks_identical_for_any_worker_count(query):
    net, _ = query
    pools = [EvaluatorPool(L._Evaluator, _args(net), w, start=start, start_delay=0.0)
             for w, start in ((1, "auto"), (2, "spawn"), (3, "fork"))]
    try:
        for p in pools:
            assert p.wait_ready()
        batch = _batch(pools[0].local, 5 * CHUNK + 17)
        ref = tuple(np.concatenate(parts) for parts in zip(*(
            pools[0].local.chunk(*(a[i:i + CHUNK] for a in batch)) for i in range(0, len(batch[0]), CHUNK))))
        for p in pools:
            for _ in range(3):
                assert _same(p.evaluate(*batch), ref)
        assert pools[0].stats["helper_chunks"] == 0 and pools[0].pids == []
        assert pools[1].stats["helper_chunks"] > 0 and pools[2].stats["helper_chunks"] > 0
    finally:
        t = time.perf_counter()
        for p in pools:
            p.close()
    assert all(not p.pids for p in pools)
    assert time.perf_counter() - t < 2.0  # every helper saw EOF at once (forked ones too: no shared pipes)


@pytest.mark.parametrize(("workers", "start"), [(2, "fork"), (3, "fork"), (2, "spawn")])
def test_lipschitz_identical_with_workers(query, reference, monkeypatch, workers, start):
    net, region = query
    made = _warm_pools(monkeypatch, start)
    r = L.lipschitz(net, region, max_boxes=MAX_BOXES, workers=workers)
    assert _key(r) == _key(reference)
    assert r.status is L.Status.BOX_LIMIT
    assert made[0].stats["helper_chunks"] > 0


def test_lipschitz_default_pool_identical(query, reference):
    """The pool as ``lipschitz`` makes it (helpers start in the background, join when ready)."""
    net, region = query
    assert _key(L.lipschitz(net, region, max_boxes=MAX_BOXES, workers=2)) == _key(reference)


class _KillingPool(EvaluatorPool):
    """Kills a helper that holds a chunk, at the ``kill_at``-th chunk this process evaluates itself."""

    kill_at = 5

    def _local(self, job):
        self.calls = getattr(self, "calls", 0) + 1
        busy = [h for h in self._helpers if h.job is not None]
        if self.calls >= self.kill_at and busy and not getattr(self, "killed", False):
            self.killed = True
            os.kill(busy[0].proc.pid, signal.SIGKILL)
            busy[0].proc.wait()
        return super()._local(job)


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_killed_helper_loses_no_chunk(query, reference, monkeypatch, caplog, start):
    net, region = query
    made = _warm_pools(monkeypatch, start, _KillingPool)
    r = L.lipschitz(net, region, max_boxes=MAX_BOXES, workers=2)
    assert made[0].killed and made[0].stats["lost"] == 1
    assert "evaluated again" in caplog.text
    assert _key(r) == _key(reference)


class FailingInHelpers:
    """An evaluator that fails in every process but the one that created it (module level: picklable)."""

    def __init__(self, net, c, norm, precision, parent):
        self.ev = L._Evaluator(net, c, norm, precision)
        self.parent = parent

    def chunk(self, *job):
        if os.getpid() != self.parent:
            raise RuntimeError("simulated failure in a helper")
        return self.ev.chunk(*job)


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_failing_helper_chunk_is_evaluated_here(query, start):
    net, _ = query
    with EvaluatorPool(FailingInHelpers, (*_args(net), os.getpid()), 2, start=start, start_delay=0.0) as pool:
        assert pool.wait_ready()
        batch = _batch(pool.local.ev, 3 * CHUNK)
        out = pool.evaluate(*batch)
        parts = [pool.local.chunk(*(a[i:i + CHUNK] for a in batch)) for i in range(0, 3 * CHUNK, CHUNK)]
        assert _same(out, tuple(np.concatenate(p) for p in zip(*parts)))
        assert pool.stats["helper_chunks"] == 0


def test_pool_arguments(query):
    net, region = query
    with pytest.raises(QueryError):
        EvaluatorPool(L._Evaluator, _args(net), 0)
    with pytest.raises(QueryError):
        EvaluatorPool(L._Evaluator, _args(net), 1, chunk=0)
    with pytest.raises(QueryError):
        EvaluatorPool(L._Evaluator, _args(net), 2, start="thread")
    with pytest.raises(QueryError):
        L.lipschitz(net, region, workers=0)


def test_short_run_starts_no_helper(query):
    net, _ = query
    pool = EvaluatorPool(L._Evaluator, _args(net), 4, start_delay=60.0)
    try:
        pool.evaluate(*_batch(pool.local, 2 * CHUNK))
        assert pool.pids == [] and pool.stats["local_chunks"] == 2
    finally:
        pool.close()


def test_cli_workers_option():
    import json
    from pathlib import Path

    from click.testing import CliRunner

    from verinet.cli import main

    model = Path(__file__).resolve().parents[1] / "data" / "seed" / "random01.json"
    args = ["lipschitz", str(model), "--center", "0,0", "--radius", "2", "--max-boxes", "400", "--json"]
    runs = [CliRunner().invoke(main, [*args, "--workers", w]) for w in ("1", "2")]
    assert [r.exit_code for r in runs] == [0, 0], runs[0].output
    one, two = (json.loads(r.stdout) for r in runs)
    one.pop("seconds"), two.pop("seconds")
    assert one == two
    bad = CliRunner().invoke(main, [*args, "--workers", "0"])
    assert bad.exit_code == 2 and "--workers" in bad.output


# ---------------------------------------------------------------------------------------------------------
# Dask


def test_scheduler_without_distributed_is_a_clear_error(monkeypatch, query):
    import builtins

    real_import = builtins.__import__

    def no_distributed(name, *a, **k):
        if name == "distributed" or name.startswith("distributed."):
            raise ImportError("No module named 'distributed'")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_distributed)
    net, _ = query
    with pytest.raises(QueryError, match=r"pip install 'verinet\[dist\]'"):
        make_pool(L._Evaluator, _args(net), 1, "tcp://127.0.0.1:1")


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    import logging

    cl = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=logging.ERROR)
    client = distributed.Client(cl, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
        cl.close()


def test_dask_identical(query, reference, cluster, monkeypatch):
    net, region = query
    r = L.lipschitz(net, region, max_boxes=MAX_BOXES, scheduler=cluster)
    assert _key(r) == _key(reference)


def test_dask_by_address(query, cluster):
    net, _ = query
    with DaskPool(L._Evaluator, _args(net), cluster.scheduler.address) as pool:
        batch = _batch(pool.local, 3 * CHUNK + 3)
        parts = [pool.local.chunk(*(a[i:i + CHUNK] for a in batch)) for i in range(0, len(batch[0]), CHUNK)]
        assert _same(pool.evaluate(*batch), tuple(np.concatenate(p) for p in zip(*parts)))


def test_dask_unreachable_scheduler_is_a_clear_error(query):
    pytest.importorskip("distributed")
    net, _ = query
    with pytest.raises(QueryError, match="cannot connect"):
        DaskPool(L._Evaluator, _args(net), "tcp://127.0.0.1:9", timeout=1.0)


_GONE = types.SimpleNamespace(address="tcp://127.0.0.1:1")  # the worker a KilledWorker names


class _Failed:
    """A stand-in for a Dask future whose task failed."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def result(self):
        raise self.exc


def test_dask_transient_failures_are_resubmitted_then_evaluated_here(query, cluster):
    from distributed import KilledWorker

    net, _ = query
    with DaskPool(L._Evaluator, _args(net), cluster, resubmits=2, local_share=False) as pool:
        batch = _batch(pool.local, 40)
        ref = pool.local.chunk(*batch)
        real, calls = pool._submit, []

        def twice_killed(job):
            calls.append(job)
            return _Failed(KilledWorker("chunk", _GONE, 3)) if len(calls) <= 2 else real(job)

        pool._submit = twice_killed
        assert _same(pool.evaluate(*batch), ref) and len(calls) == 3
        pool._submit = lambda job: _Failed(KilledWorker("chunk", _GONE, 3))
        assert _same(pool.evaluate(*batch), ref)  # the cluster never succeeds: evaluated in this process
        pool._submit = lambda job: _Failed(ValueError("a bug in the evaluation"))
        with pytest.raises(ValueError, match="a bug"):  # not a cluster failure: raised, not hidden
            pool.evaluate(*batch)


class SlowEvaluator:
    """The real evaluator, slowed down so that a chunk is surely in flight when its worker is killed."""

    def __init__(self, *args):
        self.ev = L._Evaluator(*args)

    def chunk(self, *job):
        time.sleep(0.1)
        return self.ev.chunk(*job)

    def __getattr__(self, name):  # everything else the search asks of its evaluator
        if name == "ev":
            raise AttributeError(name)
        return getattr(self.ev, name)


class _KillingDaskPool(DaskPool):
    """Kills the worker process that holds a chunk, from the ``kill_at``-th submission on, once."""

    kill_at = 4

    def _submit(self, job):
        future = super()._submit(job)
        self.submitted = getattr(self, "submitted", 0) + 1
        if self.submitted >= self.kill_at and not getattr(self, "killed_with", None):
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline and not future.done():
                holders = [w for w, keys in self._client.processing().items() if future.key in keys]
                if holders:  # the scheduler has given it to a worker, which is computing it
                    pid = self._client.run(os.getpid, workers=holders)[holders[0]]
                    os.kill(pid, signal.SIGKILL)
                    self.killed_with = [future.key]
                    break
                time.sleep(0.001)
        return future


def test_dask_killed_worker_loses_no_chunk(query, reference, cluster, monkeypatch):
    net, region = query
    made = []

    def make(factory, args, workers=1, scheduler=None):
        made.append(_KillingDaskPool(SlowEvaluator, args, scheduler))
        return made[-1]

    monkeypatch.setattr(L, "make_pool", make)
    r = L.lipschitz(net, region, max_boxes=MAX_BOXES, scheduler=cluster)
    assert made[0].submitted >= made[0].kill_at and getattr(made[0], "killed_with", None), "no worker was killed"
    assert _key(r) == _key(reference)
    cluster.wait_for_workers(2, timeout=60)  # the nanny restarts the killed worker
