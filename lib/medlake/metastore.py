"""The shared metastore: a Derby network server on loopback that jobs, notebooks and the JDBC server share.

Embedded Derby admits one process: while a notebook holds it, every job fails. With
``metastore: shared`` (the ``local`` profile's default) the catalogue lives in the same Derby
database under ``MEDLAKE_HOME/metastore_db``, served by Derby's own network server, which the
first process that needs it starts on a free loopback port and later processes reuse:

* ``MEDLAKE_HOME/metastore/server.json`` records the server's pid and port; a process connects
  when the pid is alive and the port answers, and otherwise starts a new server (under a file
  lock, so two processes starting at once start one server). A client that crashes holds no lock
  on the catalogue; a server that crashes is replaced by the next process, and Derby recovers the
  database from its log.
* The server is one small JVM (Derby's ``NetworkServerControl``, about 100 MB), listening on
  127.0.0.1 only. It keeps running between jobs; ``python -m medlake.metastore stop`` (or
  ``./spark-submit.sh --stop-metastore``) stops it.

The JARs are Spark's own Derby and Derby's network server and client of the same version,
resolved from Maven Central at set-up (:func:`medlake.spark_defaults.resolve_derby_jars`).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from medlake.config import MedlakeConfig, load_config
from medlake.errors import ConfigError

__all__ = ["MetastoreServer", "client_url", "ensure_server", "stop_server"]

#: The JDBC driver the Hive metastore client uses to reach the network server.
CLIENT_DRIVER = "org.apache.derby.jdbc.ClientDriver"
_SERVER_CLASS = "org.apache.derby.drda.NetworkServerControl"
_HOST = "127.0.0.1"
_START_SECONDS = 60


@dataclass(frozen=True)
class MetastoreServer:
    """A running Derby network server: its process and loopback port."""

    pid: int
    port: int


def _state_dir(config: MedlakeConfig) -> Path:
    return Path(config.home) / "metastore"


def _answers(port: int) -> bool:
    try:
        with socket.create_connection((_HOST, port), timeout=1):
            return True
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _recorded(state: Path) -> MetastoreServer | None:
    try:
        data = json.loads((state / "server.json").read_text())
        server = MetastoreServer(int(data["pid"]), int(data["port"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return server if _alive(server.pid) and _answers(server.port) else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((_HOST, 0))
        return int(probe.getsockname()[1])


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    return str(Path(java_home) / "bin" / "java") if java_home else "java"


def _start(config: MedlakeConfig, state: Path) -> MetastoreServer:
    from medlake.spark_defaults import derby_server_classpath

    port = _free_port()
    log = open(state / "server.log", "ab")  # noqa: SIM115 - handed to the server process
    process = subprocess.Popen(
        [_java(), "-cp", derby_server_classpath(), f"-Dderby.system.home={config.home}",
         f"-Dderby.stream.error.file={state / 'derby.log'}", _SERVER_CLASS, "start", "-h", _HOST,
         "-p", str(port), "-noSecurityManager"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    log.close()
    deadline = time.monotonic() + _START_SECONDS
    while not _answers(port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise ConfigError(f"Unable to start the shared metastore as Derby's network server did not "
                              f"answer on {_HOST}:{port}; see {state / 'server.log'}")
        time.sleep(0.1)
    server = MetastoreServer(process.pid, port)
    (state / "server.json").write_text(json.dumps({"pid": server.pid, "port": server.port}))
    return server


def ensure_server(config: MedlakeConfig) -> MetastoreServer:
    """Return the home's running metastore server, starting one if none answers."""
    state = _state_dir(config)
    if running := _recorded(state):
        return running
    state.mkdir(parents=True, exist_ok=True)
    with open(state / "server.lock", "a") as lock:
        fcntl.lockf(lock, fcntl.LOCK_EX)  # another process may be starting it right now
        return _recorded(state) or _start(config, state)


def client_url(config: MedlakeConfig, server: MetastoreServer) -> str:
    """Return the JDBC URL of the home's catalogue database on ``server``."""
    return f"jdbc:derby://{_HOST}:{server.port}/{Path(config.home) / 'metastore_db'};create=true"


def stop_server(config: MedlakeConfig) -> bool:
    """Stop the home's metastore server; return whether one was running."""
    state = _state_dir(config)
    running = _recorded(state)
    if running is None:
        return False
    os.kill(running.pid, 15)
    deadline = time.monotonic() + 30
    while _alive(running.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    (state / "server.json").unlink(missing_ok=True)
    return True


def main(argv: list[str] | None = None) -> int:
    """``python -m medlake.metastore start|stop|status`` for the profile's home."""
    command = (argv if argv is not None else sys.argv[1:]) or ["status"]
    config = load_config()
    if command[0] == "start":
        server = ensure_server(config)
        print(f"medlake: shared metastore on {_HOST}:{server.port} (pid {server.pid})", file=sys.stderr)
    elif command[0] == "stop":
        print("medlake: shared metastore stopped" if stop_server(config)
              else "medlake: no shared metastore was running", file=sys.stderr)
    elif command[0] == "status":
        running = _recorded(_state_dir(config))
        print(f"medlake: shared metastore on {_HOST}:{running.port} (pid {running.pid})" if running
              else "medlake: no shared metastore is running", file=sys.stderr)
    else:
        print(f"medlake: unknown command {command[0]!r}; use start, stop or status", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
