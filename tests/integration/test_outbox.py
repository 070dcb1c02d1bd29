"""The transactional outbox and the durable scheduler, end to end through the testkit routes:
delivery after commit, timers, timers across a restart, and events that survive a crash
between commit and delivery (delivered exactly once to an idempotent subscriber)."""

import os
import sqlite3
import threading
import time
import unittest

from harness import Server, wait_until

BLOCK = "testkit-block-delivery"


def deliveries(srv, key):
    r = srv.get("/api/v1/_test/deliveries/" + key)
    assert r.status == 200, r
    return r.json()["data"]["deliveries"]


def kv(srv, key):
    r = srv.get("/api/v1/_test/kv/" + key)
    if r.status == 404:
        return None
    assert r.status == 200, r
    return r.json()["data"]["value"]


def write(srv, key, **extra):
    body = {"key": key, "value": "v-" + key}
    body.update(extra)
    r = srv.post_json("/api/v1/_test/kv", body)
    assert r.status == 201, r
    return r.json()["data"]


def db_rows(data_dir, sql, *args):
    c = sqlite3.connect("file:%s?mode=ro" % os.path.join(data_dir, "souk.db"), uri=True)
    try:
        return c.execute(sql, args).fetchall()
    finally:
        c.close()


class Outbox(unittest.TestCase):

    def setUp(self):
        self.server = Server()
        self.addCleanup(self.server.cleanup)
        self.server.start()

    def restart(self):
        """A new process on the same data directory."""
        old = self.server
        self.server = Server(data_dir=old.data_dir)
        self.server.own_dir = False
        self.addCleanup(self.server.cleanup)
        self.server.start()
        return self.server

    def test_publish_is_delivered_once(self):
        ev = write(self.server, "pub-1", publish=True)
        self.assertTrue(ev["event_id"])
        wait_until(lambda: deliveries(self.server, "pub-1") == 1, 20, what="delivery")
        # A write without publish delivers nothing.
        self.assertEqual(write(self.server, "nopub-1")["event_id"], "")
        time.sleep(0.3)
        self.assertEqual(deliveries(self.server, "nopub-1"), 0)
        self.assertEqual(deliveries(self.server, "pub-1"), 1)
        self.server.stop()
        rows = db_rows(self.server.data_dir, "SELECT event_id FROM testkit_deliveries WHERE key = ?",
                       "pub-1")
        self.assertEqual(rows, [(ev["event_id"],)])
        # Delivered means marked: nothing is left for the next start to redeliver.
        wait_until(lambda: db_rows(self.server.data_dir,
                                   "SELECT COUNT(*) FROM outbox WHERE delivered_ms IS NULL")
                   == [(0,)], 2, what="outbox marked delivered")

    def test_many_events_each_delivered_once(self):
        keys = ["many-%03d" % i for i in range(60)]
        errors = []

        def run(part):
            for k in part:
                try:
                    write(self.server, k, publish=True)
                except AssertionError as e:
                    errors.append(e)

        threads = [threading.Thread(target=run, args=(keys[i::4],)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])
        for k in keys:
            wait_until(lambda: deliveries(self.server, k) == 1, 20, what="delivery of " + k)
        self.server.stop()
        ids = db_rows(self.server.data_dir, "SELECT event_id FROM testkit_deliveries")
        self.assertEqual(len(ids), len(keys))

    def test_timer_fires(self):
        t0 = time.monotonic()
        write(self.server, "tm-1", timer_ms=300)
        self.assertIsNone(kv(self.server, "tm-1.timer"))  # not before it is due
        wait_until(lambda: kv(self.server, "tm-1.timer") == "fired", 20, what="timer fired")
        self.assertGreaterEqual(time.monotonic() - t0, 0.25)
        self.server.stop()
        (done,), = db_rows(self.server.data_dir,
                           "SELECT COUNT(*) FROM timers WHERE done_ms IS NOT NULL")
        self.assertEqual(done, 1)

    def test_timer_survives_restart(self):
        write(self.server, "tm-restart", timer_ms=1500)
        self.server.stop()  # SIGTERM right away
        (created,), = db_rows(self.server.data_dir,
                              "SELECT created_ms FROM testkit_kv WHERE key = 'tm-restart'")
        self.assertEqual(db_rows(self.server.data_dir,
                                 "SELECT COUNT(*) FROM testkit_kv WHERE key = 'tm-restart.timer'"),
                         [(0,)], "timer fired before its time or during shutdown")
        srv = self.restart()
        wait_until(lambda: kv(srv, "tm-restart.timer") == "fired", 30, what="timer after restart")
        srv.stop()
        (fired,), = db_rows(srv.data_dir,
                            "SELECT created_ms FROM testkit_kv WHERE key = 'tm-restart.timer'")
        self.assertGreaterEqual(fired - created, 1500, "fired early")

    def test_missed_timer_fires_after_a_crash(self):
        write(self.server, "tm-missed", timer_ms=400)
        self.server.kill()  # SIGKILL before it is due
        time.sleep(0.6)     # it falls due while nothing runs
        srv = self.restart()
        wait_until(lambda: kv(srv, "tm-missed.timer") == "fired", 20, what="missed timer")
        srv.stop()

    def test_event_survives_crash_between_commit_and_delivery(self):
        block = os.path.join(self.server.data_dir, BLOCK)
        open(block, "w").close()
        ev = write(self.server, "crash-1", publish=True)
        # Committed (the write was acknowledged) but the subscriber refuses it.
        time.sleep(0.5)
        self.assertEqual(deliveries(self.server, "crash-1"), 0)
        self.server.kill()
        rows = db_rows(self.server.data_dir,
                       "SELECT id, delivered_ms FROM outbox WHERE payload LIKE '%crash-1%'")
        self.assertEqual(rows, [(ev["event_id"], None)])
        os.remove(block)
        srv = self.restart()
        wait_until(lambda: deliveries(srv, "crash-1") == 1, 30, what="redelivery after restart")
        time.sleep(0.3)
        self.assertEqual(deliveries(srv, "crash-1"), 1)
        srv.stop()
        # Exactly once, with the id the write returned; a further restart delivers nothing more.
        srv = self.restart()
        time.sleep(0.3)
        self.assertEqual(deliveries(srv, "crash-1"), 1)
        srv.stop()
        self.assertEqual(db_rows(srv.data_dir, "SELECT event_id FROM testkit_deliveries"),
                         [(ev["event_id"],)])

    def test_graceful_stop_keeps_an_undelivered_event(self):
        # SIGTERM while the subscriber keeps failing: the drain gives up in bounded time, and
        # the event is neither lost nor marked delivered.
        block = os.path.join(self.server.data_dir, BLOCK)
        open(block, "w").close()
        ev = write(self.server, "term-1", publish=True)
        time.sleep(0.3)
        t0 = time.monotonic()
        self.server.stop()
        self.assertLess(time.monotonic() - t0, 10.0)
        self.assertEqual(db_rows(self.server.data_dir,
                                 "SELECT delivered_ms FROM outbox WHERE id = ?", ev["event_id"]),
                         [(None,)])
        os.remove(block)
        srv = self.restart()
        wait_until(lambda: deliveries(srv, "term-1") == 1, 30, what="redelivery after restart")
        srv.stop()

    def test_events_acknowledged_just_before_a_crash_are_delivered(self):
        # No blocking here: SIGKILL lands wherever it lands relative to delivery.
        keys = ["k9-%02d" % i for i in range(30)]
        for k in keys:
            write(self.server, k, publish=True)
        self.server.kill()
        srv = self.restart()
        for k in keys:
            wait_until(lambda: deliveries(srv, k) == 1, 30, what="delivery of " + k)
        srv.stop()
        (n,), = db_rows(srv.data_dir, "SELECT COUNT(*) FROM testkit_deliveries")
        self.assertEqual(n, len(keys))


if __name__ == "__main__":
    unittest.main()
