"""Where heavy computation runs: this process, or the lab's Dask cluster named by address.

Microstructure solves and surrogate training take a `concurrent.futures.Executor` (or None: a
plain loop here). With `Settings.dask_address` set, that executor is a `distributed.Client`
connected to the lab's scheduler (`Client.get_executor`, https://distributed.dask.org/en/stable/
api.html#distributed.Client.get_executor): each cube or ensemble member becomes one Dask task
on whichever worker is free. Every task is a pure function of its inputs and seed, so the
results are the ones a serial run gives; caches stay with the caller, which sends only what it
lacks. Oracle screens reach the same scheduler through Prefect's `DaskTaskRunner(address=…)`.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager

from electroloop.errors import ConfigError
from electroloop.settings import Settings

CONNECT_TIMEOUT = 10.0
"""Seconds to reach the scheduler before the run is refused (nothing has moved yet)."""


@contextmanager
def cluster(settings: Settings, timeout: float = CONNECT_TIMEOUT) -> Iterator[Executor | None]:
    """An executor on the lab's Dask cluster while the block runs, or None without one;
    `ConfigError` if its scheduler does not answer within `timeout` seconds."""
    if settings.dask_address is None:
        yield None
        return
    from distributed import Client  # only a lab with a cluster loads it

    try:
        client = Client(settings.dask_address, timeout=timeout, set_as_default=False)
    except OSError as error:
        raise ConfigError(
            f"dask_address: no Dask scheduler answers at {settings.dask_address} within "
            f"{timeout:g} s ({error}); start one (`dask scheduler`) or unset "
            "ELECTROLOOP_DASK_ADDRESS to compute in this process"
        ) from None
    try:
        yield client.get_executor(pure=False)
    finally:
        client.close()
