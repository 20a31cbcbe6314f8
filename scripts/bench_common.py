"""Shared helpers of the attack measurements in scripts/: a node on a free loopback port with a temp data dir,
a small JSON-over-HTTP client with keep-alive, and RSS of the node process. Standard library only."""
import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time


_given_ports = set()


def _ephemeral_floor():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port():
    """A free loopback port below the kernel's ephemeral range. A port the kernel picked there could become the
    source port of someone's outgoing connection (parallel tests; the chaos rig opens thousands) before the node
    binds it, or while a killed node waits for its restart on the same port. Random, and never given twice by one
    process, so that parallel runs rarely meet in the moment before binding."""
    import random
    floor = _ephemeral_floor()
    # A machine whose ephemeral range starts low leaves nothing below it: take the ports above it instead.
    low, high = (10000, floor) if floor > 11000 else (61000, 65536)
    rng = random.SystemRandom()
    for _ in range(1000):
        port = rng.randrange(low, high)
        if port in _given_ports:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        _given_ports.add(port)
        return port
    raise RuntimeError("no free port found")


class Node:
    """One bento-node; stopped (SIGTERM, then SIGKILL after a bounded wait) by stop() or on exit."""

    def __init__(self, binary, env=None, data_dir=None):
        self.binary = binary
        self.own_dir = data_dir is None
        self.dir = data_dir or tempfile.mkdtemp(prefix="bento-attack-")
        self.port = free_port()
        self.env = dict(os.environ)
        self.env.update({"BENTO_DATA_DIR": os.path.join(self.dir, "data"), "BENTO_HTTP_PORT": str(self.port),
                         "BENTO_LOG_LEVEL": "warn", "BENTO_ARGON2_MEM_KIB": "8192", "BENTO_ARGON2_OPS": "1"})
        self.env.update(env or {})
        self.proc = None

    def start(self, timeout_s=30):
        # A restart keeps the port, so clients reconnect to the same address.
        self.log = open(os.path.join(self.dir, "node.log"), "ab")
        self.proc = subprocess.Popen([self.binary], env=self.env, stdout=self.log, stderr=self.log)
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("node exited at start (status %s); the end of %s:\n%s"
                                   % (self.proc.returncode, self.log.name, self.log_tail()))
            time.sleep(0.05)  # polling interval of a bounded wait
        raise RuntimeError("node not ready within %ss" % timeout_s)

    def log_tail(self, lines=30):
        try:
            with open(os.path.join(self.dir, "node.log"), "rb") as f:
                return b"\n".join(f.read().splitlines()[-lines:]).decode("utf-8", "replace")
        except OSError as e:
            return "(unreadable: %s)" % e

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cleanup(self):
        self.stop()
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


class Client:
    """Keep-alive JSON client for one user."""

    def __init__(self, port, token=None):
        self.port = port
        self.token = token
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method, path, body=None):
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        data = None if body is None else json.dumps(body)
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None)
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt:
                    raise

    def sign_up(self, username, role):
        status, _ = self.call("POST", "/api/v1/users", {"username": username, "password": "attack-password",
                                                       "email": username + "@example.com", "role": role,
                                                       "place": "taipei"})
        assert status == 201, status
        self.login(username)

    def login(self, username):
        status, body = self.call("POST", "/api/v1/sessions", {"username": username, "password": "attack-password"})
        assert status == 201, (status, body)
        self.token = body["token"]
        return body


def percentile(samples, p):
    s = sorted(samples)
    if not s:
        return float("nan")
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


