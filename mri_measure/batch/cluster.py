"""The Dask client for ``mri-measure batch``: an embedded LocalCluster of
worker processes, or a running cluster given with ``--scheduler``.

The embedded cluster is set up for one study per task: one thread per worker
process, ``allowed-failures`` = 1 (a study that kills a worker is retried
once on a fresh worker, then errs with ``KilledWorker``), work stealing off,
no dashboard, loopback only. Dask's nanny restarts a worker that dies and
gives each worker process ``OMP_NUM_THREADS=1`` (one core per worker).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import OptionError

WAIT_FOR_WORKERS_S = 60.0


def quiet_distributed(debug: bool) -> None:
    """Dask's own logs are for operators (every failure they report is also
    recorded in errors.csv): keep them off stderr unless --debug."""
    if not debug:
        for name in ("distributed", "distributed.nanny", "distributed.scheduler",
                     "distributed.worker", "distributed.client", "distributed.core"):
            logging.getLogger(name).setLevel(logging.CRITICAL)


@contextmanager
def open_client(workers: int | None, scheduler: str | None, *, debug: bool = False) -> Iterator[Any]:
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise OptionError(
                f"cannot reach the Dask scheduler given with --scheduler ({type(exc).__name__}); "
                "start one with `dask scheduler` and workers with `dask worker ADDRESS`"
            ) from None
        try:
            try:
                client.wait_for_workers(1, timeout=WAIT_FOR_WORKERS_S)
            except TimeoutError:
                raise OptionError(
                    f"the Dask scheduler has no workers (waited {WAIT_FOR_WORKERS_S:g} s); "
                    "start some with `dask worker ADDRESS --nthreads 1`"
                ) from None
            yield client
        finally:
            client.close()
        return
    n = workers if workers is not None else (os.cpu_count() or 1)
    if n < 1:
        raise OptionError("--workers must be at least 1")
    with dask.config.set(
        {
            "distributed.scheduler.allowed-failures": 1,
            "distributed.scheduler.worker-saturation": 1.0,  # belt and braces to the client's throttle
            # a study is one long task; never move it to a "less busy" worker
            "distributed.scheduler.work-stealing": False,
        }
    ):
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            # the scheduler always serves HTTP (health/metrics); None would mean the
            # default :8787, which another cluster may hold: a random loopback port
            dashboard_address="127.0.0.1:0",
            scheduler_kwargs={"dashboard": False},
            host="127.0.0.1",
            silence_logs=logging.WARNING if debug else logging.CRITICAL,
        )
        client = Client(cluster)
    try:
        yield client
    finally:
        try:
            client.close()
        finally:
            cluster.close()
