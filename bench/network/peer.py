#!/usr/bin/env python3
"""The host side of the network benchmark, run inside the benchmark's network namespace: serves FILE to the guest's
first connection on port 5001, takes the guest's upload on port 5002, and prints each direction's bytes, seconds
(accept to end of stream) and MB/s, and the SHA-256 of what arrived."""
import hashlib
import socket
import sys
import time

source, address = sys.argv[1], sys.argv[2]


def listener(port):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((address, port))
    server.listen(1)
    return server


sender, receiver = listener(5001), listener(5002)
connection, _ = sender.accept()
start = time.monotonic()
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
print(f"host->guest: {sent} bytes in {seconds:.2f} s = {sent / seconds / 1e6:.2f} MB/s", flush=True)

connection, _ = receiver.accept()
start = time.monotonic()
digest, received = hashlib.sha256(), 0
while chunk := connection.recv(1 << 16):
    digest.update(chunk)
    received += len(chunk)
seconds = time.monotonic() - start
connection.close()
print(f"guest->host: {received} bytes in {seconds:.2f} s = {received / seconds / 1e6:.2f} MB/s, "
      f"sha256 {digest.hexdigest()}", flush=True)
