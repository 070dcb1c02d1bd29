"""Static files from server.static_dir: MIME types, ETag/304, long cache for hashed assets,
the SPA fallback to index.html, and /api/ paths never answered by the SPA."""

import os
import unittest

from harness import HERE, ServerTestCase

WEB = os.path.join(HERE, "fixtures", "web")


def fixture(path):
    with open(os.path.join(WEB, path), "rb") as f:
        return f.read()


class StaticFiles(ServerTestCase):
    server_sets = {"server.static_dir": WEB}

    def test_index(self):
        for path in ("/", "/index.html"):
            r = self.server.get(path)
            self.assertEqual(r.status, 200, path)
            self.assertEqual(r.body, fixture("index.html"))
            self.assertTrue(r.header("Content-Type").startswith("text/html"), r.headers)
            self.assertTrue(r.header("ETag"))
            self.assertEqual(r.header("Cache-Control"), "no-cache")
            self.assertEqual(r.header("X-Content-Type-Options"), "nosniff")
            self.assertIn("frame-ancestors", r.header("Content-Security-Policy", ""))

    def test_mime_types(self):
        cases = {
            "/assets/app-3f9a1c2b.js": ("text/javascript", "assets/app-3f9a1c2b.js"),
            "/assets/site.css": ("text/css", "assets/site.css"),
            "/robots.txt": ("text/plain", "robots.txt"),
        }
        for path, (mime, file) in cases.items():
            with self.subTest(path=path):
                r = self.server.get(path)
                self.assertEqual(r.status, 200)
                self.assertEqual(r.header("Content-Type").split(";")[0], mime)
                self.assertEqual(r.body, fixture(file))

    def test_hashed_asset_is_immutable_others_revalidate(self):
        r = self.server.get("/assets/app-3f9a1c2b.js")
        cc = r.header("Cache-Control", "")
        self.assertIn("immutable", cc)
        self.assertIn("max-age=31536000", cc)
        for path in ("/assets/site.css", "/robots.txt", "/"):
            cc = self.server.get(path).header("Cache-Control", "")
            self.assertNotIn("immutable", cc, path)

    def test_etag_and_if_none_match(self):
        for secure in (False, True):
            with self.subTest(transport="https" if secure else "http"):
                for path in ("/", "/assets/app-3f9a1c2b.js"):
                    r = self.server.get(path, secure=secure)
                    etag = r.header("ETag")
                    self.assertRegex(etag, r'^"[^"]+"$')
                    # Stable across requests.
                    self.assertEqual(self.server.get(path, secure=secure).header("ETag"), etag)
                    for inm in (etag, "W/" + etag, '"nope", ' + etag):
                        r2 = self.server.get(path, secure=secure, headers={"If-None-Match": inm})
                        self.assertEqual(r2.status, 304, inm)
                        self.assertEqual(r2.body, b"")
                        self.assertEqual(r2.header("ETag"), etag)
                    r3 = self.server.get(path, secure=secure, headers={"If-None-Match": '"other"'})
                    self.assertEqual(r3.status, 200)
                    self.assertEqual(r3.body, r.body)
        # Different files, different tags.
        self.assertNotEqual(self.server.get("/").header("ETag"),
                            self.server.get("/assets/site.css").header("ETag"))

    def test_spa_fallback(self):
        for path in ("/events/abc", "/events/abc/seats", "/account"):
            with self.subTest(path=path):
                r = self.server.get(path)
                self.assertEqual(r.status, 200)
                self.assertEqual(r.body, fixture("index.html"))
                self.assertTrue(r.header("Content-Type").startswith("text/html"))

    def test_api_paths_are_not_the_spa(self):
        for path in ("/api/v1/nope", "/api/v1/events/abc", "/api"):
            with self.subTest(path=path):
                r = self.server.get(path)
                self.assertEqual(r.status, 404)
                self.assertTrue(r.header("Content-Type").startswith("application/json"))
                doc = r.json()
                self.assertIs(doc["success"], False)
                self.assertEqual(doc["error"]["code"], "NOT_FOUND")
                self.assertNotIn(b"souk-fixture-index", r.body)

    def test_missing_file_with_extension_is_404(self):
        r = self.server.get("/assets/missing-12345678.js")
        self.assertEqual(r.status, 404)
        self.assertNotIn(b"souk-fixture-index", r.body)

    def test_no_escape_from_the_directory(self):
        for path in ("/../../../../etc/passwd", "/assets/../../../etc/passwd",
                     "/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2fetc%2fpasswd"):
            with self.subTest(path=path):
                r = self.server.get(path)
                self.assertNotIn(b"root:", r.body)
                self.assertNotEqual(r.status, 500)

    def test_head(self):
        r = self.server.request("HEAD", "/assets/app-3f9a1c2b.js")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"")
        self.assertEqual(int(r.header("Content-Length")), len(fixture("assets/app-3f9a1c2b.js")))

    def test_post_to_a_page_is_not_the_spa(self):
        r = self.server.request("POST", "/events/abc", body="{}",
                                headers={"Content-Type": "application/json"})
        self.assertIn(r.status, (404, 405))
        self.assertNotIn(b"souk-fixture-index", r.body)


if __name__ == "__main__":
    unittest.main()
