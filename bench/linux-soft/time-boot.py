"""Runs each command, timing (wall clock) the first APUS-INIT-OK line on its output and its exit, then prints the
figures and the first command's ratio to each other. Arguments: NAME -- COMMAND... [::: NAME -- COMMAND...]."""
import subprocess
import sys
import time

MARKER = b"APUS-INIT-OK"
LIMIT = 900  # seconds: a run that never reaches the marker is reported as such, not waited on forever


def run(command):
    start = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    marker = None
    for line in process.stdout:
        if marker is None and MARKER in line:
            marker = time.monotonic() - start
        if time.monotonic() - start > LIMIT:
            process.kill()
            break
    process.wait()
    return marker, time.monotonic() - start


def main(arguments):
    runs = []
    groups, current = [], []
    for argument in arguments:
        if argument == ":::":
            groups.append(current)
            current = []
        else:
            current.append(argument)
    groups.append(current)
    for group in groups:
        separator = group.index("--")
        name, command = " ".join(group[:separator]), group[separator + 1:]
        marker, total = run(command)
        runs.append((name, marker, total))
    base = runs[0][1]
    for name, marker, total in runs:
        shown = f"{marker:.1f} s" if marker is not None else "never"
        ratio = f", apus/this {base / marker:.2f}" if marker and base and name != runs[0][0] else ""
        print(f"{name}: init {shown}, end {total:.1f} s{ratio}")


main(sys.argv[1:])
