"""Facts from /work/contracts.md that scenarios check against (exit codes of `init`/`doctor`)."""

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_NOT_PID1 = 10          # incl. `docker run --init`
EXIT_NOT_ROOT = 11          # --user
EXIT_RUN_NOT_MOUNT = 12     # /run not a writable mount (--tmpfs /run)
EXIT_TMP_NOT_WRITABLE = 13  # /tmp or /run/lock not writable
EXIT_CGROUP_UNSUPPORTED = 14
EXIT_STOCK_RO_CGROUP = 15   # stock systemd on a read-only cgroup fs
EXIT_READ_ONLY_ROOT = 16    # --read-only
EXIT_BAD_CONFIG = 17
EXIT_PREPARE_RUN = 18
EXIT_WAIT_DEGRADED = 22       # `wait`: boot finished degraded
EXIT_WAIT_NOT_UP = 23         # `wait`: maintenance or stopping
EXIT_WAIT_TIMEOUT = 24        # `wait`: timeout before the boot finished
EXIT_EXEC_NOT_EXECUTABLE = 126
EXIT_EXEC_NOT_FOUND = 127
EXIT_SIGTERM_BEFORE_EXEC = 143

MESSAGE_PREFIX = "nixos2docker:"
