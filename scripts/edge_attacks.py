#!/usr/bin/env python3
"""Runs issue 5's attacks on the HTTP edge (items 1-5) against a bento-node and prints the node's RSS before
and after each, the /metrics size and render time, and whether the node still serves. Python 3 stdlib only;
traffic goes to loopback only, every loop is bounded.

Usage:
  scripts/edge_attacks.py                       # starts build/bin/bento-node on a free port in a temp dir
  scripts/edge_attacks.py --bin path/to/bento-node
  scripts/edge_attacks.py --port 8080 --pid 1234   # a node that is already running

Measured (2 cores, defaults, loopback; bento-node started by this script), main -> edge-hardening:
  1 trailer field 64 KiB x20:     node killed             -> 20 x 400, RSS 21.0 -> 21.1 MiB
  2 chunk extension 8 x 64 MiB:   RSS 20.9 -> 621 MiB     -> 8 x 400, RSS 21.1 -> 21.2 MiB
  3 invented methods x20000:      /metrics 36.3 MB, 1.3 s -> 7 KB, 2 ms
  4 smuggling x1000:              1000 hidden requests run -> 0
  5 idle connections x10000:      all held, others locked out -> 1000 held, 9000 refused (429), others served
  Details: bench/README.md, section "Edge attacks".
"""
import argparse
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return -1.0


