"""The child processes memcircuit starts (ngspice, libngspice workers, sweep jobs) end with it.

Every child is started with :func:`start` (or :func:`run`) and registered while it lives. On
SIGINT or SIGTERM the handler that :func:`interruptible` installs sends SIGTERM to every child (to
the whole process group of a sweep job), refuses to start new ones, SIGKILLs what is left after
:data:`GRACE` seconds, and raises :class:`~memcircuit.errors.Interrupted` in the main thread, so
that context managers and ``finally`` blocks (engines, temporary run folders) clean up on the way
out; the process then exits with 128 + the signal number (130 for SIGINT, 143 for SIGTERM).
A thread whose child was stopped this way raises :class:`Interrupted` too, instead of reporting
the child's death as a simulation failure.

No handler runs when memcircuit itself is killed with SIGKILL. Python children therefore call
:func:`exit_with_parent`: a thread that treats the death of the parent like a SIGTERM.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from memcircuit.errors import Interrupted

GRACE = 3.0  # seconds between SIGTERM and SIGKILL for a child that is being stopped
PARENT_ENV = "MEMCIRCUIT_PARENT_PID"  # set for every child: the process it must not outlive
SIGNALS = (signal.SIGINT, signal.SIGTERM)

_lock = threading.RLock()  # re-entrant: the signal handler may run while the main thread holds it
_children: dict[subprocess.Popen, bool] = {}  # child -> started in its own process group
_stopping: int | None = None  # the signal that is ending this process
T = TypeVar("T")


def _send(proc: subprocess.Popen, group: bool, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group:  # the job and everything it started (its ngspice, its workers)
            os.killpg(proc.pid, signum)
        elif proc.poll() is None:
            proc.send_signal(signum)


def _signal_all(signum: int) -> None:
    with _lock:
        children = list(_children.items())
    for proc, group in children:
        _send(proc, group, signum)


def start(args: Sequence[str], *, group: bool = False, env: dict[str, str] | None = None,
          **popen: Any) -> subprocess.Popen:
    """``subprocess.Popen(args)``, registered until :func:`forget`; ``group``: in a session of its
    own, stopped as a whole. Raises :class:`Interrupted` once this process is being stopped."""
    child_env = dict(os.environ if env is None else env, **{PARENT_ENV: str(os.getpid())})
    with _lock:
        if _stopping is not None:
            raise Interrupted(_stopping)
        proc = subprocess.Popen(args, env=child_env, start_new_session=group, **popen)
        _children[proc] = group
    return proc


def forget(proc: subprocess.Popen) -> None:
    """Stop tracking ``proc`` (it has ended or was killed and waited for)."""
    with _lock:
        _children.pop(proc, None)


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL ``proc`` (its whole group if it has one), wait for it and forget it."""
    with _lock:
        group = _children.get(proc, False)
    _send(proc, group, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    forget(proc)


def raise_if_stopping() -> None:
    """Raise :class:`Interrupted` when a signal is ending this process: a child that died just now
    was stopped by it, and its output must not be taken for a result or a failure."""
    if _stopping is not None:
        raise Interrupted(_stopping)


def run(args: Sequence[str], *, timeout: float, group: bool = False, **popen: Any) -> subprocess.CompletedProcess:
    """Run a child to its end with captured output, like :func:`subprocess.run`.

    On timeout the child (and its group) is killed and :class:`subprocess.TimeoutExpired` raised
    with the output so far; on any other exception (an interruption) it is killed too.
    """
    proc = start(args, group=group, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill(proc)
        out, err = proc.communicate()
        raise subprocess.TimeoutExpired(proc.args, timeout, output=out, stderr=err) from None
    except BaseException:
        kill(proc)
        raise
    forget(proc)
    raise_if_stopping()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def stop_children() -> None:
    """SIGTERM every registered child, wait up to :data:`GRACE` s, then SIGKILL the rest."""
    _signal_all(signal.SIGTERM)
    deadline = time.monotonic() + GRACE
    with _lock:
        children = list(_children)
    for proc in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    _signal_all(signal.SIGKILL)
    for proc in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=GRACE)
        forget(proc)


def _on_signal(signum: int, frame: object) -> None:
    global _stopping
    if _stopping is not None:  # already on the way out: let the clean-up finish
        return
    with _lock:
        _stopping = signum
    _signal_all(signal.SIGTERM)
    # threads may still be waiting on children that ignore SIGTERM; the main thread must not
    # wait on them forever while it unwinds
    killer = threading.Timer(GRACE, _signal_all, (signal.SIGKILL,))
    killer.daemon = True
    killer.start()
    raise Interrupted(signum)


def interruptible(main: Callable[[], T], *, message: str | None = None) -> T:
    """Run ``main`` so that SIGINT and SIGTERM end it cleanly (see the module docstring).

    After an interruption the children are stopped, ``message`` (``{signal}`` is replaced by
    the signal's name) goes to stderr as one line, and the process exits with 128 + signal.
    """
    previous = {signum: signal.signal(signum, _on_signal) for signum in SIGNALS}
    try:
        return main()
    except Interrupted as exc:
        stop_children()
        if message:
            print(message.format(signal=signal.Signals(exc.signum).name), file=sys.stderr, flush=True)
        raise SystemExit(128 + exc.signum) from None
    finally:
        stop_children()
        for signum, handler in previous.items():  # a caller in the same process gets its own back
            signal.signal(signum, handler)


def exit_with_parent(poll: float = 0.5) -> None:
    """In a child: end this process when the parent that started it dies, even by SIGKILL.

    A daemon thread polls the parent pid; when it changes, this process gets a SIGTERM (its own
    handler, if any, cleans up) and, if it is still alive :data:`GRACE` s later, exits hard.
    """
    parent = int(os.environ.get(PARENT_ENV) or os.getppid())

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(GRACE)
        os._exit(128 + signal.SIGTERM)

    threading.Thread(target=watch, name="memcircuit-parent-watch", daemon=True).start()
