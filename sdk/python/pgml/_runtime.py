"""One event loop on a background thread runs every database call of the SDK.

Why: the async front end may be awaited from any event loop (pytest-asyncio makes one per test,
asyncio.run() one per call) and the sync front end from plain threads. Connection pools are bound
to the loop that opened them, so they all live on this one loop; callers hop onto it and back.
The hop costs a few microseconds, far below one database round trip.
"""
import asyncio
import functools
import os
import threading

_lock = threading.Lock()
_state = {"loop": None, "pid": None}


def loop():
    """The SDK's loop, started on first use (and again in a forked child)."""
    with _lock:
        if _state["loop"] is None or _state["pid"] != os.getpid():
            new_loop = asyncio.new_event_loop()
            thread = threading.Thread(target=new_loop.run_forever, name="pgml-sdk", daemon=True)
            thread.start()
            _state.update(loop=new_loop, pid=os.getpid())
        return _state["loop"]


def _running_loop():
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


async def hop(coro):
    """Awaits `coro` on the SDK's loop from whatever loop the caller runs."""
    sdk_loop = loop()
    if _running_loop() is sdk_loop:
        return await coro
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, sdk_loop))


def run_sync(coro):
    """Runs `coro` on the SDK's loop and blocks the calling thread until it is done."""
    sdk_loop = loop()
    if _running_loop() is sdk_loop:
        coro.close()
        raise RuntimeError("a blocking pgml call cannot run inside the SDK's own event loop")
    return asyncio.run_coroutine_threadsafe(coro, sdk_loop).result()


def bridged(method):
    """Makes an async method run on the SDK's loop whichever loop awaits it."""
    @functools.wraps(method)
    async def wrapper(*args, **kwargs):
        return await hop(method(*args, **kwargs))
    wrapper.__pgml_bridged__ = True
    return wrapper


class AsyncStream:
    """An async iterator over an async generator that runs on the SDK's loop."""

    def __init__(self, agen):
        self._agen = agen

    def __aiter__(self):
        return self

    async def __anext__(self):
        return await hop(self._agen.__anext__())

    async def aclose(self):
        await hop(self._agen.aclose())


class SyncStream:
    """The blocking twin of AsyncStream (a plain iterator)."""

    def __init__(self, agen):
        self._agen = agen

    def __iter__(self):
        return self

    def __next__(self):
        try:
            return run_sync(self._agen.__anext__())
        except StopAsyncIteration:
            raise StopIteration from None

    def close(self):
        run_sync(self._agen.aclose())
