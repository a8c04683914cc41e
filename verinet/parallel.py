"""Parallel and distributed evaluation of the boxes of the Lipschitz branch-and-bound.

The search of :func:`verinet.analyses.lipschitz.lipschitz` stays sequential and deterministic; only the evaluation
of a batch of boxes is shared out. A pool cuts the batch into chunks of :data:`CHUNK` boxes at fixed offsets,
each chunk is evaluated by the same evaluator code in some process, and the caller gets the results back
*in chunk order*. So:

* **Determinism.** Which process evaluated a chunk cannot change what the search sees: every box is
  evaluated in the same company (the same chunk) whatever the number of workers, the chunks are put
  together in their original order, and helpers run their BLAS with one thread (measured bit-identical
  to the multi-threaded results for our products; the a-priori rounding-error bounds make either sound).
  The final result (bounds, boxes, status, partition) is therefore identical for 1, 2 or N workers and on
  a Dask cluster, for a box budget or a gap tolerance. It can differ under a *time limit* (the number of
  batches done in the time depends on speed), and on a cluster whose machines pick different BLAS kernels
  (another CPU type can sum in another order): the bounds are sound either way, only the last bits and
  hence the later course of the search may differ.
* **Soundness at every moment.** A chunk whose worker is lost (killed, crashed, disconnected) is put back
  in the queue and evaluated again, in the last resort by the calling process itself: no box is dropped,
  and nothing reaches the search before the whole batch is back.

:class:`EvaluatorPool` uses helper processes on this machine, :class:`DaskPool` the workers of a Dask
``distributed`` cluster; :func:`make_pool` picks one. Both have ``local`` (an evaluator in this process),
``evaluate(*arrays) -> tuple of arrays`` and ``close()``.

Speed. Helpers are forked when that is safe (a copy of the warm evaluator, no imports or kernel loading)
or spawned in the background with ``OPENBLAS_NUM_THREADS=1`` set before numpy loads, so that helpers and
this process do not oversubscribe the cores with BLAS threads; this process keeps evaluating everything
until they are ready and then evaluates its own share of every batch (with its BLAS limited to one
thread) instead of waiting; chunks are large enough to amortise the fixed Python cost of a call. The
search itself stays sequential, so Amdahl's law bounds the speed-up: ``benchmarks/bench_parallel.py``
measures the evaluated fraction, the bound and the speed-ups.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import os
import pickle
import signal
import stat
import subprocess
import sys
import threading
import time
import traceback
import warnings
import weakref
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any, Self

import numpy as np

from verinet.errors import QueryError

__all__ = ["CHUNK", "DaskPool", "EvaluatorPool", "fork_is_safe", "limit_blas_threads", "make_pool"]

log = logging.getLogger(__name__)

#: boxes per evaluation call. Fixed, whatever the number of workers, so that every box is evaluated in
#: the same company (BLAS results may depend on the batch shape) and results do not depend on workers.
#: 128 amortises the fixed per-call cost (about 5 ms of Python per call on ACAS Xu) and still gives two
#: chunks per batch of 128 boxes split in two.
CHUNK = 128

#: thread-count variables read by BLAS/OpenMP libraries when they load
_ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "VECLIB_MAXIMUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1"}


def make_pool(factory: Callable[..., Any], args: tuple, workers: int = 1, scheduler=None, *,
              chunk: int = CHUNK):
    """The pool that evaluates chunks for a search: on a Dask cluster when ``scheduler`` is given (an
    address such as ``"tcp://10.0.0.5:8786"``, or a ``distributed.Client``), else on ``workers`` processes
    of this machine (the calling process included).

    ``factory(*args)`` builds the evaluator (an object with ``chunk(*arrays) -> tuple of arrays``) in every
    process; it and ``args`` must be picklable (a module-level class and plain data).
    """
    if scheduler is not None:
        return DaskPool(factory, args, scheduler, chunk=chunk)
    return EvaluatorPool(factory, args, workers, chunk=chunk)


def _jobs(arrays: tuple, chunk: int) -> list[tuple]:
    """The chunks of a batch: rows ``[i, i + chunk)`` of every array, at offsets fixed by ``chunk`` alone."""
    n = len(arrays[0])
    return [tuple(a[i:i + chunk] for a in arrays) for i in range(0, n, chunk)]


def _merge(parts: list[tuple]) -> tuple:
    """Concatenate per-chunk results in chunk order."""
    return tuple(np.concatenate([p[k] for p in parts]) for k in range(len(parts[0])))


# --------------------------------------------------------------------------------------------------------
# BLAS threads


def limit_blas_threads(n: int) -> Callable[[], None]:
    """Limit this process's BLAS/OpenMP thread pools to ``n`` threads; returns a function that restores them.

    Uses ``threadpoolctl`` (imported here, at the first parallel run, not at start-up). Not
    rigor-relevant: thread counts change speed, never the bounds.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=n).restore_original_limits


