"""A notebook's `!mlprojects ARGS` as the suite's other commands run: forked from the test worker's warm server
(tests/forked.py) instead of a new interpreter importing PyTorch and transformers again (5-8 s of CPU each).

The notebook tests put this folder on the kernel's PYTHONPATH with MLPROJECTS_TEST_FORKED naming the worker's
socket (``forked.Bridge``). Any interpreter started from the kernel imports this file at start-up; only the
installed ``mlprojects`` script hands its command over: with its arguments, environment and folder, it is run,
and this process writes its output and exits with its exit code. Everything else starts as usual."""

import os


def _hand_over() -> None:
    import json
    import socket
    import sys

    with open("/proc/self/cmdline", "rb") as handle:  # sys.argv is not set yet while site imports this file
        argv = [part.decode() for part in handle.read().split(b"\0")[:-1]]
    if len(argv) < 2 or os.path.basename(argv[1]) != "mlprojects" or not os.path.isfile(argv[1]):
        return
    env = {name: value for name, value in os.environ.items() if name != "MLPROJECTS_TEST_FORKED"}
    here = os.path.dirname(os.path.abspath(__file__))
    env["PYTHONPATH"] = os.pathsep.join(part for part in env.get("PYTHONPATH", "").split(os.pathsep)
                                        if part and os.path.abspath(part) != here)
    with socket.socket(socket.AF_UNIX) as connection:
        connection.connect(os.environ["MLPROJECTS_TEST_FORKED"])
        connection.sendall((json.dumps({"args": argv[2:], "env": env, "cwd": os.getcwd()}) + "\n").encode())
        answer = json.loads(connection.makefile("rb").read())
    sys.stdout.write(answer["stdout"])
    sys.stdout.flush()
    sys.stderr.write(answer["stderr"])
    sys.stderr.flush()
    os._exit(answer["returncode"])


if os.environ.get("MLPROJECTS_TEST_FORKED") and os.path.exists("/proc/self/cmdline"):
    _hand_over()
