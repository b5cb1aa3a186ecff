"""What scenarios check against: the binary's exit codes, read from exit-codes.json beside this file (written
from src/exit_code.rs and checked against it by tests/exit_codes.rs), as ``EXIT_<NAME>`` constants."""

import json
import os
import signal

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "exit-codes.json"), encoding="utf-8") as _f:
    EXIT_CODES: dict = json.load(_f)
globals().update({f"EXIT_{name}": code for name, code in EXIT_CODES.items()})

# Names the scenarios use that the table spells as a rule (128 + the signal, like a shell).
EXIT_SIGTERM_BEFORE_EXEC = EXIT_CODES["SIGNAL_BASE"] + signal.SIGTERM

MESSAGE_PREFIX = "nixos2docker:"