# --------------------------------------------------------------------------------------------------------
# helper processes on this machine

# a Ctrl-C in the terminal reaches the whole process group: helpers ignore it and exit at EOF once the
# parent has closed the pool (they stay in the parent's session, so `nice` and the scheduler's per-session
# groups treat them as part of the run)
_BOOT = ("import signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
         "from verinet.parallel import _serve; _serve(int(sys.argv[1]), int(sys.argv[2]))")


def _serve(rfd: int, wfd: int) -> None:
    """Main of a spawned helper: build the evaluator from the pickled ``(factory, args, warm_job)`` it is
    sent first, evaluate ``warm_job`` (loads the compiled kernels), then serve chunks (:func:`_loop`)."""
    inp, out = Connection(rfd, writable=False), Connection(wfd, readable=False)
    try:
        factory, args, warm = pickle.loads(inp.recv_bytes())
        limit_blas_threads(1)  # the environment already says so; this covers libraries that ignore it
        ev = factory(*args)
        if warm is not None:
            ev.chunk(*warm)
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        return
    _loop(ev, inp, out)


def _loop(ev, inp: Connection, out: Connection) -> None:
    """Serve chunks until EOF. In: ``(call, index, job)``; out: ``("ready", pid)`` once, then
    ``(call, index, result, error_text)`` for each job."""
    try:
        out.send(("ready", os.getpid()))
        while True:
            call, index, job = inp.recv()
            try:
                result = ev.chunk(*job)
            except Exception:  # any failure is reported; the parent evaluates the chunk itself
                out.send((call, index, None, traceback.format_exc()))
            else:
                out.send((call, index, result, None))
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        return


def fork_is_safe() -> bool:
    """Whether helpers can be forked from this process rather than spawned (a heuristic, Linux only).

    A forked helper starts in milliseconds with the parent's warm evaluator; a spawned one needs 1–3 s of
    imports and kernel loading. Forking is unsafe when another thread could hold a lock at the moment of
    the fork, so it is used only when this process runs one Python thread and has no OpenMP/TBB runtime
    or numba parallel thread pool loaded. OpenBLAS's own threads are fork-safe (it shuts them down
    around ``fork`` with ``pthread_atfork`` handlers).
    """
    if not sys.platform.startswith("linux") or not hasattr(os, "fork") or threading.active_count() != 1:
        return False
    try:
        with open("/proc/self/maps") as f:
            maps = f.read()
    except OSError:
        return False
    return not any(lib in maps for lib in ("libgomp", "libiomp", "libomp", "libtbb", "workqueue", "omppool",
                                           "tbbpool"))


