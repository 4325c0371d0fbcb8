"""`mlprojects serve` against the server a user would write by hand (``serve_peer.py``: Starlette, one onnxruntime
session, one request at a time), in one process tree on one machine: requests/s and p50/p99 latency for 1, 8 and
32 concurrent HTTP clients (``httpx``), one row of ``wine`` or one ``mnist-cnn`` image per request over
``POST /invocations``. Each round runs both servers, in alternating order, for ``--seconds`` each; the figures
are medians over ``--rounds``. ``--client wrk`` sends the same load with wrk (C, one thread) instead of httpx,
whose clients, on 2 cores, take a core of their own at about 1,100 requests/s and so cap what either server can
show. ``--soak S`` instead sends a fixed rate (``--rate``) to our wine server for S seconds and prints errors and
the server's resident memory every minute.

    python benchmarks/bench_serve.py [--rounds 3] [--seconds 5] [--clients 1 8 32] [--case wine mnist-cnn]
    python benchmarks/bench_serve.py --client wrk      # apt-get install wrk
    python benchmarks/bench_serve.py --soak 600 --rate 200
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from mlprojects.engine.device import cpu_name

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

HERE = Path(__file__).resolve().parent




def prepare(folder: Path) -> dict[str, tuple[Path, dict]]:
    """The finished runs (trained here unless FOLDER has them), exported to ONNX, and one request for each."""
    from PIL import Image

    from mlprojects import rundir
    from mlprojects.data import images
    from mlprojects.export import export
    from mlprojects.runner import run

    cases = {}
    for name, settings in (("wine", {}), ("mnist-cnn", {"epochs": 1})):
        path = folder / name
        if not (path / "model.safetensors").is_file():
            run(name, settings, out=path, progress=False)
        finished = rundir.load(path)
        if not (path / "model.onnx").is_file():
            export(finished)
        if name == "wine":
            row = finished.project.prepare(finished.cfg).raw_test[finished.preparation.inputs].iloc[0]
            cases[name] = (path, {"dataframe_records": [{k: float(v) for k, v in row.items()}]})
        else:
            png = io.BytesIO()
            Image.fromarray(images.load("mnist-10k").test_images[0]).save(png, format="PNG")
            cases[name] = (path, {"instances": [{"b64": base64.b64encode(png.getvalue()).decode()}]})
    return cases


def start(command: list[str], port: int, body: dict) -> subprocess.Popen:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{' '.join(command)} stopped: {process.stderr.read()[-2000:]}")
        try:
            if httpx.post(f"http://127.0.0.1:{port}/invocations", json=body, timeout=5).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.kill()
    raise SystemExit(f"{' '.join(command)} did not answer within 180 s")


def cpu_seconds(pid: int) -> float:
    """The CPU time (user and system) of process PID and every process under it (a server's workers), so far."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # it ended meanwhile
                continue
            parents[int(entry.name)] = int(fields[1])
            times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    tree: set[int] = set()
    grown = {pid}
    while grown != tree:
        tree, grown = grown, grown | {process for process, parent in parents.items() if parent in grown}
    return sum(times.get(process, 0.0) for process in tree)


async def load(url: str, body: dict, clients: int, seconds: float, pid: int) -> dict[str, float]:
    """CLIENTS tasks, each sending BODY after its last answer, for SECONDS (after one second of warming up); the
    server's CPU time a request (its process PID and those under it)."""
    payload = json.dumps(body).encode()
    latencies: list[float] = []
    errors = 0
    # a connection pool for each client, as separate programs have: one pool shared by 16 or more tasks is
    # httpx's own bottleneck (throughput falls by 2-4x, whichever server answers)
    https = [httpx.AsyncClient(timeout=30, headers={"content-type": "application/json"}) for _ in range(clients)]

    async def client(http: httpx.AsyncClient, until: float, keep: bool) -> None:
        nonlocal errors
        while time.perf_counter() < until:
            begun = time.perf_counter()
            response = await http.post(url, content=payload)
            if keep:
                if response.status_code == 200:
                    latencies.append(time.perf_counter() - begun)
                else:
                    errors += 1

    warm = time.perf_counter() + 1
    await asyncio.gather(*(client(http, warm, False) for http in https))
    begun, cpu = time.perf_counter(), cpu_seconds(pid)
    await asyncio.gather(*(client(http, begun + seconds, True) for http in https))
    wall, cpu = time.perf_counter() - begun, cpu_seconds(pid) - cpu
    for http in https:
        await http.aclose()
    ms = np.array(latencies) * 1000
    return {"per_s": len(ms) / wall, "p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)),
            "errors": errors, "cpu_us": cpu / max(1, len(ms) + errors) * 1e6}


WRK_SCRIPT = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local file = io.open(os.getenv("BENCH_BODY"), "r")
wrk.body = file:read("*a")
file:close()
"""


def load_wrk(url: str, body: dict, clients: int, seconds: float, pid: int) -> dict[str, float]:
    """The same load sent by wrk (C, one thread, CLIENTS connections): a client that costs the machine little. On
    2 cores, httpx's clients took a whole core at about 1,100 requests/s (0.9 ms of CPU each), so past that they,
    not the servers, set the figure."""
    with tempfile.TemporaryDirectory() as scratch:
        (Path(scratch) / "body.json").write_text(json.dumps(body))
        (Path(scratch) / "post.lua").write_text(WRK_SCRIPT)
        environment = {**os.environ, "BENCH_BODY": str(Path(scratch) / "body.json")}

        def wrk(duration: float) -> str:
            command = ["wrk", "-t1", f"-c{clients}", f"-d{duration:g}s", "--latency", "-s",
                       str(Path(scratch) / "post.lua"), url]
            return subprocess.run(command, capture_output=True, text=True, env=environment, check=True).stdout

        wrk(1)  # warming up, as load() does
        cpu = cpu_seconds(pid)
        out = wrk(seconds)
        cpu = cpu_seconds(pid) - cpu
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}

    def ms(percentile: str) -> float:
        line = next(line for line in out.splitlines() if line.strip().startswith(percentile))
        value = line.split()[1]
        unit = value.lstrip("0123456789.")
        return float(value[:-len(unit)]) * scale[unit]

    per_s = float(next(line for line in out.splitlines() if line.startswith("Requests/sec:")).split()[1])
    errors = sum(int(word) for line in out.splitlines() if "Non-2xx" in line or "Socket errors" in line
                 for word in line.replace(",", " ").split() if word.isdigit())
    answered = int(next(line for line in out.splitlines() if "requests in" in line).split()[0])
    return {"per_s": per_s, "p50": ms("50%"), "p99": ms("99%"), "errors": errors, "cpu_us": cpu / answered * 1e6}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def compare(args, cases) -> None:
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; {args.rounds} rounds of {args.seconds:g} s per server, medians; "
          f"the load sent by {args.client}")
    print("| case | clients | ours requests/s | p50 / p99 ms | peer requests/s | p50 / p99 ms | ratio | each round | "
          "server CPU a request, ours / peer |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.case:
        path, body = cases[name]
        ours_port, peer_port = harness.free_port(), harness.free_port()
        servers = {
            "ours": start([sys.executable, "-m", "mlprojects", "serve", str(path), "--port", str(ours_port),
                           *args.ours], ours_port, body),
            "peer": start([sys.executable, str(HERE / "serve_peer.py"), str(path / "model.onnx"), str(peer_port)],
                          peer_port, body)}
        urls = {"ours": f"http://127.0.0.1:{ours_port}/invocations", "peer": f"http://127.0.0.1:{peer_port}/invocations"}
        try:
            for clients in args.clients:
                figures: dict[str, list[dict]] = {"ours": [], "peer": []}
                for round_ in range(args.rounds):
                    for who in (("ours", "peer") if round_ % 2 == 0 else ("peer", "ours")):
                        pid = servers[who].pid
                        figures[who].append(load_wrk(urls[who], body, clients, args.seconds, pid)
                                            if args.client == "wrk" else
                                            asyncio.run(load(urls[who], body, clients, args.seconds, pid)))
                med = {who: {key: statistics.median(f[key] for f in runs) for key in runs[0]}
                       for who, runs in figures.items()}
                errors = sum(f["errors"] for runs in figures.values() for f in runs)
                print(f"| {name} | {clients} | {med['ours']['per_s']:,.0f} | {med['ours']['p50']:.2f} / "
                      f"{med['ours']['p99']:.2f} | {med['peer']['per_s']:,.0f} | {med['peer']['p50']:.2f} / "
                      f"{med['peer']['p99']:.2f} | ×{med['ours']['per_s'] / med['peer']['per_s']:.2f} | "
                      + " ".join(f"×{a['per_s'] / b['per_s']:.2f}" for a, b in zip(figures["ours"], figures["peer"]))
                      + f" | {med['ours']['cpu_us']:,.0f} / {med['peer']['cpu_us']:,.0f} µs |"
                      + (f" {errors} errors" if errors else ""), flush=True)
        finally:
            for server in servers.values():
                server.terminate()
                server.wait(30)


async def soak(url: str, body: dict, seconds: float, rate: float, pid: int, connections: int = 32) -> None:
    """RATE requests a second on a fixed schedule, sent by CONNECTIONS clients of one connection each: request i is
    due at i / RATE and its latency counts from then, so a server that falls behind is charged for the wait
    (as wrk2 measures), while the clients stay bounded. (One task per request sharing one pool, as before, collapsed
    in the client at 200 a second on a 2-core machine: past 100 waiting requests httpx's pool took the core.)"""
    payload = json.dumps(body).encode()
    counts = {"ok": 0, "errors": 0}
    latencies: list[float] = []
    https = [httpx.AsyncClient(timeout=30, headers={"content-type": "application/json"}) for _ in range(connections)]
    begun, due = time.perf_counter(), iter(range(int(seconds * rate)))

    async def client(http: httpx.AsyncClient) -> None:
        for index in due:  # shared: each client takes the next request that falls due
            at = begun + index / rate
            if (wait := at - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            try:
                ok = (await http.post(url, content=payload)).status_code == 200
            except httpx.HTTPError:
                ok = False
            counts["ok" if ok else "errors"] += 1
            latencies.append(time.perf_counter() - at)

    async def report() -> None:
        for minute in range(1, int(seconds // 60) + 1):
            await asyncio.sleep(begun + 60 * minute - time.perf_counter())
            ms = np.array(latencies or [float("nan")]) * 1000  # nan: nothing answered that minute
            latencies.clear()
            print(f"minute {minute}: {counts['ok']:,} ok, {counts['errors']} errors, p50 {np.percentile(ms, 50):.2f} "
                  f"ms, p99 {np.percentile(ms, 99):.2f} ms, rss {rss_mb(pid):.0f} MB", flush=True)

    print(f"minute 0: rss {rss_mb(pid):.0f} MB")
    reporter = asyncio.create_task(report())
    await asyncio.gather(*(client(http) for http in https))
    reporter.cancel()
    for http in https:
        await http.aclose()
    ms = np.array(latencies) * 1000 if latencies else np.zeros(1)
    print(f"end: {counts['ok']:,} ok, {counts['errors']} errors, rss {rss_mb(pid):.0f} MB; since the last minute p50 "
          f"{np.percentile(ms, 50):.2f} ms, p99 {np.percentile(ms, 99):.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--client", choices=["httpx", "wrk"], default="httpx",
                        help="who sends the load: httpx clients in this process, or wrk (apt-get install wrk)")
    parser.add_argument("--case", nargs="+", default=["wine", "mnist-cnn"], choices=["wine", "mnist-cnn"])
    parser.add_argument("--runs", type=Path, help="a folder for the runs, kept between calls [default: a new one]")
    parser.add_argument("--ours", nargs=argparse.REMAINDER, default=[], help="options for mlprojects serve")
    parser.add_argument("--soak", type=float, default=0, help="seconds of fixed-rate load instead of the comparison")
    parser.add_argument("--rate", type=float, default=200)
    args = parser.parse_args()
    cases = prepare(args.runs or Path(tempfile.mkdtemp(prefix="bench-serve-")))
    if not args.soak:
        compare(args, cases)
        return
    path, body = cases["wine"]
    port = harness.free_port()
    server = start([sys.executable, "-m", "mlprojects", "serve", str(path), "--port", str(port), *args.ours], port,
                   body)
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; soak: {args.rate:g} requests/s of one wine row for "
          f"{args.soak:g} s")
    try:
        asyncio.run(soak(f"http://127.0.0.1:{port}/invocations", body, args.soak, args.rate, server.pid))
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
