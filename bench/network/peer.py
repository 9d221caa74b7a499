#!/usr/bin/env python3
"""The host side of the network benchmark, run inside the benchmark's network namespace: serves FILE to the guest's
first connection on port 5001, takes the guest's upload on port 5002, and prints each direction's bytes, seconds
(accept to end of stream) and MB/s, and the SHA-256 of what arrived. With a PIDFILE naming the VMM's process, it
also prints the CPU seconds that process (and its children) used in each direction, and MB per CPU second: on a
shared, loaded machine that is the fairer comparison, since wall-clock rates mostly measure each VMM's share of CPU."""
import hashlib
import os
import socket
import sys
import time

source, address = sys.argv[1], sys.argv[2]
pidfile = sys.argv[3] if len(sys.argv) > 3 else None


def cpu_seconds():
    """User + system CPU time of the VMM's process tree (None when unknown)."""
    try:
        root = int(open(pidfile).read().split()[0])
    except (TypeError, OSError, ValueError, IndexError):
        return None
    children, ticks = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        ticks[int(entry)] = int(fields[11]) + int(fields[12])
    total, pending = 0, [root]
    while pending:
        pid = pending.pop()
        total += ticks.get(pid, 0)
        pending += children.get(pid, [])
    return total / os.sysconf("SC_CLK_TCK")


def cpu_note(before, size):
    after = cpu_seconds()
    if before is None or after is None or after <= before:
        return ""
    return f"; VMM CPU {after - before:.2f} s = {size / (after - before) / 1e6:.2f} MB per CPU s"


def listener(port):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((address, port))
    server.listen(1)
    return server


sender, receiver = listener(5001), listener(5002)
connection, _ = sender.accept()
start, cpu_start = time.monotonic(), cpu_seconds()
with open(source, "rb") as data:
    sent = 0
    while chunk := data.read(1 << 16):
        connection.sendall(chunk)
        sent += len(chunk)
connection.shutdown(socket.SHUT_WR)
while connection.recv(4096):
    pass  # the guest's nc closes once it has everything
seconds = time.monotonic() - start
connection.close()
print(f"host->guest: {sent} bytes in {seconds:.2f} s = {sent / seconds / 1e6:.2f} MB/s"
      + cpu_note(cpu_start, sent), flush=True)

connection, _ = receiver.accept()
start, cpu_start = time.monotonic(), cpu_seconds()
digest, received = hashlib.sha256(), 0
while chunk := connection.recv(1 << 16):
    digest.update(chunk)
    received += len(chunk)
seconds = time.monotonic() - start
connection.close()
print(f"guest->host: {received} bytes in {seconds:.2f} s = {received / seconds / 1e6:.2f} MB/s"
      + cpu_note(cpu_start, received) + f", sha256 {digest.hexdigest()}", flush=True)
