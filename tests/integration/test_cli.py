"""The `souk` command line: help, exit codes, configuration errors naming the key, migrate,
check, backup while the server is written to, and restore (refused while a server runs)."""

import json
import os
import shutil
import sqlite3
import tempfile
import threading
import time
import unittest

from harness import Server, run_cli, wait_until

COMMANDS = ("serve", "migrate", "backup", "restore", "config", "routes", "check")


def tmpdir(test):
    d = tempfile.mkdtemp(prefix="souk-cli-")
    test.addCleanup(shutil.rmtree, d, True)
    return d


def sqlite_ro(path):
    return sqlite3.connect("file:%s?mode=ro" % path, uri=True)


class Basics(unittest.TestCase):

    def test_version(self):
        p = run_cli("version")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"^souk \d+\.\d+\.\d+")

    def test_help_for_every_command(self):
        for cmd in COMMANDS:
            for flag in ("--help", "-h"):
                with self.subTest(cmd=cmd, flag=flag):
                    p = run_cli(cmd, flag)
                    self.assertEqual(p.returncode, 0, p.stderr)
                    self.assertIn("usage: souk " + cmd, p.stdout)
        p = run_cli("--help")
        self.assertEqual(p.returncode, 0)
        for cmd in COMMANDS + ("version",):
            self.assertIn(cmd, p.stdout)

    def test_usage_errors_exit_2(self):
        cases = [
            ("no-such-command",),
            (),
            ("migrate",),
            ("migrate", "sideways"),
            ("config",),
            ("config", "nope"),
            ("backup",),          # --out missing
            ("restore",),         # --from missing
            ("serve", "--set"),   # --set without its value
            ("config", "check", "--set", "no-equals-sign"),
        ]
        for args in cases:
            with self.subTest(args=args):
                p = run_cli(*args)
                self.assertEqual(p.returncode, 2, (p.stdout, p.stderr))
                self.assertTrue(p.stderr.strip(), "exit 2 without a message")
        p = run_cli("no-such-command")
        self.assertIn("no-such-command", p.stderr)


