"""``bounded``: run a piece of code that must end in time and within a memory budget (the
hostile-input tests: a reader given a huge, endless or blocking file)."""

from __future__ import annotations

import threading
import tracemalloc
from typing import Any, Callable


def bounded(function: Callable[[], Any], *, seconds: float = 30.0,
            megabytes: float = 64) -> tuple[BaseException | None, Any]:
    """Run ``function`` in a thread: it must end within ``seconds`` (not blocked, not reading
    forever) and allocate less than ``megabytes``; returns ``(error, value)``, either None."""
    result: dict[str, Any] = {}

    def run() -> None:
        tracemalloc.start()
        try:
            result["value"] = function()
        except BaseException as err:  # noqa: BLE001 - handed back to the test
            result["error"] = err
        finally:
            result["peak"] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s (blocked or reading forever)"
    assert result["peak"] < megabytes * 2**20, f"allocated {result['peak'] / 2**20:.0f} MB"
    return result.get("error"), result.get("value")