class _Forked:
    """The few ``subprocess.Popen`` methods the pool uses, for a child made by ``os.fork``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = -1
            else:
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout)
            time.sleep(0.005)
        return self.returncode  # type: ignore[return-value]

    def kill(self) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _close_inherited_pipes(keep: tuple[int, ...]) -> None:
    """In a forked child: close every pipe and socket but ``keep`` and stdio.

    The parent's ends of this helper's pipes, its pipes to other helpers (of this pool or another) and its
    sockets must not stay open here, or their readers would never see EOF when the parent closes them.
    Regular files (logs) stay open.
    """
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd <= 2 or fd in keep:
            continue
        try:
            mode = os.fstat(fd).st_mode
        except OSError:  # the directory listing's own descriptor, closed by now
            continue
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            os.close(fd)


_STARTING, _IDLE, _BUSY, _DEAD = "starting", "idle", "busy", "dead"


class _Helper:
    """One helper process and its two pipes (``send`` jobs, ``recv`` results)."""

    def __init__(self, payload: bytes | None, evaluator=None) -> None:
        """Spawn a fresh interpreter that builds the evaluator from ``payload``, or (``payload is None``)
        fork this process, whose child serves with its copy of ``evaluator``."""
        r_job, w_job = os.pipe()
        r_res, w_res = os.pipe()
        self._init: threading.Thread | None = None
        try:
            if payload is None:
                self.proc = self._fork(evaluator, r_job, w_res)
            else:
                self.proc = self._spawn(r_job, w_res)
        except BaseException:
            for fd in (w_job, r_res):
                os.close(fd)
            raise
        finally:
            os.close(r_job)
            os.close(w_res)
        self.send = Connection(w_job, readable=False)
        self.recv = Connection(r_res, writable=False)
        self.state = _STARTING
        self.job: tuple[int, int] | None = None  # (call, chunk index) being evaluated
        if payload is not None:
            # the payload can exceed the pipe's buffer and the child reads it only after its imports: a
            # thread writes it so that the parent goes on working meanwhile
            self._init = threading.Thread(target=self._send_init, args=(payload,), daemon=True)
            self._init.start()

    @staticmethod
    def _spawn(r_job: int, w_res: int) -> subprocess.Popen:
        env = dict(os.environ)
        env.update(_ONE_THREAD)  # before numpy loads in the child: no BLAS thread pool to oversubscribe
        path = [p for p in sys.path if p]  # the child imports verinet from where the parent does
        env["PYTHONPATH"] = os.pathsep.join(path + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        return subprocess.Popen([sys.executable, "-c", _BOOT, str(r_job), str(w_res)],
                                pass_fds=(r_job, w_res), env=env, stdin=subprocess.DEVNULL)

    @staticmethod
    def _fork(evaluator, r_job: int, w_res: int) -> _Forked:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (AttributeError, OSError, ValueError):
                pass
        with warnings.catch_warnings():
            # Python >= 3.12 warns on fork() when the OS lists more than one thread; the only other threads
            # fork_is_safe() lets through are OpenBLAS's, which are fork-safe (see there)
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid:
            return _Forked(pid)
        code = 1  # the child: never returns into the parent's stack
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in spawned helpers (see _BOOT)
            _close_inherited_pipes(keep=(r_job, w_res))
            limit_blas_threads(1)
            _loop(evaluator, Connection(r_job, writable=False), Connection(w_res, readable=False))
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)

    def _send_init(self, payload: bytes) -> None:
        try:
            self.send.send_bytes(payload)
        except OSError:  # the child died; the parent sees EOF on its pipe
            pass

    def ready(self) -> None:
        if self._init is not None:
            self._init.join()  # the child has read the whole payload, so the writer thread is done
        self.state = _IDLE

    def stop(self) -> None:
        for conn in (self.send, self.recv):
            try:
                conn.close()
            except OSError:
                pass
        if self.state in (_IDLE, _BUSY):
            try:  # it exits at EOF, after its current chunk at the latest
                self.proc.wait(timeout=2.0)
                self.state = _DEAD
                return
            except subprocess.TimeoutExpired:
                pass
        self.proc.kill()
        self.proc.wait()
        self.state = _DEAD


def _kill_all(helpers: list[_Helper]) -> None:
    for h in helpers:
        if h.proc.poll() is None:
            h.proc.kill()


class EvaluatorPool:
    """Evaluates chunks of boxes in this process and, when ``workers > 1``, in ``workers − 1`` helper
    processes of this machine.

    * Helpers start after ``start_delay`` seconds (very short runs never pay for them), as many as the
      largest batch so far can keep busy (a batch of ``k`` chunks: ``k − 1`` helpers and this process),
      at most ``workers − 1``: forked from this
      process when :func:`fork_is_safe` (``start="auto"``; ready in milliseconds, with a copy of the warm
      evaluator), else spawned as fresh interpreters that rebuild the evaluator from its pickled recipe
      and warm up on the run's first chunk, in the background (1–3 s); until they are ready, this process
      evaluates everything. ``start="spawn"`` or ``"fork"`` forces one way.
    * In a batch, helpers take chunks from the front and this process from the back; a helper that has not
      answered after a while (``patience``) has its chunk evaluated here as well (first result wins: both
      are the same).
    * A helper that dies has its chunk evaluated again and is replaced (up to ``2·workers`` times).
    * While helpers exist, this process's BLAS uses one thread (restored by :meth:`close`).

    ``evaluate`` returns exactly what ``factory(*args).chunk`` returns for each chunk, concatenated in order.
    """

    def __init__(self, factory: Callable[..., Any], args: tuple, workers: int = 1, *, chunk: int = CHUNK,
                 start: str = "auto", start_delay: float = 0.25, patience: float = 2.0) -> None:
        if workers < 1:
            raise QueryError(f"workers must be >= 1, got {workers}")
        if chunk < 1:
            raise QueryError(f"chunk must be >= 1, got {chunk}")
        if start not in ("auto", "fork", "spawn"):
            raise QueryError(f"start must be 'auto', 'fork' or 'spawn', got {start!r}")
        self.local = factory(*args)
        self.workers = workers
        self.start = start
        self.chunk = chunk
        self._factory, self._args = factory, args
        self._helpers: list[_Helper] = []
        self._created = time.perf_counter()
        self._start_delay = start_delay
        self._patience = patience
        self._started = 0  # helpers started for the batches seen (replacements not counted)
        self._restarts = 0
        self._warm: tuple | None = None
        self._call = 0
        self._restore_blas: Callable[[], None] | None = None
        self._chunk_seconds = 0.0  # running mean of this process's time per chunk
        #: chunks evaluated here and by helpers, helpers lost, seconds until the first helper was ready
        self.stats = {"local_chunks": 0, "helper_chunks": 0, "lost": 0, "first_ready": None}
        self._finalizer = weakref.finalize(self, _kill_all, self._helpers)

    # -- helpers ------------------------------------------------------------------------------------------

    def _spawn(self) -> None:
        fork = self.start == "fork" or (self.start == "auto" and fork_is_safe())
        try:
            if fork:
                h = _Helper(None, self.local)
            else:
                recipe = (self._factory, self._args, self._warm)
                h = _Helper(pickle.dumps(recipe, protocol=pickle.HIGHEST_PROTOCOL))
        except (OSError, ValueError) as exc:  # no more processes or pipes: go on with fewer helpers
            log.warning("could not start a worker process (%s); continuing with %d", exc,
                        len(self._helpers) + 1)
            return
        self._helpers.append(h)

    def _maybe_start(self, n_jobs: int | None = None) -> None:
        """Start helpers for a batch of ``n_jobs`` chunks (``None``: all ``workers − 1`` at once): no more
        than the batch can keep busy with this process taking a share, and no more than ``workers − 1``."""
        if n_jobs is not None and time.perf_counter() - self._created < self._start_delay:
            return
        target = self.workers - 1 if n_jobs is None else min(self.workers, n_jobs) - 1
        while self._started < target:
            if self._restore_blas is None:
                self._restore_blas = limit_blas_threads(1)
            self._started += 1
            self._spawn()

    @property
    def pids(self) -> list[int]:
        """Process ids of the live helpers (for monitoring and tests)."""
        return [h.proc.pid for h in self._helpers if h.state != _DEAD]

    def _lost(self, h: _Helper, done: list[bool] | None, pending) -> None:
        """Bookkeeping for a helper that died: re-queue its chunk, replace it if the budget allows."""
        code = h.proc.poll()
        if h.job is not None and done is not None and h.job[0] == self._call and not done[h.job[1]]:
            pending.appendleft(h.job[1])
            log.warning("worker process %d stopped (exit code %s); its chunk is evaluated again",
                        h.proc.pid, code)
        else:
            log.warning("worker process %d stopped (exit code %s)", h.proc.pid, code)
        self.stats["lost"] += 1
        h.stop()
        h.state, h.job = _DEAD, None
        self._helpers.remove(h)
        if self._restarts < 2 * self.workers:
            self._restarts += 1
            self._spawn()

    def _ready(self, h: _Helper) -> None:
        h.ready()
        if self.stats["first_ready"] is None:
            self.stats["first_ready"] = time.perf_counter() - self._created

    def wait_ready(self, timeout: float = 120.0) -> bool:
        """Start the helpers now (if ``workers > 1``) and wait until they are warm; False on timeout.

        Not needed for correctness: :meth:`evaluate` uses helpers as they become ready. Useful to measure
        steady-state speed, or in tests that must exercise the helpers.
        """
        self._maybe_start()
        deadline = time.perf_counter() + timeout
        while True:
            starting = {h.recv: h for h in self._helpers if h.state == _STARTING}
            left = deadline - time.perf_counter()
            if not starting:
                return True
            if left <= 0:
                return False
            for conn in wait(list(starting), left):
                h = starting[conn]
                try:
                    conn.recv()  # the only message before a job: ("ready", pid)
                except (EOFError, OSError):
                    self._lost(h, None, None)
                else:
                    self._ready(h)

    # -- evaluation ---------------------------------------------------------------------------------------

    def evaluate(self, *arrays: np.ndarray) -> tuple:
        """``chunk`` results for the rows of ``arrays`` (all of one length), concatenated in row order."""
        if len(arrays[0]) == 0:
            return self.local.chunk(*arrays)
        jobs = _jobs(arrays, self.chunk)
        if self._warm is None:
            self._warm = tuple(np.array(a) for a in jobs[0])
        self._maybe_start(len(jobs))
        if not self._helpers or len(jobs) == 1:  # one chunk: sending it away would only add latency
            return _merge([self._local(job) for job in jobs])
        return _merge(self._distribute(jobs))

    def _local(self, job: tuple) -> tuple:
        t = time.perf_counter()
        result = self.local.chunk(*job)
        dt = time.perf_counter() - t
        self.stats["local_chunks"] += 1
        self._chunk_seconds = 0.8 * self._chunk_seconds + 0.2 * dt if self._chunk_seconds else dt
        return result

    def _distribute(self, jobs: list[tuple]) -> list[tuple]:
        self._call += 1
        call = self._call
        results: list[tuple | None] = [None] * len(jobs)
        done = [False] * len(jobs)
        pending = collections.deque(range(len(jobs)))
        mine: list[int] = []  # chunks a helper failed on: evaluated here only

        def finish(i: int, result: tuple) -> None:
            if not done[i]:
                results[i], done[i] = result, True

        def assign() -> None:
            for h in list(self._helpers):
                if h.state == _IDLE and pending:
                    i = pending.popleft()
                    try:
                        h.send.send((call, i, jobs[i]))
                    except OSError:
                        pending.appendleft(i)
                        self._lost(h, done, pending)
                        continue
                    h.state, h.job = _BUSY, (call, i)

        def collect(timeout: float | None) -> bool:
            """Handle the helpers' messages (waiting up to ``timeout``); True if any arrived."""
            live = {h.recv: h for h in self._helpers}
            if not live:
                return False
            ready = wait(list(live), timeout)
            for conn in ready:
                h = live[conn]
                try:
                    msg = conn.recv()
                except (EOFError, OSError):
                    self._lost(h, done, pending)
                    continue
                if msg[0] == "ready":
                    self._ready(h)
                    continue
                c, i, result, error = msg
                h.state, h.job = _IDLE, None
                if c != call or done[i]:
                    continue  # a chunk of an earlier batch, or one already evaluated here
                if error is not None:  # evaluate it here: the same error then surfaces with its context
                    log.debug("worker process %d failed on a chunk:\n%s", h.proc.pid, error)
                    mine.append(i)
                else:
                    self.stats["helper_chunks"] += 1
                    finish(i, result)
            return bool(ready)

        collect(0)
        assign()
        while not all(done):
            if mine or pending:
                # this process works from the back, helpers from the front
                i = mine.pop() if mine else pending.pop()
                finish(i, self._local(jobs[i]))
                collect(0)
                assign()
                continue
            # every remaining chunk is at a helper
            patience = max(self._patience, 20 * self._chunk_seconds)
            if not collect(patience):
                # no answer in time (an overloaded or hung helper): evaluate the first missing chunk here;
                # the helper's late answer, identical anyway, is then ignored
                held = [h.job[1] for h in self._helpers if h.job is not None and h.job[0] == call]
                missing = [i for i in held if not done[i]] or [i for i in range(len(jobs)) if not done[i]]
                finish(missing[0], self._local(jobs[missing[0]]))
            assign()
        return results  # type: ignore[return-value]

    def close(self) -> None:
        """Stop the helpers and restore this process's BLAS threads. Idempotent."""
        helpers, self._helpers[:] = list(self._helpers), []
        for h in helpers:
            h.stop()
        if self._restore_blas is not None:
            self._restore_blas()
            self._restore_blas = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --------------------------------------------------------------------------------------------------------
