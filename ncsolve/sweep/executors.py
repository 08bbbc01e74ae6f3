"""Executors for the points of a sweep: any ``concurrent.futures.Executor`` works.

``process`` (default) is a local process pool, ``thread`` a thread pool, ``serial``
runs each point in the calling process as it is submitted, ``dask`` starts a
``dask.distributed.LocalCluster``, and a scheduler address connects to a running
Dask cluster (its ``Client.get_executor()``). Results do not depend on the
executor: each point is seeded by its own ``seed`` column.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import os
import signal
import socket
import struct

from ..inputs.validation import Options, ProblemError, check, invalid, whole_number

EXECUTORS = ("process", "thread", "serial", "dask")
CONNECT_TIMEOUT = 3.0  # seconds to reach a Dask scheduler before giving up
GREETING_TIMEOUT = 0.75  # seconds for a scheduler's first bytes (it sends them at once)
LIVENESS_INTERVAL = 5.0  # seconds without a finished point before a scheduler is probed
GREETING_LIMIT = 1 << 20  # bytes: a Dask scheduler's first message is far shorter


class SerialExecutor(cf.Executor):
    """Runs every submitted call at once in the calling process."""

    def submit(self, fn, /, *args, **kwargs):
        future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # noqa: BLE001 - delivered through the future
            if isinstance(error, KeyboardInterrupt):
                raise
            future.set_exception(error)
        return future


def check_executor(kind: str | None, workers, scheduler: str | None) -> tuple[str, int | None]:
    """Validate the executor options (before any work)."""
    if scheduler is not None:
        if kind not in (None, "dask"):
            raise invalid("scheduler", f"connects to a Dask cluster; leave out --executor {kind}")
        kind = "dask"
    kind = "process" if kind is None else check(str(kind), Options(EXECUTORS), "executor")
    count = None if workers is None else whole_number(workers, "workers", "", high=4096)
    if scheduler is not None and count is not None:
        raise invalid("workers", "a running Dask cluster has its own "
                      "workers; leave out --workers with --scheduler")
    return kind, count


@contextlib.contextmanager
def open_executor(kind: str | None = None, workers=None, scheduler: str | None = None):
    """The executor named by the options, shut down on exit.

    Raises
    ------
    ProblemError
        For unknown executors, or a scheduler that does not answer within
        :data:`CONNECT_TIMEOUT` seconds.
    """
    kind, count = check_executor(kind, workers, scheduler)
    if kind == "serial":
        yield SerialExecutor()
        return
    if kind == "thread":
        pool = cf.ThreadPoolExecutor(max_workers=count or os.cpu_count())
    elif kind == "process":
        pool = cf.ProcessPoolExecutor(max_workers=count or os.cpu_count(),
                                      initializer=_worker_start)
    else:
        with _dask_client(count, scheduler) as client:
            pool = client.get_executor()
            pool.scheduler_address = scheduler  # probed while no point finishes
            yield pool
        return
    try:
        yield pool
    except BaseException:
        stop_now(pool)  # an error, Ctrl-C or SIGTERM: no point waits for the others
        raise
    pool.shutdown()


@contextlib.contextmanager
def _ignoring_sigint():
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _worker_start() -> None:
    """In each worker process: leave Ctrl-C to the parent (which ends the workers), and
    die with the parent however it ends (Linux: PR_SET_PDEATHSIG)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handler, copied by fork
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent already died
            os._exit(1)


def stop_now(pool: cf.Executor) -> None:
    """Cancel the queued points and end the worker processes at once (SIGKILL: a worker
    holds nothing to save, and a forked worker may still carry the parent's handlers)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        with contextlib.suppress(Exception):
            process.kill()
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(Exception):
            process.join(5)


@contextlib.contextmanager
def _dask_client(workers: int | None, scheduler: str | None):
    if scheduler is not None:
        probe_scheduler(scheduler)  # before the slow import of distributed
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise invalid("executor", "Dask needs dask.distributed "
                      "(pip install 'ncsolve[dask]')") from None
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError, MemoryError) as error:
            raise invalid("scheduler", f"no Dask scheduler answered at "
                          f"{scheduler!r} within {CONNECT_TIMEOUT:g} s "
                          f"({type(error).__name__}); check the address") from None
        # a lost scheduler: no reconnection logs on stderr, only our one line
        with _silenced("distributed", "tornado", "asyncio"), client:
            yield client
        return
    with _ignoring_sigint():  # the worker processes inherit it: Ctrl-C is the parent's
        cluster = LocalCluster(n_workers=workers or os.cpu_count(), threads_per_worker=1,
                               processes=True, dashboard_address=None,
                               silence_logs=logging.CRITICAL)
    with cluster, Client(cluster) as client:
        try:
            yield client
        except BaseException:
            logging.getLogger("distributed").setLevel(logging.CRITICAL + 1)
            raise


@contextlib.contextmanager
def _silenced(*prefixes: str):
    """No log records from the loggers under ``prefixes`` (each child has its own level)."""
    names = list(prefixes) + [name for name in logging.root.manager.loggerDict
                              if name.startswith(tuple(p + "." for p in prefixes))]
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def probe_scheduler(address: str, timeout: float = GREETING_TIMEOUT) -> None:
    """Refuse a ``tcp://`` address that does not greet like a Dask scheduler within
    ``timeout`` seconds (a scheduler sends its handshake as soon as it accepts; a port
    that accepts and stays silent, or answers another protocol, would otherwise hang
    the client or make it allocate a frame of the size its first bytes spell)."""
    if not address.startswith("tcp://"):
        return
    host, _, port = address[len("tcp://"):].rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise invalid("scheduler", f"{address!r} is not tcp://HOST:PORT; check the address")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as conn:
            conn.settimeout(timeout)
            head = _read(conn, 16)
    except (OSError, TimeoutError) as error:
        raise invalid("scheduler", f"no Dask scheduler answered at {address!r} within "
                      f"{timeout:g} s ({type(error).__name__}); check the address") from None
    size, frames = struct.unpack("<QQ", head)
    if not 0 < size <= GREETING_LIMIT or not 0 < frames <= 64:
        raise invalid("scheduler", f"{address!r} answers, but not as a Dask scheduler; "
                      "check the address and port")


def _read(conn: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            raise ConnectionResetError("closed before its greeting")
        data += chunk
    return data


def wait_for_any(pool, pending: set) -> tuple[set, set]:
    """``cf.wait(pending, FIRST_COMPLETED)`` with a timeout for Dask: while no point
    finishes, a named scheduler is probed every LIVENESS_INTERVAL seconds, and a client
    that lost its scheduler (or cancelled futures) ends the wait with one line."""
    client = getattr(pool, "_client", None)
    if client is None:
        return cf.wait(pending, return_when=cf.FIRST_COMPLETED)
    address = getattr(pool, "scheduler_address", None)
    while True:
        finished, rest = cf.wait(pending, timeout=LIVENESS_INTERVAL,
                                 return_when=cf.FIRST_COMPLETED)
        if any(future.cancelled() for future in finished) or client.status in (
                "closing", "closed", "failed"):
            raise _lost(address)
        if finished:
            return finished, rest
        if address is not None:
            try:
                probe_scheduler(address)
            except ProblemError:
                raise _lost(address) from None


def _lost(address) -> ProblemError:
    where = f" at {address!r}" if address else ""
    return invalid("scheduler", f"the Dask scheduler{where} stopped answering mid-run; the "
                   "points finished so far are kept: start a scheduler and run the same "
                   "command again to resume")
