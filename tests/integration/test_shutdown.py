"""Graceful shutdown on SIGTERM/SIGINT: stop accepting, finish in-flight requests, flush the
writer, exit 0 in bounded time."""

import json
import os
import signal
import socket
import sqlite3
import threading
import time
import unittest

from harness import HOST, Server, is_closed, read_http_response, wait_until


class Shutdown(unittest.TestCase):

    def setUp(self):
        self.server = Server()
        self.addCleanup(self.server.cleanup)
        self.server.start()

    def slow_request(self, secure, ms, results, key):
        try:
            r = self.server.get("/api/v1/_test/slow?ms=%d" % ms, secure=secure, timeout=15)
            results[key] = (r.status, r.json())
        except Exception as e:  # noqa: BLE001 - the assertion below reports it
            results[key] = ("error", repr(e))

    def refused(self, port):
        try:
            s = socket.create_connection((HOST, port), timeout=2)
        except (ConnectionRefusedError, OSError):
            return True
        # Accepted by a lingering listener? It must at least not be served.
        try:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
            return is_closed(s, 2)
        except OSError:
            return True
        finally:
            s.close()

    def test_sigterm_finishes_in_flight_requests(self):
        results = {}
        threads = [
            threading.Thread(target=self.slow_request, args=(False, 800, results, "http")),
            threading.Thread(target=self.slow_request, args=(True, 800, results, "https")),
        ]
        for t in threads:
            t.start()
        # Both requests are in the server (a slow request shows up only once it is handled, so
        # give them a moment on the loopback).
        time.sleep(0.3)
        t0 = time.monotonic()
        self.server.proc.send_signal(signal.SIGTERM)
        # New connections are refused while the in-flight ones finish.
        wait_until(lambda: self.refused(self.server.http_port), 3, 0.05, "http listener closed")
        for t in threads:
            t.join(15)
        code = self.server.stop()  # waits, checks exit 0 and sanitizer silence
        elapsed = time.monotonic() - t0
        self.assertEqual(code, 0)
        self.assertLess(elapsed, 5.0, "shutdown took %.1fs" % elapsed)
        self.assertEqual(results.get("http"), (200, {"success": True, "data": {"slept_ms": 800}}))
        self.assertEqual(results.get("https"), (200, {"success": True, "data": {"slept_ms": 800}}))
        self.assertTrue(self.refused(self.server.http_port))
        self.assertTrue(self.refused(self.server.https_port))
        self.assertTrue(any('"msg":"stopped"' in l for l in self.server.stdout_lines),
                        self.server.stdout_lines[-5:])

    def test_in_flight_request_on_keep_alive_gets_connection_close(self):
        s = self.server.raw(False)
        try:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
            status, _, _, buf = read_http_response(s)
            self.assertEqual(status, 200)
            s.sendall(b"GET /api/v1/_test/slow?ms=600 HTTP/1.1\r\nHost: t\r\n\r\n")
            time.sleep(0.2)
            self.server.proc.send_signal(signal.SIGTERM)
            status, headers, body, buf = read_http_response(s, buf, timeout=10)
            self.assertEqual(status, 200)
            self.assertEqual(headers.get("connection", "").lower(), "close")
            self.assertTrue(is_closed(s, 5))
        finally:
            s.close()
        self.server.stop()

    def test_idle_keep_alive_connections_do_not_hold_shutdown(self):
        idle = [self.server.raw(secure) for secure in (False, True, False)]
        try:
            for s in idle:
                s.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
                self.assertEqual(read_http_response(s)[0], 200)
            t0 = time.monotonic()
            self.server.stop()
            self.assertLess(time.monotonic() - t0, 3.0, "idle connections delayed the shutdown")
            for s in idle:
                self.assertTrue(is_closed(s, 2))
        finally:
            for s in idle:
                s.close()

    def test_slow_clients_do_not_hold_shutdown(self):
        # A long read timeout: a half-sent request head or a silent TLS client must not keep
        # the process alive for it, while a request whose head is in still gets its answer.
        self.server.stop()
        self.server = Server(sets={"server.read_timeout_ms": 20000})
        self.addCleanup(self.server.cleanup)
        self.server.start()
        half_head = self.server.raw(False)
        silent_tls = socket.create_connection((HOST, self.server.https_port), timeout=5)
        body_coming = self.server.raw(False)
        try:
            half_head.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\nX-Slow: yes")
            body_coming.sendall(b"POST /api/v1/_test/echo HTTP/1.1\r\nHost: t\r\n"
                                b"Content-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\"")
            time.sleep(0.3)
            t0 = time.monotonic()
            self.server.proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            body_coming.sendall(b":1}")
            status, _, body, _ = read_http_response(body_coming, timeout=5)
            self.assertEqual((status, json.loads(body)["data"]), (200, {"a": 1}))
            self.server.stop(timeout=15)
            self.assertLess(time.monotonic() - t0, 5.0, "slow clients held the shutdown")
            self.assertTrue(is_closed(half_head, 2))
            self.assertTrue(is_closed(silent_tls, 2))
        finally:
            for s in (half_head, silent_tls, body_coming):
                s.close()

    def test_sigterm_right_after_listening(self):
        # The SIGINT/SIGTERM handler must be in place before "listening" is printed: a signal
        # from then on is a graceful stop (exit 0), never the default action (-15). It was a
        # race (a few percent of tries), hence the repetitions.
        self.server.stop()
        for _ in range(40):
            srv = Server()
            self.addCleanup(srv.cleanup)
            srv.start(wait_serving=False)
            srv.proc.send_signal(signal.SIGTERM)
            try:
                code = srv.proc.wait(15)
            finally:
                srv.cleanup()
            self.assertEqual(code, 0, "SIGTERM right after 'listening' killed the process")

    def test_sigint_also_stops_cleanly(self):
        self.server.proc.send_signal(signal.SIGINT)
        self.assertEqual(self.server.proc.wait(10), 0)
        self.server.stop()

    def test_acknowledged_writes_are_durable_after_sigterm(self):
        keys = []
        stop = threading.Event()

        def writer():
            i = 0
            c = self.server.conn()
            while not stop.is_set():
                k = "sd-%05d" % i
                i += 1
                try:
                    c.request("POST", "/api/v1/_test/kv", body=json.dumps({"key": k, "value": "x"}),
                              headers={"Content-Type": "application/json"})
                    r = c.getresponse()
                    r.read()
                except Exception:  # noqa: BLE001 - the server is going away
                    break
                if r.status == 201:
                    keys.append(k)
                if r.getheader("Connection", "").lower() == "close":
                    break
            c.close()

        t = threading.Thread(target=writer)
        t.start()
        wait_until(lambda: len(keys) >= 50, 60, what="50 writes")
        self.server.proc.send_signal(signal.SIGTERM)
        t.join(15)
        stop.set()
        self.server.stop()
        c = sqlite3.connect(os.path.join(self.server.data_dir, "souk.db"))
        try:
            present = {k for (k,) in c.execute("SELECT key FROM testkit_kv")}
            self.assertEqual(c.execute("PRAGMA integrity_check").fetchone()[0], "ok")
        finally:
            c.close()
        self.assertEqual(set(keys) - present, set())


if __name__ == "__main__":
    unittest.main()
