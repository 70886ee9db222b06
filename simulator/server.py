"""Running the simulator: in the foreground for `wirelane-sync simulate`, or in a background
thread for tests, the demo and benchmarks (real HTTP on loopback either way)."""

from __future__ import annotations

import contextlib
import ctypes
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from simulator import spec, timefmt
from simulator.app import create_app
from simulator.auth import DemoCredentials
from simulator.generate import DEFAULT_NOW, build_world
from simulator.world import JSON, SimulatorSizes, World


@dataclass(frozen=True)
class SimulatorSettings:
    host: str = "127.0.0.1"
    port: int = 8765  # 0 picks a free port
    seed: int = 42
    sizes: SimulatorSizes = field(default_factory=SimulatorSizes)
    now: str = DEFAULT_NOW
    faults: JSON | None = None
    webhook_url: str | None = None  # POST an EventLog here for every change (docs/webhooks.md)
    webhook_secret: str | None = field(default=None, repr=False)  # signs them; needed with a url


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningSimulator:
    """A simulator serving on loopback; `stop()` shuts it down."""

    base_url: str
    world: World
    server: uvicorn.Server
    thread: threading.Thread
    credentials: DemoCredentials

    @property
    def api_url(self) -> str:
        return f"{self.base_url}{spec.API_PREFIX}"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/token"

    @property
    def state(self) -> Any:
        app: Any = self.server.config.app
        return app.state.simulator

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.state.dispatcher.stop()


def _config(settings: SimulatorSettings, world: World, port: int) -> uvicorn.Config:
    app = create_app(
        world,
        fault_settings=settings.faults,
        issuer=f"http://{settings.host}:{port}",
        webhook_url=settings.webhook_url,
        webhook_secret=settings.webhook_secret,
    )
    return uvicorn.Config(
        app,
        host=settings.host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=30,
        lifespan="off",
    )


def build(settings: SimulatorSettings) -> World:
    _tune_malloc()
    world = build_world(settings.seed, settings.sizes, timefmt.parse_iso(settings.now))
    _release_free_memory()
    return world


def _tune_malloc() -> None:
    """Serves large responses from fresh mappings that go back to the OS when freed.

    A page of 10,000 sessions is ~18 MB of JSON plus its intermediate objects; with glibc's
    adaptive mmap threshold those end up on the heap after the first page and the resident
    memory keeps the high-water mark of every page size ever served.
    """
    m_mmap_threshold = -3
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(m_mmap_threshold, 1 << 20)


def _release_free_memory() -> None:
    """Hands the generator's freed temporaries back to the OS; glibc would otherwise keep
    them mapped, and the server's resident memory would include them for its whole life."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def start_in_thread(settings: SimulatorSettings, world: World | None = None) -> RunningSimulator:
    """Builds the world (unless given) and serves it from a daemon thread; returns when ready."""
    world = world or build(settings)
    port = settings.port or free_port(settings.host)
    server = uvicorn.Server(_config(settings, world, port))
    thread = threading.Thread(target=server.run, name="wirelane-simulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"simulator did not start on {settings.host}:{port}")
        time.sleep(0.02)
    return RunningSimulator(f"http://{settings.host}:{port}", world, server, thread, DemoCredentials())


def bind(host: str, port: int) -> socket.socket:
    """Binds the listening socket up front, so a taken port fails fast with a clear message."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {error.strerror}") from error
    sock.listen(128)
    return sock


def serve_forever(settings: SimulatorSettings, world: World, sock: socket.socket) -> None:
    port = sock.getsockname()[1]
    config = _config(settings, world, port)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        app: Any = config.app
        app.state.simulator.dispatcher.stop()
