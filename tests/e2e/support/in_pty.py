#!/usr/bin/env python3
# in_pty.py LOG COMMAND: runs `sh -c COMMAND` with a new pseudo-terminal as
# its controlling terminal, stdin, stdout and stderr, and writes all it
# wrote there to LOG once it has exited (read to the end: nothing is lost
# to timing); exits with the command's status. For tests of what a program
# does on a terminal (progress lines) without a terminal of their own.
import os
import pty
import sys

log, command = sys.argv[1], sys.argv[2]
pid, fd = pty.fork()
if pid == 0:
    os.execvp("sh", ["sh", "-c", command])
chunks = []
while True:
    try:
        data = os.read(fd, 65536)
    except OSError:  # EIO: the last writer closed the terminal
        break
    if not data:
        break
    chunks.append(data)
_, status = os.waitpid(pid, 0)
with open(log, "wb") as f:
    f.write(b"".join(chunks))
sys.exit(os.waitstatus_to_exitcode(status))
