"""Shared pieces of the integration tests: start and stop the real `souk` binary on
127.0.0.1 with ephemeral ports and a temporary data directory, talk to it over HTTP and
HTTPS, and speak hostile HTTP over raw sockets.

Python 3 standard library only. The binary comes from $SOUK_BIN (CTest sets it), else from the
usual build directories.
"""

import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
HOST = "127.0.0.1"

ASAN_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",  # UBSan
    "SUMMARY: AddressSanitizer",
    "SUMMARY: UndefinedBehaviorSanitizer",
    "ThreadSanitizer",
)


def souk_bin():
    b = os.environ.get("SOUK_BIN")
    if b:
        return b
    for cand in ("build/integ/souk", "build/asan/souk", "build/dev/souk"):
        p = os.path.join(ROOT, cand)
        if os.path.exists(p):
            return p
    raise unittest.SkipTest("no souk binary: set SOUK_BIN")


def child_env(extra=None):
    env = dict(os.environ)
    # Leaks at exit are not what these tests judge; everything else of ASan/UBSan is.
    env.setdefault("ASAN_OPTIONS", "detect_leaks=0")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    # SOUK_* variables are configuration to souk (SOUK_BIN would be an unknown key).
    for k in list(env):
        if k.startswith("SOUK_"):
            del env[k]
    if extra:
        env.update(extra)
    return env


def sanitizer_report(text):
    for m in ASAN_MARKERS:
        if m in text:
            return m
    return None