class Config(unittest.TestCase):

    def test_config_check_ok(self):
        p = run_cli("config", "check", "--env", "test")
        self.assertEqual(p.returncode, 0, p.stderr)
        doc = json.loads(p.stdout)
        self.assertEqual(doc["env"], "test")
        self.assertIn("server", doc)

    def test_secrets_are_masked(self):
        p = run_cli("config", "check", "--set", "secrets.token_key=supersecretvalue123")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn("supersecretvalue123", p.stdout)
        self.assertEqual(json.loads(p.stdout)["secrets"]["token_key"], "********")

    def test_bad_port_from_environment(self):
        p = run_cli("config", "check", env={"SOUK_SERVER__HTTP_PORT": "70000"})
        self.assertEqual(p.returncode, 2, p.stdout)
        self.assertIn("server.http_port", p.stderr)
        # The environment really is read: a good value passes and shows up.
        p = run_cli("config", "check", env={"SOUK_SERVER__HTTP_PORT": "8181"})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["server"]["http_port"], 8181)

    def test_bad_values_name_the_key(self):
        cases = {
            "server.https_port=-1": "server.https_port",
            "server.http_port=abc": "server.http_port",
            "server.bogus_knob=1": "server.bogus_knob",
            "server.static_dir=/nonexistent/souk-web": "server.static_dir",
            "server.max_connections=0": "server.max_connections",
            "database.synchronous=SOMETIMES": "database.synchronous",
            "data_dir=/proc/souk-cannot-be-here": "data_dir",
        }
        for kv, key in cases.items():
            with self.subTest(set=kv):
                p = run_cli("config", "check", "--set", kv)
                self.assertEqual(p.returncode, 2, p.stdout)
                self.assertIn(key, p.stderr)

    def test_config_check_leaves_no_data_dir_behind(self):
        d = tmpdir(self)
        missing = os.path.join(d, "not", "yet")
        p = run_cli("config", "check", "--set", "data_dir=" + missing)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["data_dir"], missing)
        self.assertFalse(os.path.exists(os.path.join(d, "not")), "config check made the data dir")
        # One that cannot be made is still refused (above, /proc); one that exists stays.
        p = run_cli("config", "check", "--set", "data_dir=" + d)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(os.path.isdir(d))

    def test_unknown_key_in_config_file(self):
        d = tmpdir(self)
        for doc, key in (({"server": {"htp_port": 8080}}, "server.htp_port"),
                         ({"bogus_section": {"x": 1}}, "bogus_section")):
            with self.subTest(key=key):
                path = os.path.join(d, "bad.json")
                with open(path, "w") as f:
                    json.dump(doc, f)
                p = run_cli("config", "check", "--config", path)
                self.assertEqual(p.returncode, 2, p.stdout)
                self.assertIn(key, p.stderr)
        # A good file is accepted and applied.
        path = os.path.join(d, "good.json")
        with open(path, "w") as f:
            json.dump({"server": {"http_port": 9191}}, f)
        p = run_cli("config", "check", "--config", path)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["server"]["http_port"], 9191)

    def test_serve_refuses_bad_config(self):
        d = tmpdir(self)
        p = run_cli("serve", "--env", "test", "--set", "server.http_port=70000", data_dir=d,
                    timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertIn("server.http_port", p.stderr)


class Database(unittest.TestCase):

    def test_migrate_status_up_and_check(self):
        d = tmpdir(self)
        p = run_cli("migrate", "status", data_dir=d)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = [l for l in p.stdout.splitlines() if l.strip()]
        self.assertTrue(lines)
        self.assertTrue(all(l.endswith("pending") for l in lines), p.stdout)
        self.assertEqual(os.listdir(d), [], "migrate status created files")
        missing = os.path.join(d, "nothing-here")
        p = run_cli("migrate", "status", data_dir=missing)
        self.assertEqual(p.returncode, 2, p.stdout)
        self.assertIn("no such directory", p.stderr)
        self.assertFalse(os.path.exists(missing))
        p = run_cli("migrate", "up", data_dir=d)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("applied %d migration(s)" % len(lines), p.stdout)
        p = run_cli("migrate", "status", data_dir=d)
        self.assertTrue(all(l.endswith("applied") for l in p.stdout.splitlines() if l.strip()))
        p = run_cli("migrate", "up", data_dir=d)
        self.assertIn("applied 0 migration(s)", p.stdout)
        p = run_cli("check", data_dir=d)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("integrity_check: ok", p.stdout)
        self.assertIn("check: ok", p.stdout)

    def test_check_after_a_server_run(self):
        srv = Server()
        self.addCleanup(srv.cleanup)
        srv.start()
        self.assertEqual(srv.post_json("/api/v1/_test/kv", {"key": "a", "value": "b"}).status, 201)
        srv.stop()
        p = run_cli("check", data_dir=srv.data_dir)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("check: ok", p.stdout)

    def test_check_without_a_database_fails(self):
        d = tmpdir(self)
        missing = os.path.join(d, "nothing-here")
        p = run_cli("check", data_dir=missing)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("no such directory: " + missing, p.stderr)
        self.assertFalse(os.path.exists(missing), "check must not create the data dir")
        # A data dir without a database: named, and nothing created in it.
        p = run_cli("check", data_dir=d)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("no database at " + os.path.join(d, "souk.db"), p.stderr)
        self.assertFalse(os.path.exists(os.path.join(d, "souk.db")))

    def test_routes(self):
        p = run_cli("routes", "--env", "test")
        self.assertEqual(p.returncode, 0, p.stderr)
        routes = {(r["method"], r["path"]) for r in json.loads(p.stdout)}
        for r in (("GET", "/health"), ("GET", "/ready"), ("GET", "/metrics"),
                  ("GET", "/api/v1/openapi.json"), ("POST", "/api/v1/_test/kv")):
            self.assertIn(r, routes)


class BackupRestore(unittest.TestCase):

    def setUp(self):
        self.server = Server()
        self.addCleanup(self.server.cleanup)
        self.work = tmpdir(self)

    def test_second_server_on_the_same_data_dir_is_refused(self):
        self.server.start()
        p = run_cli("serve", "--env", "test", "--set", "server.http_port=0",
                    "--set", "server.https_port=0", data_dir=self.server.data_dir, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(self.server.data_dir, p.stderr)
        self.assertEqual(self.server.get("/health").status, 200)
        self.server.stop()

    def test_restore_refused_while_a_server_runs(self):
        self.server.start()
        self.assertEqual(self.server.post_json("/api/v1/_test/kv",
                                               {"key": "before", "value": "1"}).status, 201)
        out = os.path.join(self.work, "b.db")
        p = run_cli("backup", "--out", out, data_dir=self.server.data_dir)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.server.post_json("/api/v1/_test/kv",
                                               {"key": "after", "value": "2"}).status, 201)
        p = run_cli("restore", "--from", out, data_dir=self.server.data_dir)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("running", p.stderr)
        # Nothing was touched: the server still has the key written after the backup.
        r = self.server.get("/api/v1/_test/kv/after")
        self.assertEqual(r.status, 200)
        self.server.stop()
        # Once stopped, the same restore goes through and brings the old state back.
        p = run_cli("restore", "--from", out, data_dir=self.server.data_dir)
        self.assertEqual(p.returncode, 0, p.stderr)
        db = os.path.join(self.server.data_dir, "souk.db")
        with sqlite_ro(db) as c:
            keys = {k for (k,) in c.execute("SELECT key FROM testkit_kv")}
        self.assertEqual(keys, {"before"})

    def test_restore_of_a_corrupt_file_is_refused(self):
        bad = os.path.join(self.work, "garbage.db")
        with open(bad, "wb") as f:
            f.write(b"SQLite format 3\x00" + os.urandom(8192))
        d = tmpdir(self)
        p = run_cli("restore", "--from", bad, data_dir=d)
        self.assertNotEqual(p.returncode, 0)
        self.assertTrue(p.stderr.strip())
        p = run_cli("restore", "--from", os.path.join(self.work, "missing.db"), data_dir=d)
        self.assertEqual(p.returncode, 2)

    def test_backup_while_writing_then_restore(self):
        # Consistency, not fsync, is under test here: synchronous=NORMAL keeps the write rate
        # independent of the disk's flush latency (other suites share the machine).
        self.server.sets["database.synchronous"] = "NORMAL"
        self.server.start()
        acked = []           # (key, time acknowledged), in order
        errors = []
        stop = threading.Event()
        lock = threading.Lock()

        def writer(tid):
            c = None
            i = 0
            while not stop.is_set():
                key = "w%d-%06d" % (tid, i)
                i += 1
                try:
                    if c is None:
                        c = self.server.conn(timeout=10)
                    c.request("POST", "/api/v1/_test/kv", body=json.dumps({"key": key, "value": "v" * 64}),
                              headers={"Content-Type": "application/json"})
                    r = c.getresponse()
                    r.read()
                    if r.status == 201:
                        with lock:
                            acked.append((key, time.monotonic()))
                    else:
                        errors.append((key, r.status))
                except Exception as e:  # noqa: BLE001 - recorded and asserted on below
                    errors.append((key, repr(e)))
                    if c is not None:
                        c.close()
                    c = None
            if c is not None:
                c.close()

        threads = [threading.Thread(target=writer, args=(t,)) for t in range(3)]
        for t in threads:
            t.start()
        try:
            try:
                wait_until(lambda: len(acked) >= 1000, 120, 0.05, "1000 acknowledged writes")
            except AssertionError as e:
                raise AssertionError("%s: %d acknowledged, errors %r\nserver stderr:\n%s" % (
                    e, len(acked), errors[:5], self.server.stderr[-3000:])) from None
            backups = []
            for n in range(2):
                with lock:
                    started = time.monotonic()
                    before = [k for k, _ in acked]
                out = os.path.join(self.work, "backup-%d.db" % n)
                p = run_cli("backup", "--out", out, data_dir=self.server.data_dir)
                self.assertEqual(p.returncode, 0, p.stderr)
                backups.append((out, set(before)))
                with lock:
                    during = sum(1 for _, t in acked if t > started)
                # Writes went on while the backup ran.
                wait_until(lambda: sum(1 for _, t in acked if t > started) > during + 20, 30,
                           0.05, "writes to continue after the backup")
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        self.assertEqual(errors, [])
        self.server.stop()
        self.assertFalse(os.path.exists(backups[0][0] + ".partial"))

        for out, before in backups:
            with self.subTest(backup=os.path.basename(out)):
                self.assertGreater(len(before), 0)
                with sqlite_ro(out) as c:
                    self.assertEqual(c.execute("PRAGMA integrity_check").fetchone()[0], "ok")
                    in_backup = {k for (k,) in c.execute("SELECT key FROM testkit_kv")}
                self.assertEqual(before - in_backup, set(), "acknowledged writes missing")
                # Restore into a new data directory and check it there.
                d = tmpdir(self)
                p = run_cli("restore", "--from", out, data_dir=d)
                self.assertEqual(p.returncode, 0, p.stderr)
                db = os.path.join(d, "souk.db")
                with sqlite_ro(db) as c:
                    self.assertEqual(c.execute("PRAGMA integrity_check").fetchone()[0], "ok")
                    restored = {k for (k,) in c.execute("SELECT key FROM testkit_kv")}
                    self.assertEqual(c.execute("PRAGMA foreign_key_check").fetchall(), [])
                self.assertEqual(restored, in_backup)
                p = run_cli("check", data_dir=d)
                self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
                # And a server starts on it and sees the data.
                srv = Server(data_dir=d)
                self.addCleanup(srv.cleanup)
                srv.start()
                key = sorted(before)[0]
                r = srv.get("/api/v1/_test/kv/" + key)
                self.assertEqual(r.status, 200)
                self.assertEqual(r.json()["data"]["value"], "v" * 64)
                srv.stop()


if __name__ == "__main__":
    unittest.main()