def connect(port, source="127.0.0.1", timeout=10.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def read_some(s, limit=65536):
    try:
        return s.recv(limit)
    except (socket.timeout, ConnectionError, OSError):
        return b""


def alive(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            return r.status == 200
    except Exception:
        return False


def metrics(port, token=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    start = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            body = r.read()
    except Exception:
        return -1, -1.0
    return len(body), time.monotonic() - start


def report(name, pid, port, before, extra=""):
    after = rss_mib(pid)
    time.sleep(1.1)  # the node renders /metrics at most once a second: wait for a fresh render
    size, seconds = metrics(port)
    print(f"{name:<34} RSS {before:7.1f} -> {after:7.1f} MiB  /metrics {size:>9} B in {seconds * 1000:7.1f} ms  "
          f"alive={alive(port)} {extra}", flush=True)


def attack_trailer(port, pid):
    """Item 1: a chunked trailer field of 64 KiB (Beast 1.74 threw std::length_error: the process died)."""
    before = rss_mib(pid)
    answers = {}
    for _ in range(20):
        try:
            s = connect(port)
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: " + b"a" * 65534
                      + b"\r\n\r\n")
            line = read_some(s).split(b"\r\n", 1)[0].decode(errors="replace")
            s.close()
        except OSError as e:
            line = type(e).__name__
        answers[line] = answers.get(line, 0) + 1
    report("1 trailer field 64 KiB x20", pid, port, before, str(answers))


def attack_chunk_extension(port, pid, connections=8, mib_each=64):
    """Item 2: a chunk header `2;x=` followed by endless extension bytes, sockets held open."""
    before = rss_mib(pid)
    socks = []
    chunk = b"a" * (1 << 20)
    sent_total = 0
    for _ in range(connections):
        s = connect(port, timeout=3.0)
        s.sendall(b"POST /api/v1/users HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2;x=")
        for _ in range(mib_each):
            try:
                s.sendall(chunk)
                sent_total += len(chunk)
            except OSError:
                break  # the node answered 400 and stopped reading: what we want
        socks.append(s)
    peak = rss_mib(pid)
    answers = {}
    for s in socks:
        line = read_some(s).split(b"\r\n", 1)[0].decode(errors="replace") or "(closed)"
        answers[line] = answers.get(line, 0) + 1
    report(f"2 chunk extension {connections} conns", pid, port, before,
           f"sent {sent_total >> 20} MiB, RSS with sockets open {peak:.1f} MiB, answers {answers}")
    for s in socks:
        s.close()


def attack_methods(port, pid, count=20000, per_connection=500):
    """Item 3: invented methods, each a would-be metrics label."""
    before = rss_mib(pid)
    done = 0
    while done < count:
        s = connect(port)
        batch = min(per_connection, count - done)
        payload = b"".join(b"M%dX /x HTTP/1.1\r\nHost: x\r\n\r\n" % (done + i) for i in range(batch))
        s.sendall(payload)
        got = b""
        deadline = time.monotonic() + 30
        while got.count(b"HTTP/1.1 ") < batch and time.monotonic() < deadline:
            data = read_some(s)
            if not data:
                break
            got += data
        s.close()
        done += batch
    report(f"3 invented methods x{count}", pid, port, before)


def attack_smuggling(port, pid, count=1000):
    """Item 4: Transfer-Encoding `chunked, gzip` with a request hidden in the body."""
    before = rss_mib(pid)
    smuggled_answers = 0
    status = {}
    for _ in range(count):
        s = connect(port)
        # The hidden request asks to close, so a node that runs it closes after answering it.
        s.sendall(b"POST /api/v1/users HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"
                  b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        s.settimeout(2.0)
        got = b""
        while True:
            data = read_some(s)
            if not data:
                break
            got += data
        s.close()
        first = got.split(b"\r\n", 1)[0].decode(errors="replace")
        status[first] = status.get(first, 0) + 1
        smuggled_answers += max(0, got.count(b"HTTP/1.1 ") - 1)
    report(f"4 smuggling x{count}", pid, port, before, f"{status} smuggled answers={smuggled_answers}")


def attack_idle_connections(port, pid, count=10000):
    """Item 5: idle connections from one address, then another client."""
    before = rss_mib(pid)
    socks, refused = [], 0
    for _ in range(count):
        try:
            s = connect(port, source="127.0.0.2", timeout=2.0)
        except OSError:
            refused += 1
            continue
        socks.append(s)
    time.sleep(0.5)  # measurement pause, not synchronisation: let the node accept what is in its backlog
    closed_by_node = 0
    for s in socks:
        s.setblocking(False)
        try:
            data = s.recv(512)
            if data.startswith(b"HTTP/1.1 429") or data == b"":
                closed_by_node += 1
        except BlockingIOError:
            pass
        except OSError:
            closed_by_node += 1
    other_ok = False
    try:
        o = connect(port, source="127.0.0.3", timeout=5.0)
        o.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        other_ok = read_some(o).startswith(b"HTTP/1.1 200")
        o.close()
    except OSError:
        pass
    report(f"5 idle connections x{count}", pid, port, before,
           f"refused/closed by node {closed_by_node + refused}, held {len(socks) - closed_by_node}, "
           f"another address served={other_ok}")
    for s in socks:
        s.close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "build", "bin", "bento-node"))
    ap.add_argument("--port", type=int)
    ap.add_argument("--pid", type=int)
    ap.add_argument("--only", help="comma list of attacks to run (1-5)", default="1,2,3,4,5")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    proc, data_dir = None, None
    if args.port and args.pid:
        port, pid = args.port, args.pid
    else:
        data_dir = tempfile.mkdtemp(prefix="bento-attacks-")
        port = free_port()
        env = dict(os.environ, BENTO_DATA_DIR=os.path.join(data_dir, "data"), BENTO_HTTP_PORT=str(port),
                   BENTO_CLIENT_PORT=str(free_port()), BENTO_CLUSTER_PORT=str(free_port()), BENTO_LOG_LEVEL="warn")
        log = open(os.path.join(data_dir, "node.log"), "w")
        proc = subprocess.Popen([args.bin], env=env, stdout=log, stderr=subprocess.STDOUT)
        pid = proc.pid
        deadline = time.monotonic() + 30
        while not alive(port):
            if time.monotonic() > deadline or proc.poll() is not None:
                sys.exit("node did not start; see " + log.name)
            time.sleep(0.05)  # polling interval of a bounded wait
    print(f"node pid {pid} port {port}; RSS at start {rss_mib(pid):.1f} MiB", flush=True)
    attacks = {"1": attack_trailer, "2": attack_chunk_extension, "3": attack_methods, "4": attack_smuggling,
               "5": attack_idle_connections}
    try:
        for key in args.only.split(","):
            if proc is not None and proc.poll() is not None:
                print(f"node exited with {proc.returncode}; remaining attacks skipped")
                break
            try:
                attacks[key.strip()](port, pid)
            except (OSError, FileNotFoundError) as e:
                print(f"attack {key}: {type(e).__name__}: {e} (node alive={alive(port)})", flush=True)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