def wait_until(pred, timeout=10.0, interval=0.05, what="condition"):
    """Polls pred() until it returns a truthy value; raises AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %.1fs waiting for %s (last: %r)" % (timeout, what, last))


def run_cli(*args, env=None, timeout=60, data_dir=None, check_sanitizer=True):
    """Runs `souk <args>`; returns CompletedProcess with text stdout/stderr."""
    cmd = [souk_bin()] + list(args)
    if data_dir is not None:
        cmd += ["--set", "data_dir=" + data_dir]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       env=child_env(env), timeout=timeout)
    if check_sanitizer:
        rep = sanitizer_report(p.stderr)
        if rep:
            raise AssertionError("sanitizer report from %s: %s\n%s" % (args, rep, p.stderr))
    return p


class Server:
    """One `souk serve --env test` process."""

    def __init__(self, data_dir=None, sets=None, env=None, https=True, args=()):
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="souk-it-")
        self.sets = dict(sets or {})
        self.env = env
        self.https = https
        self.args = list(args)  # more of `souk serve`'s options, e.g. ["--demo"]
        self.proc = None
        self.http_port = None
        self.https_port = None
        self.stdout_lines = []
        self._stderr_chunks = []
        self._threads = []
        self._listening = threading.Event()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, timeout=30.0, wait_serving=True):
        sets = {"data_dir": self.data_dir, "server.http_port": "0", "server.https_port": "0"}
        sets.update(self.sets)
        cmd = [souk_bin(), "serve", "--env", "test"]
        for k, v in sets.items():
            cmd += ["--set", "%s=%s" % (k, v)]
        cmd += self.args
        self.stdout_lines = []
        self._stderr_chunks = []
        self._listening.clear()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=child_env(self.env))
        self._threads = [
            threading.Thread(target=self._read_stdout, args=(self.proc.stdout,), daemon=True),
            threading.Thread(target=self._read_stderr, args=(self.proc.stderr,), daemon=True),
        ]
        for t in self._threads:
            t.start()
        deadline = time.monotonic() + timeout
        while not self._listening.wait(0.05):
            if self.proc.poll() is not None:
                self._join_readers()
                raise AssertionError("souk serve exited early with %s\nstderr:\n%s\nstdout:\n%s" % (
                    self.proc.returncode, self.stderr, "\n".join(self.stdout_lines)))
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError("souk serve did not print 'listening' in %.0fs\nstderr:\n%s" % (
                    timeout, self.stderr))
        if wait_serving:
            # "listening" is printed before the io threads (and the SIGTERM handler) run; one
            # answered request means both are up.
            def serving():
                try:
                    return self.get("/health", timeout=2).status == 200
                except (OSError, http.client.HTTPException):
                    return False
            wait_until(serving, max(1.0, deadline - time.monotonic()), what="/health")
        return self

    def _read_stdout(self, f):
        for raw in iter(f.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.stdout_lines.append(line)
            if '"msg":"listening"' in line and not self._listening.is_set():
                try:
                    doc = json.loads(line)
                    self.http_port = int(doc["http_port"])
                    self.https_port = int(doc["https_port"]) if "https_port" in doc else None
                except (ValueError, KeyError):
                    pass
                self._listening.set()
        f.close()

    def _read_stderr(self, f):
        for raw in iter(lambda: f.read1(65536), b""):
            self._stderr_chunks.append(raw)
        f.close()

    def _join_readers(self):
        for t in self._threads:
            t.join(timeout=5)

    @property
    def stderr(self):
        return b"".join(self._stderr_chunks).decode("utf-8", "replace")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=15.0, expect_code=0):
        """SIGTERM, wait, check the exit code and that no sanitizer spoke. Returns the code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self._join_readers()
            raise AssertionError("souk serve did not exit within %.0fs of SIGTERM\nstderr:\n%s" % (
                timeout, self.stderr))
        self._join_readers()
        self.check_sanitizer()
        if expect_code is not None and code != expect_code:
            raise AssertionError("souk serve exited with %s, expected %s\nstderr:\n%s" % (
                code, expect_code, self.stderr))
        return code

    def kill(self):
        """SIGKILL (a crash); no checks."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()
            self._join_readers()

    def check_sanitizer(self):
        rep = sanitizer_report(self.stderr)
        if rep:
            raise AssertionError("sanitizer report (%s) from souk serve:\n%s" % (rep, self.stderr))

    def cleanup(self):
        """For tearDown: kill whatever is left, remove the data dir if we made it."""
        try:
            self.kill()
        finally:
            if self.own_dir:
                shutil.rmtree(self.data_dir, ignore_errors=True)

    # -- clients ---------------------------------------------------------------------------

    def conn(self, secure=False, timeout=10.0):
        if secure:
            return http.client.HTTPSConnection(HOST, self.https_port, timeout=timeout,
                                               context=unverified_context())
        return http.client.HTTPConnection(HOST, self.http_port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, secure=False, timeout=10.0):
        """One request on a fresh connection; returns Response."""
        c = self.conn(secure, timeout)
        try:
            return do_request(c, method, path, body, headers)
        finally:
            c.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post_json(self, path, obj, **kw):
        headers = {"Content-Type": "application/json"}
        headers.update(kw.pop("headers", None) or {})
        body = obj if isinstance(obj, (bytes, str)) else json.dumps(obj)
        return self.request("POST", path, body=body, headers=headers, **kw)

    def raw(self, secure=False, timeout=5.0):
        """A connected raw socket (TLS-wrapped when secure)."""
        s = socket.create_connection((HOST, self.https_port if secure else self.http_port),
                                     timeout=timeout)
        if secure:
            s = unverified_context().wrap_socket(s, server_hostname="localhost")
        return s


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (name, value)
        self.body = body

    def header(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<Response %s %r>" % (self.status, self.body[:300])


def do_request(c, method, path, body=None, headers=None):
    if isinstance(body, str):
        body = body.encode()
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    return Response(r.status, r.getheaders(), data)


_ctx = None


def unverified_context():
    global _ctx
    if _ctx is None:
        _ctx = ssl.create_default_context()
        _ctx.check_hostname = False
        _ctx.verify_mode = ssl.CERT_NONE
    return _ctx


# -- raw HTTP ----------------------------------------------------------------------------------


def read_http_response(sock, buf=b"", timeout=5.0):
    """Reads one HTTP/1.1 response (Content-Length framed) from sock.

    Returns (status, headers dict lower-cased, body, leftover bytes)."""
    deadline = time.monotonic() + timeout
    while b"\r\n\r\n" not in buf:
        chunk = _recv(sock, deadline)
        if not chunk:
            raise ConnectionError("closed before a full response head (got %r)" % buf)
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    while len(rest) < n:
        chunk = _recv(sock, deadline)
        if not chunk:
            raise ConnectionError("closed inside the body")
        rest += chunk
    return status, headers, rest[:n], rest[n:]


def _recv(sock, deadline):
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("no response in time")
    sock.settimeout(left)
    try:
        return sock.recv(65536)
    except ssl.SSLError:
        return b""
    except (ConnectionResetError, BrokenPipeError):
        return b""


def is_closed(sock, timeout=5.0):
    """True when the peer closes (EOF or reset) within timeout, after draining any bytes."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            return True
        except OSError:
            return True
        if not data:
            return True


class ServerTestCase(unittest.TestCase):
    """A test case with one server shared by the whole class. Subclasses may override
    new_server (how it is made) and prepare (what happens before the tests: by default the start);
    check_sanitizer makes the class fail on a sanitizer report once the server has stopped."""

    server_sets = {}
    check_sanitizer = False

    @classmethod
    def new_server(cls):
        return Server(sets=cls.server_sets)

    @classmethod
    def prepare(cls):
        cls.server.start()

    @classmethod
    def setUpClass(cls):
        cls.server = cls.new_server()
        try:
            cls.prepare()
        except Exception:
            cls.server.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.server.running():
                cls.server.stop()
            if cls.check_sanitizer:
                cls.server.check_sanitizer()
        finally:
            cls.server.cleanup()
