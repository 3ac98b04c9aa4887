"""Optional-dependency checks and client lookup shared by the Dask helpers."""

from __future__ import annotations

from typing import Any

__all__ = ["get_client", "require_dask"]

_INSTALL = 'pip install "skfusion[dask]"'


def require_dask() -> None:
    """Import dask.distributed and pyarrow, or explain how to install them.

    Raises
    ------
    ImportError
        Naming the missing package and the extra that provides it.
    """
    for module in ("distributed", "pyarrow"):
        try:
            __import__(module)
        except ImportError as exc:
            raise ImportError(
                f"skfusion.distributed needs {module!r}, which is not installed; install it "
                f"with: {_INSTALL}"
            ) from exc


def get_client(client: Any = None) -> Any:
    """The given Dask client, or the current default one.

    Parameters
    ----------
    client : distributed.Client, optional
        A connected client.

    Returns
    -------
    distributed.Client

    Raises
    ------
    ValueError
        When ``client`` is None and no client is running in this process.
    """
    require_dask()
    if client is not None:
        return client
    from distributed import get_client as current

    try:
        return current()
    except ValueError as exc:
        raise ValueError(
            "No Dask client: pass client=distributed.Client(...) or create one first, e.g. "
            "Client(LocalCluster()) on one machine or Client('scheduler-address:8786')."
        ) from exc
