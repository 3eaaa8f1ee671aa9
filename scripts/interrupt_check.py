#!/usr/bin/python3
"""Interrupts a densenet-run with SIGINT once it has started training.

    interrupt_check.py densenet-run PLAN [ARGS...]

Starts the command with `--progress lines`, waits for its first progress
line, sends SIGINT, and prints the exit code and the command's last line of
output. densenet-run must finish the step, checkpoint and exit with 130.
"""

import signal
import subprocess
import sys


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    process = subprocess.Popen(sys.argv[1:] + ["--progress", "lines"], stderr=subprocess.PIPE,
                               text=True)
    lines = []
    for line in process.stderr:
        lines.append(line.rstrip("\n"))
        if line.startswith("epoch ") and " step " in line:
            process.send_signal(signal.SIGINT)
            break
    lines += [line.rstrip("\n") for line in process.stderr]
    code = process.wait(timeout=600)
    print(f"exit code {code}")
    print(lines[-1] if lines else "(no output)")


if __name__ == "__main__":
    main()