class Proxy:
    """bento-chaos-proxy in front of one node's cluster port (tests/chaos/proxy_main.cpp): cut() and heal()."""

    def __init__(self, binary, target_port):
        self.proc = subprocess.Popen([binary, str(target_port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)
        self.port = int(self.proc.stdout.readline())

    def _say(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "ok"

    def cut(self, pids):
        self._say("shut " + ",".join(str(p) for p in pids))

    def slow(self, ms, pids=None):
        """Hold every byte `ms` both ways: on every connection (pids None) or on those these processes opened."""
        self._say("slow %d %s" % (ms, "all" if pids is None else ",".join(str(p) for p in pids)))

    def heal(self):
        self._say("heal")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait()


def start_cluster(binary, top, count, secret, extra_env=None, proxy_binary=None):
    """`count` nodes n1..nN forming one cluster on loopback (data in top/nN), launched together and waited for
    (formation needs every seed). Each Node gets an `id`, and with `proxy_binary` a `proxy` in front of its
    cluster port (the node advertises the proxy, so every link between nodes goes through one)."""
    import threading
    peer_ports = [free_port() for _ in range(count)]
    proxies = [Proxy(proxy_binary, p) for p in peer_ports] if proxy_binary else None
    reached = [pr.port for pr in proxies] if proxies else peer_ports
    seeds = ",".join("127.0.0.1:%d" % p for p in reached)
    nodes = []
    for i in range(count):
        os.makedirs(os.path.join(top, "n%d" % (i + 1)), exist_ok=True)
        env = {"BENTO_NODE_ID": "n%d" % (i + 1), "BENTO_SEEDS": seeds, "BENTO_CLUSTER_SECRET": secret,
               "BENTO_CLUSTER_PORT": str(peer_ports[i]), "BENTO_CLIENT_PORT": str(free_port()),
               "BENTO_BIND": "127.0.0.1"}
        if proxies:
            env["BENTO_CLUSTER_ADVERTISE"] = "127.0.0.1:%d" % proxies[i].port
        env.update(extra_env or {})
        n = Node(binary, data_dir=os.path.join(top, "n%d" % (i + 1)), env=env)
        n.id = "n%d" % (i + 1)
        n.proxy = proxies[i] if proxies else None
        nodes.append(n)
    failures = []

    def start(n):
        try:
            n.start(timeout_s=60)
        except Exception as e:  # reported below, after every start has ended
            failures.append("%s: %s" % (n.id, e))

    threads = [threading.Thread(target=start, args=(n,)) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        for n in nodes:
            n.stop()
            if n.proxy:
                n.proxy.stop()
        raise RuntimeError("the cluster did not start (data and logs kept in %s):\n%s" % (top, "\n".join(failures)))
    return nodes


def _cpu_ticks(stat_path):
    """utime + stime, in clock ticks, from a /proc .../stat file (fields after the command's closing paren)."""
    with open(stat_path) as f:
        stat = f.read()
    parts = stat[stat.rindex(")") + 2:].split()
    return int(parts[11]) + int(parts[12])


def cpu_seconds(pids):
    """CPU time (user + system) the processes have used so far, in seconds."""
    return sum(_cpu_ticks("/proc/%d/stat" % pid) for pid in pids) / float(os.sysconf("SC_CLK_TCK"))


def threads(pid):
    """Each thread of process `pid`: its id -> (name, CPU ticks used so far, user + system)."""
    out = {}
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            ticks = _cpu_ticks("/proc/%d/task/%s/stat" % (pid, t))
            with open("/proc/%d/task/%s/comm" % (pid, t)) as f:
                comm = f.read().strip()
        except OSError:
            continue  # the thread ended meanwhile
        out[t] = (comm, ticks)
    return out


def background_seconds(pids):
    """CPU seconds the processes' RocksDB flush and compaction threads (named rocksdb:*) have used so far: work
    that no request waits for, and that grows as a run's data does."""
    ticks = sum(used for pid in pids for comm, used in threads(pid).values() if comm.startswith("rocksdb:"))
    return ticks / float(os.sysconf("SC_CLK_TCK"))


def write_summary(path, summary):
    """A benchmark's JSON summary at `path` (its directory made), and the line that says where."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(summary, f, indent=1)
    print("summary: %s" % path)
