"""The ``jaxinterp`` command.

Each subcommand lives in ``jaxinterp/commands/<name>.py`` and defines
``add_parser(subparsers)`` (returning its parser) and ``run(args) -> int``.
Adding a command means adding a file and one entry to ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import socket
import sys
import threading

COMMANDS = ("demo", "convert", "evaluate", "layers", "paper", "roles", "sweep", "compare", "featvis",
            "circuits", "atlas")

# Errors a user causes (bad input, paths): one line, no traceback.
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError,
               IsADirectoryError)

# What rerunning after Ctrl-C does, per command.
_STORE = "rerun the same command to resume: every finished step is saved in the results store"
ON_INTERRUPT = {
    "demo": "rerun the same command to resume: training continues from its last saved epoch",
    "paper": _STORE,
    "roles": _STORE,
    "sweep": _STORE + " (see --status)",
    "circuits": _STORE,
    "compare": _STORE,
    "featvis": _STORE,
    "atlas": _STORE,
}
RESTART = "rerun the same command to start again (it does not resume partial work)"
SIGTERM_GRACE = 30.0  # seconds a command has to stop on SIGTERM before it is ended outright


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread as Ctrl-C would be (:func:`stop_on_sigterm`)."""


@contextlib.contextmanager
def stop_on_sigterm(grace: float = SIGTERM_GRACE):
    """Within the block SIGTERM stops this command as Ctrl-C does: :class:`Terminated` is raised
    in the main thread, so what is done stays done and the results being written are flushed (a
    results store trusts nothing half-written, wherever the exception lands), and :func:`main`
    exits 143 with a line saying so. If the main thread stays in native code for ``grace``
    seconds after the signal (a collective waiting for a peer that died), the process exits all
    the same. Enter it in the main thread, after ``jax.distributed`` starts (its preemption
    notifier would take SIGTERM over)."""
    if threading.current_thread() is not threading.main_thread():  # (signals reach the main thread only)
        yield
        return

    received = []

    def raise_terminated(signum, frame):
        received.append(signum)
        raise Terminated()

    # the handler runs only when the main thread next runs Python: a thread that learns of the
    # signal through the wakeup fd ends the process if the block has not ended within `grace`
    read, write = socket.socketpair()
    write.setblocking(False)
    done = threading.Event()

    def watch():
        while not done.is_set():
            try:
                data = read.recv(64)
            except OSError:
                return
            if signal.SIGTERM in data and not done.wait(grace):
                print(f"jaxinterp: still busy {grace:g} s after SIGTERM (in native code); exiting now. What "
                      "is done stays done; rerun the same command to resume", file=sys.stderr, flush=True)
                os._exit(143)

    previous = signal.signal(signal.SIGTERM, raise_terminated)
    previous_fd = signal.set_wakeup_fd(write.fileno(), warn_on_full_buffer=False)
    thread = threading.Thread(target=watch, name="jaxinterp-sigterm", daemon=True)
    thread.start()
    try:
        yield
        if received:  # the raise was swallowed where Python ignores exceptions (a gc callback): stop now
            raise Terminated()
    finally:
        done.set()
        signal.set_wakeup_fd(previous_fd)
        signal.signal(signal.SIGTERM, previous)
        write.close()
        read.shutdown(socket.SHUT_RDWR)
        read.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaxinterp",
        description="Interpretability of convolutional vision networks in JAX/Flax.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"jaxinterp.commands.{name}")
        sub_parser = module.add_parser(sub)
        sub_parser.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except USER_ERRORS as err:  # message, no traceback
        print(f"jaxinterp {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        what = "terminated (SIGTERM)" if isinstance(err, Terminated) else "interrupted"
        print(f"jaxinterp {args.command}: {what}; {ON_INTERRUPT.get(args.command, RESTART)}",
              file=sys.stderr, flush=True)
        return 143 if isinstance(err, Terminated) else 130


if __name__ == "__main__":
    sys.exit(main())
