"""Slow and idle clients are cut off by the read and idle timeouts while others are served;
the connection cap refuses the connection over the limit and admits again when one closes."""

import socket
import threading
import time
import unittest

from harness import HOST, Server, ServerTestCase, is_closed, read_http_response, wait_until

READ_MS = 500
IDLE_MS = 1000


def get_health(sock, buf=b""):
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
    return read_http_response(sock, buf)


class Timeouts(ServerTestCase):
    server_sets = {"server.read_timeout_ms": READ_MS, "server.idle_timeout_ms": IDLE_MS}

    def closed_after(self, sock, limit):
        """Seconds until the server closed sock; fails if it stays open for `limit` seconds."""
        t0 = time.monotonic()
        self.assertTrue(is_closed(sock, limit), "connection still open after %.1fs" % limit)
        return time.monotonic() - t0

    def test_slow_header_client_is_cut_off_while_others_are_served(self):
        for secure in (False, True):
            with self.subTest(transport="https" if secure else "http"):
                slow = self.server.raw(secure)
                try:
                    t0 = time.monotonic()
                    slow.sendall(b"GET /health HTT")  # and then nothing
                    # Meanwhile another client gets its answers.
                    served = 0
                    while time.monotonic() - t0 < READ_MS / 1000 * 0.6:
                        self.assertEqual(self.server.get("/health", secure=secure).status, 200)
                        served += 1
                    self.assertGreater(served, 0)
                    self.assertTrue(is_closed(slow, 5.0), "slow-header client not cut off")
                    elapsed = time.monotonic() - t0
                    self.assertGreaterEqual(elapsed, READ_MS / 1000 * 0.8, "cut off too early")
                    self.assertLess(elapsed, 5.0)
                finally:
                    slow.close()
                self.assertEqual(self.server.get("/health", secure=secure).status, 200)

    def test_trickling_client_is_cut_off(self):
        # Slowloris: one byte every 100 ms keeps each read short, but the request as a whole
        # must arrive within the read timeout.
        s = self.server.raw(False)
        try:
            t0 = time.monotonic()
            payload = b"GET /health HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"a" * 200
            closed = False
            for b in payload:
                try:
                    s.sendall(bytes([b]))
                except OSError:
                    closed = True
                    break
                if is_closed(s, 0.1):
                    closed = True
                    break
                if time.monotonic() - t0 > 6:
                    break
            elapsed = time.monotonic() - t0
            self.assertTrue(closed, "trickling client kept the connection for %.1fs" % elapsed)
            self.assertLess(elapsed, 4.0)
        finally:
            s.close()

    def test_slow_body_is_cut_off(self):
        s = self.server.raw(False)
        try:
            s.sendall(b"POST /api/v1/_test/echo HTTP/1.1\r\nHost: t\r\n"
                      b"Content-Type: application/json\r\nContent-Length: 20\r\n\r\n{\"a\":")
            self.closed_after(s, 5.0)
        finally:
            s.close()

    def test_silent_tls_client_is_cut_off(self):
        # Connects to the HTTPS port and never starts the handshake.
        s = socket.create_connection((HOST, self.server.https_port), timeout=5)
        try:
            self.closed_after(s, 5.0)
        finally:
            s.close()

    def test_idle_keep_alive_connection_is_closed(self):
        for secure in (False, True):
            with self.subTest(transport="https" if secure else "http"):
                s = self.server.raw(secure)
                try:
                    status, headers, _, _ = get_health(s)
                    self.assertEqual(status, 200)
                    self.assertNotEqual(headers.get("connection"), "close")
                    waited = self.closed_after(s, 5.0)
                    self.assertGreaterEqual(waited, IDLE_MS / 1000 * 0.7,
                                            "closed before the idle timeout")
                finally:
                    s.close()

    def test_connection_that_never_sends_is_closed(self):
        s = self.server.raw(False)
        try:
            self.closed_after(s, 5.0)
        finally:
            s.close()

    def test_active_keep_alive_connection_survives_past_the_idle_timeout(self):
        # The idle timeout is per pause, not per connection.
        s = self.server.raw(False)
        try:
            buf = b""
            t0 = time.monotonic()
            while time.monotonic() - t0 < IDLE_MS / 1000 * 2.5:
                status, _, _, buf = get_health(s, buf)
                self.assertEqual(status, 200)
                time.sleep(IDLE_MS / 1000 / 4)
        finally:
            s.close()


class ConnectionCap(unittest.TestCase):
    CAP = 5

    def setUp(self):
        self.server = Server(sets={"server.max_connections": self.CAP,
                                   "server.idle_timeout_ms": 30000})
        self.addCleanup(self.server.cleanup)
        self.server.start()
        self.socks = []
        self.addCleanup(self.close_all)

    def close_all(self):
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass

    def open_served(self):
        """A connection the server has accepted and answered on."""
        s = self.server.raw(False)
        self.socks.append(s)
        status, _, _, _ = get_health(s)
        self.assertEqual(status, 200)
        return s

    def try_served(self):
        s = self.server.raw(False)
        try:
            status, _, _, _ = get_health(s)
            return status == 200
        except (ConnectionError, OSError):
            return False
        finally:
            s.close()

    def test_cap(self):
        held = [self.open_served() for _ in range(self.CAP)]
        # The 6th is closed without an answer while the 5 are open.
        extra = self.server.raw(False)
        self.socks.append(extra)
        try:
            extra.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        except OSError:
            pass
        self.assertTrue(is_closed(extra, 5.0), "connection over the cap was served")
        self.assertFalse(self.try_served())
        # The held ones still work.
        for s in held:
            self.assertEqual(get_health(s)[0], 200)
        # One closes: a new connection is served again.
        held[0].close()
        wait_until(self.try_served, 5.0, 0.05, "a connection to be admitted after one closed")
        self.server.stop()

    def test_cap_many_concurrent_attempts_do_not_hurt(self):
        held = [self.open_served() for _ in range(self.CAP)]
        refused = []

        def attempt():
            try:
                s = self.server.raw(False)
                refused.append(is_closed(s, 5.0))
                s.close()
            except OSError:
                refused.append(True)

        threads = [threading.Thread(target=attempt) for _ in range(30)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        self.assertEqual(refused, [True] * 30)
        for s in held:
            s.close()
        wait_until(self.try_served, 5.0, 0.05, "admission after all closed")
        self.server.stop()


if __name__ == "__main__":
    unittest.main()
