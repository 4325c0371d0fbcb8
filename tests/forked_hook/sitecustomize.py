"""A notebook's kernel and its `!mlprojects ARGS` as the suite's other commands run: forked from the test worker's
warm server (tests/forked.py) instead of a new interpreter importing PyTorch and transformers again (4-8 s of CPU
each).

The notebook tests put this folder on the kernel's PYTHONPATH with MLPROJECTS_TEST_FORKED naming the worker's
socket (``forked.Bridge``). Any interpreter started with them imports this file at start-up; two hand their work
over, with their arguments, environment and folder:

- the installed ``mlprojects`` script: its command is run, and this process writes its output and exits with its
  exit code;
- ``python -m ipykernel_launcher -f CONNECTION_FILE``, the kernel the notebook's client starts: the kernel runs in
  a session of its own, and this process stands for it in the client's kernel manager until it ends: the signals
  the manager sends (an interrupt, a termination) go on to it, and once this process is killed, the kernel's
  process group is killed too.

Everything else starts as usual."""

import os


def _hand_over() -> None:
    import json
    import signal
    import socket
    import sys

    with open("/proc/self/cmdline", "rb") as handle:  # sys.argv is not set yet while site imports this file
        argv = [part.decode() for part in handle.read().split(b"\0")[:-1]]
    kernel = argv[1:3] == ["-m", "ipykernel_launcher"]
    if kernel:  # the kernel keeps this environment, so that its own commands come here too
        request = {"args": argv[3:], "env": dict(os.environ), "module": "ipykernel_launcher", "watch": os.getpid()}
    elif len(argv) >= 2 and os.path.basename(argv[1]) == "mlprojects" and os.path.isfile(argv[1]):
        env = {name: value for name, value in os.environ.items() if name != "MLPROJECTS_TEST_FORKED"}
        here = os.path.dirname(os.path.abspath(__file__))
        env["PYTHONPATH"] = os.pathsep.join(part for part in env.get("PYTHONPATH", "").split(os.pathsep)
                                            if part and os.path.abspath(part) != here)
        request = {"args": argv[2:], "env": env}
    else:
        return
    with socket.socket(socket.AF_UNIX) as connection:
        connection.connect(os.environ["MLPROJECTS_TEST_FORKED"])
        connection.sendall((json.dumps({**request, "cwd": os.getcwd()}) + "\n").encode())
        answers = connection.makefile("rb")
        answer = json.loads(answers.readline()) if kernel else None  # the kernel's pid, or why it did not start
        if kernel and "pid" in answer:
            pid, answer = answer["pid"], None

            def forward(number, _frame):
                try:
                    os.kill(pid, number)
                except ProcessLookupError:  # it has ended: its answer is on its way
                    pass

            for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
                signal.signal(number, forward)
        if answer is None:
            answer = json.loads(answers.read())
    sys.stdout.write(answer["stdout"])
    sys.stdout.flush()
    sys.stderr.write(answer["stderr"])
    sys.stderr.flush()
    code = answer["returncode"]
    if code < 0:  # ended by a signal: so does this process
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code)


if os.environ.get("MLPROJECTS_TEST_FORKED") and os.path.exists("/proc/self/cmdline"):
    _hand_over()
