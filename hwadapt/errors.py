"""User-facing errors: one line, naming the problem and the fix, with an exit code.

Exit codes follow the CLI convention: 0 success, 1 a failed job, 2 bad input.
"""


class HwadaptError(Exception):
    """An error the CLI prints as one line (no traceback) before exiting with ``exit_code``."""

    exit_code = 2


class InputError(HwadaptError, ValueError):
    """Bad input from the user (spec, option, file): exit code 2."""

    exit_code = 2


class LedgerDamaged(InputError):
    """The ledger file fails SQLite's integrity check: nothing is written to it (exit 2)."""


class RunBusy(InputError):
    """Another live process drives the run (holds its lease): exit 2, nothing changed."""


class JobFailed(HwadaptError):
    """A job ran and failed (backend error, cancelled): exit code 1."""

    exit_code = 1


class NetworkError(HwadaptError):
    """A remote service (IBM Quantum) could not be reached: exit code 1."""

    exit_code = 1