# Dask


_DASK_LOCAL = threading.local()  # per worker thread: {token: evaluator}


def _dask_chunk(payload: bytes, token: str, *job):
    """Task run on a Dask worker: the evaluator is built once per worker thread and query (``token``)."""
    cache = getattr(_DASK_LOCAL, "cache", None)
    if cache is None:
        cache = _DASK_LOCAL.cache = {}
    ev = cache.get(token)
    if ev is None:
        if len(cache) >= 4:  # a long-lived worker serving many queries keeps only the latest few
            cache.clear()
        factory, args = pickle.loads(payload)
        ev = cache[token] = factory(*args)
    return ev.chunk(*job)


def _transient(exc: BaseException) -> bool:
    """Failures of the cluster rather than of the evaluation: the chunk is worth submitting again."""
    import concurrent.futures

    from distributed import KilledWorker
    from distributed.comm.core import CommClosedError

    return isinstance(exc, (KilledWorker, CommClosedError, concurrent.futures.CancelledError, OSError,
                            TimeoutError))


class DaskPool:
    """Evaluates chunks of boxes as tasks on a Dask ``distributed`` cluster.

    The evaluator's recipe (``factory``, ``args``: the network and the query) is scattered once to every
    worker (``broadcast=True``) and each worker thread builds the evaluator at its first task. Chunks are
    submitted with ``retries`` (the scheduler also reschedules the tasks of a lost worker by itself); a
    chunk that still fails for a cluster reason (killed worker, lost connection) is submitted again up to
    ``resubmits`` times and then evaluated in this process, so no box is ever lost. Errors of the
    evaluation itself are raised. Results are gathered in chunk order. With ``local_share`` this process
    evaluates the last chunk of every batch itself (all of a one-chunk batch) while the cluster works on
    the others: one round trip fewer per batch, and the client's core is not idle.

    ``scheduler`` is an address (``"tcp://host:8786"``) or an existing ``distributed.Client`` (left open by
    :meth:`close`). Every worker needs the same verinet version (and numpy/BLAS, for identical results).
    """

    def __init__(self, factory: Callable[..., Any], args: tuple, scheduler, *, chunk: int = CHUNK,
                 retries: int = 3, resubmits: int = 3, timeout: float = 10.0,
                 local_share: bool = True) -> None:
        try:
            import distributed
        except ImportError:
            raise QueryError("--scheduler needs Dask's distributed package: "
                             "pip install 'verinet[dist]'") from None
        if chunk < 1:
            raise QueryError(f"chunk must be >= 1, got {chunk}")
        self.local = factory(*args)
        self.chunk = chunk
        self.retries = retries
        self.resubmits = resubmits
        self.local_share = local_share
        #: chunks evaluated here and on the cluster (those include resubmitted ones once)
        self.stats = {"local_chunks": 0, "helper_chunks": 0}
        if isinstance(scheduler, distributed.Client):
            self._client, self._own = scheduler, False
        else:
            try:
                self._client = distributed.Client(scheduler, timeout=timeout, set_as_default=False)
            except (OSError, TimeoutError, ValueError) as exc:
                raise QueryError(f"cannot connect to the Dask scheduler at {scheduler}: {exc}") from None
            self._own = True
        payload = pickle.dumps((factory, args), protocol=pickle.HIGHEST_PROTOCOL)
        self._token = "verinet-" + hashlib.sha256(payload).hexdigest()[:24]
        self._spec = self._client.scatter(payload, broadcast=True, hash=False)

    def _submit(self, job: tuple):
        return self._client.submit(_dask_chunk, self._spec, self._token, *job, retries=self.retries,
                                   pure=False)

    def _result(self, future, job: tuple) -> tuple:
        for attempt in range(self.resubmits + 1):
            try:
                if future is None:
                    future = self._submit(job)
                return future.result()
            except ImportError as exc:
                raise QueryError(f"a Dask worker cannot import verinet ({exc}): install the same verinet "
                                 "version on every worker") from None
            except Exception as exc:
                if not _transient(exc):
                    raise
                log.warning("a chunk failed on the cluster (%s: %s); submitting it again",
                            type(exc).__name__, exc)
                future = None
        log.warning("a chunk failed %d times on the cluster: evaluating it in this process",
                    self.resubmits + 1)
        return self.local.chunk(*job)

    def evaluate(self, *arrays: np.ndarray) -> tuple:
        """``chunk`` results for the rows of ``arrays`` (all of one length), concatenated in row order."""
        if len(arrays[0]) == 0:
            return self.local.chunk(*arrays)
        jobs = _jobs(arrays, self.chunk)
        remote = jobs[:-1] if self.local_share else jobs  # the last chunk here, while the cluster works
        futures = []
        for job in remote:
            try:
                futures.append(self._submit(job))
            except Exception as exc:  # e.g. the connection is gone: _result tries again, then locally
                log.warning("could not submit a chunk (%s)", exc)
                futures.append(None)
        mine = [self.local.chunk(*jobs[-1])] if self.local_share else []
        self.stats["local_chunks"] += len(mine)
        self.stats["helper_chunks"] += len(remote)
        return _merge([self._result(f, job) for f, job in zip(futures, remote)] + mine)

    def close(self) -> None:
        """Release the scattered network and, if this pool opened it, the connection. Idempotent."""
        spec, self._spec = self._spec, None
        if spec is not None:
            try:
                spec.release()
            except Exception:  # the connection may be gone already; the cluster forgets it then anyway
                log.debug("could not release the scattered evaluator", exc_info=True)
        if self._own:
            self._own = False
            self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
