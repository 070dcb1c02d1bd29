"""Every error path of the HTTP layer, over real HTTP and HTTPS, plus the middleware
(request id, traceparent, security headers), keep-alive, pipelining and the ops routes."""

import json
import os
import re
import socket
import unittest

from harness import HOST, Server, ServerTestCase, is_closed, read_http_response, wait_until

MIB = 1 << 20


class HttpErrorsBase:
    """The tests, run once per transport by the two classes below."""

    secure = False

    def assertEnvelope(self, r, status, code):
        self.assertEqual(r.status, status, r)
        self.assertTrue(r.header("Content-Type", "").startswith("application/json"), r.headers)
        doc = r.json()
        self.assertIs(doc.get("success"), False, doc)
        self.assertEqual(doc["error"]["code"], code, doc)
        self.assertIsInstance(doc["error"].get("message"), str)
        self.assertTrue(doc.get("request_id"), doc)
        self.assertEqual(doc["request_id"], r.header("X-Request-Id"))
        return doc

    # -- envelopes ---------------------------------------------------------------------------

    def test_unknown_api_path_is_404_envelope(self):
        secure = self.secure
        for method, path in (("GET", "/api/v1/nope"), ("POST", "/api/v1/no/such/thing"),
                             ("GET", "/api"), ("DELETE", "/api/v1/_test/kv/x/y")):
            r = self.server.request(method, path, secure=secure)
            self.assertEnvelope(r, 404, "NOT_FOUND")

    def test_wrong_method_is_405_with_allow(self):
        secure = self.secure
        r = self.server.get("/api/v1/_test/echo", secure=secure)
        self.assertEnvelope(r, 405, "METHOD_NOT_ALLOWED")
        self.assertIn("POST", r.header("Allow", ""), r.headers)
        r = self.server.request("DELETE", "/api/v1/_test/kv/abc", secure=secure)
        self.assertEnvelope(r, 405, "METHOD_NOT_ALLOWED")
        self.assertIn("GET", r.header("Allow", ""))

    def test_echo_works(self):
        # The positive path, so the error tests below prove something.
        secure = self.secure
        r = self.server.post_json("/api/v1/_test/echo", {"a": [1, 2, {"b": "c"}]},
                                  secure=secure)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"success": True, "data": {"a": [1, 2, {"b": "c"}]}})

    def test_malformed_json_is_400(self):
        deep_ok = "[" * 60 + "]" * 60
        bodies = {
            "syntax": '{"a": ',
            "garbage": "not json at all",
            "nesting_65": "[" * 65 + "]" * 65,
            "nesting_10000": "[" * 10000 + "]" * 10000,
            "object_nesting": '{"a":' * 100 + "1" + "}" * 100,
            "1e999": '{"x": 1e999}',
            "-1e999": "[-1e999]",
            "trailing": '{"a":1} x',
        }
        secure = self.secure
        for label, body in bodies.items():
            with self.subTest(body=label):
                r = self.server.post_json("/api/v1/_test/echo", body, secure=secure)
                self.assertEnvelope(r, 400, "MALFORMED_JSON")
        r = self.server.post_json("/api/v1/_test/echo", deep_ok, secure=secure)
        self.assertEqual(r.status, 200, r)

    def test_wrong_content_type_is_415(self):
        secure = self.secure
        for ct in ("text/plain", "application/x-www-form-urlencoded", "application/jsonx"):
            with self.subTest(content_type=ct):
                r = self.server.request("POST", "/api/v1/_test/echo", body='{"a":1}',
                                        headers={"Content-Type": ct}, secure=secure)
                self.assertEnvelope(r, 415, "UNSUPPORTED_MEDIA_TYPE")
        r = self.server.request("POST", "/api/v1/_test/echo", body='{"a":1}', secure=secure)
        self.assertEnvelope(r, 415, "UNSUPPORTED_MEDIA_TYPE")  # no Content-Type at all
        r = self.server.request("POST", "/api/v1/_test/echo", body='{"a":1}', secure=secure,
                                headers={"Content-Type": "Application/JSON; charset=utf-8"})
        self.assertEqual(r.status, 200, r)

    def test_body_over_1mib_is_413(self):
        secure = self.secure
        # Declared too large: refused from the head, without reading the body.
        s = self.server.raw(secure)
        try:
            s.sendall(b"POST /api/v1/_test/echo HTTP/1.1\r\nHost: t\r\n"
                      b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                      % (MIB + 1) + b"[" * 100)
            status, headers, body, _ = read_http_response(s)
            self.assertEqual(status, 413)
            doc = json.loads(body)
            self.assertEqual(doc["error"]["code"], "PAYLOAD_TOO_LARGE")
            self.assertIs(doc["success"], False)
            self.assertTrue(is_closed(s), "connection left open after 413")
        finally:
            s.close()
        # Just at the limit is fine.
        body = '{"a":"' + "x" * (MIB - 8) + '"}'
        self.assertEqual(len(body), MIB)
        r = self.server.post_json("/api/v1/_test/echo", body, secure=secure, timeout=30)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.json()["data"]["a"]), MIB - 8)

    def test_body_over_1mib_chunked_is_413(self):
        secure = self.secure
        s = self.server.raw(secure)
        try:
            s.sendall(b"POST /api/v1/_test/echo HTTP/1.1\r\nHost: t\r\n"
                      b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"%x\r\n" % (64 * 1024) + b" " * (64 * 1024) + b"\r\n"
            status = None
            try:
                for _ in range(20):  # 1.25 MiB
                    s.sendall(chunk)
                s.sendall(b"0\r\n\r\n")
            except OSError:
                pass  # the server may stop reading once it has refused
            try:
                status, _, body, _ = read_http_response(s)
            except ConnectionError:
                status = "reset"
            # A reset is tolerated (the server closed with our bytes unread); a 2xx is not.
            if status != "reset":
                self.assertEqual(status, 413)
                self.assertEqual(json.loads(body)["error"]["code"], "PAYLOAD_TOO_LARGE")
        finally:
            s.close()
        self.assertEqual(self.server.get("/health", secure=secure).status, 200)

    def test_handler_exception_is_500_without_internals(self):
        secure = self.secure
        r = self.server.post_json("/api/v1/_test/boom", {}, secure=secure)
        doc = self.assertEnvelope(r, 500, "INTERNAL")
        text = r.body.decode().lower()
        for leak in ("secret", "passwd", "/etc", "runtime_error", "exception"):
            self.assertNotIn(leak, text, doc)
        for _, v in r.headers:
            self.assertNotIn("secret", v.lower())

    def test_validation_is_422_with_fields(self):
        secure = self.secure
        r = self.server.post_json("/api/v1/_test/kv", {"value": 5}, secure=secure)
        doc = self.assertEnvelope(r, 422, "VALIDATION_FAILED")
        fields = doc["error"]["details"]["fields"]
        self.assertIn("key", fields)
        self.assertIn("value", fields)
        self.assertIsInstance(fields["key"], str)
        r = self.server.post_json("/api/v1/_test/kv", {"key": "k", "value": "v", "timer_ms": -1},
                                  secure=secure)
        doc = self.assertEnvelope(r, 422, "VALIDATION_FAILED")
        self.assertEqual(list(doc["error"]["details"]["fields"]), ["timer_ms"])

    # -- hostile transport ---------------------------------------------------------------------

    def test_content_length_and_transfer_encoding_is_400_and_closed(self):
        secure = self.secure
        for te in (b"chunked", b"gzip, chunked"):
            with self.subTest(te=te):
                s = self.server.raw(secure)
                try:
                    s.sendall(b"POST /api/v1/_test/echo HTTP/1.1\r\nHost: t\r\n"
                              b"Content-Type: application/json\r\nContent-Length: 4\r\n"
                              b"Transfer-Encoding: " + te + b"\r\n\r\n"
                              b"2\r\n{}\r\n0\r\n\r\n"
                              b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
                    status, headers, body, rest = read_http_response(s)
                    self.assertEqual(status, 400)
                    doc = json.loads(body)
                    self.assertIs(doc["success"], False)
                    self.assertEqual(doc["error"]["code"], "BAD_REQUEST")
                    self.assertEqual(headers.get("connection", "").lower(), "close")
                    self.assertEqual(rest, b"", "smuggled request answered")
                    self.assertTrue(is_closed(s), "connection left open")
                finally:
                    s.close()
        # The server keeps serving.
        self.assertEqual(self.server.get("/health", secure=secure).status, 200)

    def refused_and_closed(self, raw_request, code="BAD_REQUEST", status=400):
        s = self.server.raw(self.secure)
        try:
            s.sendall(raw_request)
            st, headers, body, rest = read_http_response(s)
            self.assertEqual(st, status, body)
            self.assertEqual(json.loads(body)["error"]["code"], code)
            self.assertEqual(rest, b"", "bytes after the refused request were answered")
            self.assertTrue(is_closed(s), "connection left open")
        finally:
            s.close()

    def test_transfer_encoding_not_ending_in_chunked_is_400_and_closed(self):
        for te in (b"gzip", b"chunked, gzip", b"identity"):
            with self.subTest(te=te):
                self.refused_and_closed(
                    b"POST /api/v1/_test/echo HTTP/1.1\r\nHost: t\r\n"
                    b"Content-Type: application/json\r\nTransfer-Encoding: " + te + b"\r\n\r\n"
                    b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")

    def test_conflicting_content_lengths_are_400_and_closed(self):
        self.refused_and_closed(
            b"POST /api/v1/_test/echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Length: 7\r\nContent-Length: 8\r\n\r\n{\"a\":1}")

    def test_absolute_form_target_is_400(self):
        self.refused_and_closed(b"GET http://elsewhere.example/health HTTP/1.1\r\nHost: t\r\n\r\n")

    def test_chunked_body_is_accepted(self):
        s = self.server.raw(self.secure)
        try:
            s.sendall(b"POST /api/v1/_test/echo HTTP/1.1\r\nHost: t\r\n"
                      b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n")
            st, _, body, _ = read_http_response(s)
            self.assertEqual(st, 200)
            self.assertEqual(json.loads(body)["data"], {"a": 1})
        finally:
            s.close()

    def test_invalid_utf8_and_empty_json_are_400(self):
        for body in (b'{"a":"\xff"}', b"", b"   "):
            with self.subTest(body=body):
                r = self.server.request("POST", "/api/v1/_test/echo", body=body, secure=self.secure,
                                        headers={"Content-Type": "application/json"})
                self.assertEnvelope(r, 400, "MALFORMED_JSON")

    def test_headers_over_16kib_are_431_and_closed(self):
        secure = self.secure
        s = self.server.raw(secure)
        try:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * (17 * 1024) +
                      b"\r\n\r\n")
            try:
                status, headers, body, _ = read_http_response(s)
            except ConnectionError as e:
                self.fail("no 431 before the close: %s" % e)
            self.assertEqual(status, 431)
            self.assertIs(json.loads(body)["success"], False)
            self.assertTrue(is_closed(s), "connection left open after 431")
        finally:
            s.close()
        # Headers under the limit are fine.
        r = self.server.get("/health", secure=secure, headers={"X-Big": "a" * (12 * 1024)})
        self.assertEqual(r.status, 200)

    def test_garbage_request_line_is_400(self):
        secure = self.secure
        s = self.server.raw(secure)
        try:
            s.sendall(b"HELLO\x00 WORLD\r\n\r\n")
            status, _, body, _ = read_http_response(s)
            self.assertEqual(status, 400)
            self.assertEqual(json.loads(body)["error"]["code"], "BAD_REQUEST")
            self.assertTrue(is_closed(s))
        finally:
            s.close()

    # -- middleware ------------------------------------------------------------------------------

    def test_request_id_echoed_or_made(self):
        secure = self.secure
        r = self.server.get("/health", secure=secure, headers={"X-Request-Id": "it-req-42"})
        self.assertEqual(r.header("X-Request-Id"), "it-req-42")
        r = self.server.get("/api/v1/nope", secure=secure,
                            headers={"X-Request-Id": "it-req-43"})
        self.assertEqual(r.json()["request_id"], "it-req-43")
        a = self.server.get("/health", secure=secure).header("X-Request-Id")
        b = self.server.get("/health", secure=secure).header("X-Request-Id")
        self.assertTrue(a and b)
        self.assertNotEqual(a, b)
        # An unusable id (header injection, absurd length) is replaced, not echoed.
        r = self.server.get("/health", secure=secure, headers={"X-Request-Id": "x" * 500})
        self.assertTrue(r.header("X-Request-Id"))
        self.assertNotEqual(r.header("X-Request-Id"), "x" * 500)

    def test_traceparent_accepted(self):
        tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        secure = self.secure
        r = self.server.get("/health", secure=secure, headers={"traceparent": tp})
        self.assertEqual(r.status, 200)
        r = self.server.get("/health", secure=secure, headers={"traceparent": "garbage"})
        self.assertEqual(r.status, 200)

    def test_security_headers(self):
        secure = self.secure
        for r in (self.server.get("/health", secure=secure),
                  self.server.get("/api/v1/nope", secure=secure),
                  self.server.post_json("/api/v1/_test/boom", {}, secure=secure)):
            self.assertEqual(r.header("X-Content-Type-Options"), "nosniff")
            csp = r.header("Content-Security-Policy", "")
            self.assertIn("frame-ancestors", csp)
            self.assertIn("default-src", csp)
            self.assertTrue(r.header("Referrer-Policy"))
            hsts = r.header("Strict-Transport-Security")
            if secure:
                self.assertIsNotNone(hsts)
                self.assertIn("max-age=", hsts)
            else:
                self.assertIsNone(hsts, "HSTS sent over plain HTTP")

    # -- connection handling -----------------------------------------------------------------

    def test_keep_alive(self):
        secure = self.secure
        s = self.server.raw(secure)
        try:
            buf = b""
            for i in range(5):
                s.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\nX-Request-Id: ka-%d\r\n\r\n" % i)
                status, headers, body, buf = read_http_response(s, buf)
                self.assertEqual(status, 200)
                self.assertEqual(headers["x-request-id"], "ka-%d" % i)
                self.assertNotEqual(headers.get("connection", "").lower(), "close")
            # An error response does not close a keep-alive connection either.
            s.sendall(b"GET /api/v1/nope HTTP/1.1\r\nHost: t\r\n\r\n")
            status, _, _, buf = read_http_response(s, buf)
            self.assertEqual(status, 404)
            s.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            status, headers, _, buf = read_http_response(s, buf)
            self.assertEqual(status, 200)
            self.assertTrue(is_closed(s), "Connection: close not honoured")
        finally:
            s.close()
        # http.client reuses its socket across requests.
        c = self.server.conn(secure)
        try:
            c.request("GET", "/health")
            c.getresponse().read()
            sock = c.sock
            for _ in range(3):
                c.request("GET", "/ready")
                r = c.getresponse()
                r.read()
                self.assertEqual(r.status, 200)
            self.assertIs(c.sock, sock)
        finally:
            c.close()

    def test_pipelining(self):
        secure = self.secure
        s = self.server.raw(secure)
        try:
            body = b'{"n":2}'
            s.sendall(b"GET /api/v1/_test/slow?ms=150 HTTP/1.1\r\nHost: t\r\nX-Request-Id: p-1\r\n\r\n"
                      b"POST /api/v1/_test/echo HTTP/1.1\r\nHost: t\r\nX-Request-Id: p-2\r\n"
                      b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                      b"GET /api/v1/nope HTTP/1.1\r\nHost: t\r\nX-Request-Id: p-3\r\n\r\n"
                      % (len(body), body))
            st1, h1, b1, rest = read_http_response(s)
            st2, h2, b2, rest = read_http_response(s, rest)
            st3, h3, b3, rest = read_http_response(s, rest)
            self.assertEqual((st1, h1["x-request-id"]), (200, "p-1"))
            self.assertEqual(json.loads(b1)["data"]["slept_ms"], 150)
            self.assertEqual((st2, h2["x-request-id"]), (200, "p-2"))
            self.assertEqual(json.loads(b2)["data"], {"n": 2})
            self.assertEqual((st3, h3["x-request-id"]), (404, "p-3"))
            self.assertEqual(rest, b"")
        finally:
            s.close()

    def test_head_has_no_body(self):
        secure = self.secure
        s = self.server.raw(secure)
        try:
            s.sendall(b"HEAD /health HTTP/1.1\r\nHost: t\r\n\r\nGET /health HTTP/1.1\r\nHost: t\r\n\r\n")
            buf = b""
            while buf.count(b"\r\n\r\n") < 2 or not buf.endswith(b"}"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
            self.assertEqual(buf.count(b"HTTP/1.1 200"), 2, buf)
            head, rest = buf.split(b"\r\n\r\n", 1)
            self.assertTrue(rest.startswith(b"HTTP/1.1 200"), buf)  # no body after HEAD
        finally:
            s.close()

    # -- ops routes --------------------------------------------------------------------------

    def test_health_ready_metrics_openapi(self):
        secure = self.secure
        self.assertEqual(self.server.get("/health", secure=secure).status, 200)
        wait_until(lambda: self.server.get("/ready", secure=secure).status == 200, 30,
                   what="/ready 200")
        r = self.server.get("/ready", secure=secure)
        self.assertEqual(r.json()["status"], "ready")
        self.server.post_json("/api/v1/_test/echo", {}, secure=secure)
        r = self.server.get("/metrics", secure=secure)
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("Content-Type").startswith("text/plain"))
        text = r.body.decode()
        for metric in ("souk_http_requests_total", "souk_http_request_duration_seconds",
                       "souk_db_commit_batch_jobs", "souk_db_commit_duration_seconds",
                       "souk_outbox_backlog"):
            self.assertIn(metric, text)
        self.assertIn('souk_http_requests_total{route="POST /api/v1/_test/echo",status="2xx"}',
                      text)
        # Every WAL fsync is counted, under the thread that made it (the writer or the sync
        # thread, as the disk's speed decided); /ready's probe wrote at least once.
        fsyncs = {}
        for line in text.splitlines():
            m = re.match(r'souk_db_wal_fsync_duration_seconds_count\{thread="(\w+)"\} (\S+)',
                         line)
            if m:
                fsyncs[m.group(1)] = float(m.group(2))
        self.assertEqual(set(fsyncs), {"writer", "sync"}, text)
        self.assertGreaterEqual(sum(fsyncs.values()), 1)
        r = self.server.get("/api/v1/openapi.json", secure=secure)
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("Content-Type").startswith("application/json"))
        doc = r.json()
        self.assertTrue(str(doc.get("openapi", "")).startswith("3"), doc.keys())
        self.assertIn("/health", doc.get("paths", {}))


class HttpErrorsPlain(HttpErrorsBase, ServerTestCase):
    secure = False


class HttpErrorsTls(HttpErrorsBase, ServerTestCase):
    secure = True

    def test_plain_http_on_the_tls_port_is_closed(self):
        s = socket.create_connection((HOST, self.server.https_port), timeout=5)
        try:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
            self.assertTrue(is_closed(s, 5))
        finally:
            s.close()
        self.assertEqual(self.server.get("/health", secure=True).status, 200)

    def test_tls_garbage_then_close(self):
        s = socket.create_connection((HOST, self.server.https_port), timeout=5)
        try:
            s.sendall(b"\x16\x03\x01\x00\x05" + os.urandom(5))
            self.assertTrue(is_closed(s, 5))
        finally:
            s.close()
        self.assertEqual(self.server.get("/health", secure=True).status, 200)


class RedirectMode(ServerTestCase):
    """server.http_mode=redirect (prod): plain HTTP answers 308 to the HTTPS origin, except the
    probes."""

    server_sets = {"server.http_mode": "redirect"}

    def test_redirects_to_https(self):
        origin = "https://127.0.0.1:%d" % self.server.https_port
        for method, path in (("GET", "/api/v1/_test/kv/x?y=1"), ("GET", "/events/abc"),
                             ("POST", "/api/v1/_test/echo")):
            with self.subTest(path=path):
                r = self.server.request(method, path, body="{}" if method == "POST" else None,
                                        headers={"Content-Type": "application/json"})
                self.assertEqual(r.status, 308)
                self.assertEqual(r.header("Location"), origin + path)
                self.assertIsNone(r.header("Strict-Transport-Security"))
        # The same request over HTTPS is served.
        r = self.server.post_json("/api/v1/_test/echo", {"a": 1}, secure=True)
        self.assertEqual(r.status, 200)

    def test_probes_are_served_over_http(self):
        self.assertEqual(self.server.get("/health").status, 200)
        wait_until(lambda: self.server.get("/ready").status == 200, 30, what="/ready")


class RequestLog(unittest.TestCase):
    """One JSON log line per request, with the request id and the W3C trace id."""

    def test_request_log_line(self):
        srv = Server()
        try:
            srv.start()
            tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            r = srv.get("/api/v1/_test/kv/missing",
                        headers={"traceparent": tp, "X-Request-Id": "log-check-1"})
            self.assertEqual(r.status, 404)
            r = srv.get("/health", secure=True, headers={"X-Request-Id": "log-check-2"})
            self.assertEqual(r.status, 200)
            srv.stop()  # flushes stdout
            lines = []
            for line in srv.stdout_lines:
                try:
                    lines.append(json.loads(line))
                except ValueError:
                    self.fail("stdout line is not JSON: %r" % line)
            reqs = {d.get("request_id"): d for d in lines if d.get("msg") == "request"}
            self.assertIn("log-check-1", reqs, srv.stdout_lines)
            one = reqs["log-check-1"]
            self.assertEqual(one["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736")
            self.assertEqual(one["method"], "GET")
            self.assertEqual(one["route"], "/api/v1/_test/kv/{key}")
            self.assertEqual(one["status"], 404)
            self.assertIsInstance(one["duration_ms"], (int, float))
            two = reqs["log-check-2"]
            self.assertEqual(two["status"], 200)
            self.assertRegex(two["trace_id"], "^[0-9a-f]{32}$")
        finally:
            srv.cleanup()


if __name__ == "__main__":
    unittest.main()
