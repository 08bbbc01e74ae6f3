"""Command line: ``ncsolve predict | equation | verify | phase | sweep | measure | dynamics``.

Argument parsing and output only; the mathematics lives in the package modules.
Each subcommand is a module of this package with ``add_arguments(parser)`` and
``run(args) -> int``; only the chosen one is imported, so ``ncsolve predict``
never pays for sympy, scipy.optimize or matplotlib.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading

from ..inputs.problem import ProblemError

SUBCOMMANDS = {
    "predict": "the exact global minimizer (singular values, class-mean lengths, Grams, loss)",
    "equation": "the symbolic objective, stationarity equation, thresholds and exact roots",
    "verify": "train the full model by gradient methods and compare with the theory",
    "phase": "exact MSE phase boundaries of an imbalance profile (ratio x decay, depth)",
    "sweep": "predict over a grid of parameters, locally or on a Dask cluster, resumable",
    "measure": "measure a trained network (npz, safetensors, pt) against the global minimizer",
    "dynamics": "gradient flow from a spectral start: thresholds, ends, learning order",
}


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line on stderr and exit status 2."""

    def error(self, message: str):  # noqa: D401 - argparse API
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; only ``command``'s module is imported to fill its options."""
    from .. import __version__

    parser = _Parser(
        prog="ncsolve",
        description="Closed-form global minimizers of the deep linear unconstrained feature "
        "model (neural collapse, Dang et al. ICML 2023).",
        epilog="Run 'ncsolve COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"ncsolve {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, summary in SUBCOMMANDS.items():
        if name != command:
            sub.add_parser(name, help=summary)
            continue
        module = _subcommand(name)
        child = sub.add_parser(name, help=summary, description=module.__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(child)
    return parser


def _subcommand(name: str):
    return importlib.import_module(f".{name}", __name__)


def _looks_negative(token: str) -> bool:
    if not token.startswith("-") or token.startswith("--"):
        return False
    try:
        float(token.split(",")[0])
    except ValueError:
        return False
    return True


def _attach_negative_numbers(argv: list[str]) -> list[str]:
    """Let ``--lambda-w -1e-3`` reach the validator (which names the parameter)
    instead of argparse reading -1e-3 as an unknown option."""
    out: list[str] = []
    for token in argv:
        if out and out[-1].startswith("--") and "=" not in out[-1] and _looks_negative(token):
            out[-1] = f"{out[-1]}={token}"
        else:
            out.append(token)
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ncsolve`` console script; returns the exit status."""
    argv = _attach_negative_numbers(sys.argv[1:] if argv is None else list(argv))
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in SUBCOMMANDS else None)
    args = parser.parse_args(argv)
    module = _subcommand(args.command)
    previous = _catch_sigterm()
    try:
        status = int(module.run(args) or 0)
        sys.stdout.flush()  # a full disk or a closed pipe shows here, not at exit
        return status
    except ProblemError as error:
        return _refuse(args.command, str(error))
    except _Terminated:
        sys.stderr.write(f"ncsolve {args.command}: terminated (SIGTERM)\n")
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        sys.stderr.write(f"ncsolve {args.command}: interrupted\n")
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except OSError as error:
        if not _is_stdout_error(error):
            raise
        _silence_stdout()
        return _refuse(args.command, f"cannot write the output ({error.strerror or error})")
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
            sys.unraisablehook = sys.__unraisablehook__


class _Terminated(KeyboardInterrupt):
    """SIGTERM, delivered like Ctrl-C so that the same clean-up runs (workers ended,
    partial output kept whole)."""


def _on_sigterm(signum, frame):
    raise _Terminated()


def _catch_sigterm():
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread: leave signals alone
        return None
    sys.unraisablehook = _redeliver
    return previous


REDELIVER_DELAY = 0.01  # seconds: the hook has long returned when the signal comes again


def _redeliver(unraisable) -> None:
    """A Ctrl-C or SIGTERM that landed where Python ignores exceptions (a finalizer, a
    fork hook) is sent again, to stop the run at the next ordinary step, and not shown.

    It is sent from a timer thread: sent from the hook itself, its handler would run
    inside the hook, where the exception is again ignored and printed."""
    error = unraisable.exc_value
    if isinstance(error, KeyboardInterrupt):
        again = signal.SIGTERM if isinstance(error, _Terminated) else signal.SIGINT
        timer = threading.Timer(REDELIVER_DELAY, os.kill, (os.getpid(), again))
        timer.daemon = True
        timer.start()
        return
    sys.__unraisablehook__(unraisable)


def _refuse(command: str, message: str) -> int:
    """One line on stderr, exit status 2."""
    line = " ".join(message.split())
    sys.stderr.write(f"ncsolve {command}: error: {line}\n")
    return 2


def _is_stdout_error(error: OSError) -> bool:
    """An error of writing to stdout (ENOSPC on /dev/full, EIO, ...), not of a file we read."""
    return error.filename is None


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (pytest capture): nothing to do
        pass


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
