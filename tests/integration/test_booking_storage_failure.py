"""The writer fails: a disk full as SQLite sees it (the test-only route caps the writer
connection's database at its current page count, so whatever needs a new page gets
SQLITE_FULL). Reserve answers 503 UNAVAILABLE and gives the seats back, confirm/cancel/expiry
keep their holds, nothing is damaged, the server keeps running, and everything works again
once there is room. And a slow disk (each WAL fsync made 3 ms longer): the fsyncs move from the
writer to the sync thread (ADR 0020), every reservation is still answered and kept."""

import re
import unittest

from booking_support import (Api, available, booking_server, create_user_cli, db_zone,
                             error_code, fire_together, first_zone, login, make_event, query,
                             register_member, souk_check, start, unique)
from harness import wait_until

CAPACITY = 1000


class DiskFullTest(unittest.TestCase):

    def setUp(self):
        self.server = None

    def tearDown(self):
        if self.server is not None:
            self.server.cleanup()

    def boot(self, hold_seconds):
        self.server = booking_server(hold_seconds=hold_seconds)
        email = "%s@example.org" % unique("org")
        create_user_cli(self.server.data_dir, email)
        start(self.server)
        self.org = login(self.server, email)
        return self.server

    def disk_full(self, full):
        r = Api(self.server).post("/_test/disk-full", {"full": full})
        self.assertEqual(r.status, 200, r)
        return r.json()["data"]["max_page_count"]

    def assertAlive(self):
        if not self.server.running():
            self.server.kill()  # reap it and its output
            self.fail("souk serve died (exit %s):\n%s" % (self.server.proc.returncode,
                                                           self.server.stderr[-3000:]))
        self.assertEqual(self.server.get("/health").status, 200)
        self.server.check_sanitizer()

    def live_seats(self, zone_id):
        return query(self.server.data_dir,
                     "SELECT COALESCE(SUM(quantity), 0) FROM bookings WHERE zone_id = ? AND "
                     "status IN ('reserved', 'confirmed')", (zone_id,))[0][0]

    def test_reserve_confirm_cancel_on_a_full_disk(self):
        server = self.boot(hold_seconds=600)
        ev = make_event(self.org, zones=(("Floor", 0, CAPACITY),))
        show_id, zone_id = first_zone(ev)
        member = register_member(server)
        # Holds taken while there is room, for confirm and cancel on the full disk later.
        before = [member.reserve(show_id, zone_id, 1).json()["data"]["id"] for _ in range(40)]
        self.assertEqual(available(server, show_id, zone_id), CAPACITY - 40)

        cap = self.disk_full(True)
        self.assertGreater(cap, 0)
        # Pages with room left still take rows (as on a real disk, SQLite only fails when it
        # must grow the file): reserve until the writer runs out, then it keeps failing.
        taken = 40
        failed = []
        for i in range(400):
            key = unique("full")
            r = member.reserve(show_id, zone_id, 2, key=key)
            self.assertIn(r.status, (201, 503), r)
            if r.status == 201:
                taken += 2
                continue
            self.assertEqual(error_code(r), "UNAVAILABLE", r)
            failed.append(key)
            if len(failed) == 5:
                break
        self.assertEqual(len(failed), 5, "the disk never filled up")
        print("\nwriter full after %d reservations" % ((taken - 40) // 2))
        # Every 503 gave its seats back; what SQLite has is what the engine counts.
        self.assertEqual(available(server, show_id, zone_id), CAPACITY - taken)
        self.assertEqual(self.live_seats(zone_id), taken)
        self.assertEqual(query(server.data_dir, "SELECT COUNT(*) FROM idempotency_keys WHERE "
                                                "idem_key IN (%s)" % ",".join("?" * 5), failed),
                         [(0,)])
        self.assertAlive()

        # Confirm and cancel on the full disk: each either lands or answers 503 and leaves the
        # hold as it was. Confirm until the writer refuses those too.
        confirmed, refused = [], []
        pending = list(before)
        while pending and len(refused) < 3:
            b = pending.pop()
            r = member.post("/bookings/%s/confirm" % b)
            self.assertIn(r.status, (200, 503), r)
            if r.status == 200:
                confirmed.append(b)
            else:
                self.assertEqual(error_code(r), "UNAVAILABLE", r)
                refused.append(b)
                self.assertEqual(member.booking(b).json()["data"]["status"], "reserved")
        self.assertEqual(available(server, show_id, zone_id), CAPACITY - taken)
        for b in refused[:2]:
            r = member.post("/bookings/%s/cancel" % b)
            self.assertIn(r.status, (200, 503), r)
            if r.status == 200:  # it fitted in pages with room left: one seat (of 1) back
                self.assertEqual(member.booking(b).json()["data"]["status"], "cancelled")
                taken -= 1
            else:
                self.assertEqual(member.booking(b).json()["data"]["status"], "reserved")
            self.assertEqual(available(server, show_id, zone_id), CAPACITY - taken)
        # Confirm and cancel of one hold racing on the full disk: both may fail; the server
        # must neither crash nor lose track of the seats.
        racing = pending[:6] + refused
        pending = pending[6:]
        seen = []
        for b in racing:
            self.assertAlive()
            got = fire_together([member.prepared("POST", "/bookings/%s/confirm" % b),
                                 member.prepared("POST", "/bookings/%s/cancel" % b)])
            seen.append(tuple(r.status if hasattr(r, "status") else repr(r) for r in got))
        print("confirm/cancel on the full disk: %s" % seen)
        self.assertAlive()
        self.assertEqual(available(server, show_id, zone_id), CAPACITY - self.live_seats(zone_id))

        # Room again: everything works, and the keys that failed were never used up.
        self.disk_full(False)
        for key in failed:
            r = member.reserve(show_id, zone_id, 2, key=key)
            self.assertEqual(r.status, 201, r)
            self.assertIsNone(r.header("Idempotent-Replayed"))
        for b in pending[:3]:
            self.assertEqual(member.post("/bookings/%s/confirm" % b).status, 200)
        for b in racing:
            status = member.booking(b).json()["data"]["status"]
            self.assertIn(status, ("reserved", "confirmed", "cancelled"), b)
            r = member.post("/bookings/%s/cancel" % b)
            if status == "cancelled":
                self.assertEqual(r.status, 409, r)
            else:
                self.assertEqual(r.status, 200, r)
        self.assertEqual(available(server, show_id, zone_id), CAPACITY - self.live_seats(zone_id))
        cap_, held, conf, live_held, live_conf = db_zone(server.data_dir, zone_id)
        self.assertEqual((held, conf), (live_held, live_conf))
        self.assertAlive()
        server.stop()
        code, out = souk_check(server.data_dir)
        self.assertEqual(code, 0, out)
        self.assertIn("check: ok", out)

    def test_expiry_on_a_full_disk(self):
        server = self.boot(hold_seconds=2)
        ev = make_event(self.org, zones=(("Floor", 0, 50),))
        show_id, zone_id = first_zone(ev)
        member = register_member(server)
        ids = [member.reserve(show_id, zone_id, 1).json()["data"]["id"] for _ in range(30)]
        self.disk_full(True)
        # Fill what room is left so the expiries cannot be written.
        for _ in range(200):
            if member.reserve(show_id, zone_id, 1).status == 503:
                break
        self.assertAlive()
        # Whatever expiry could not be written keeps its seats held (and is retried).
        wait_until(lambda: self.server.running() and available(server, show_id, zone_id) ==
                   50 - self.live_seats(zone_id), 5, what="engine and SQLite to agree")
        self.disk_full(False)
        wait_until(lambda: query(server.data_dir, "SELECT COUNT(*) FROM bookings WHERE "
                                 "zone_id = ? AND status = 'reserved'", (zone_id,))[0][0] == 0,
                   15, what="every hold expired once there was room")
        for b in ids:
            self.assertEqual(member.booking(b).json()["data"]["status"], "expired")
        self.assertEqual(available(server, show_id, zone_id), 50)
        self.assertEqual(db_zone(server.data_dir, zone_id), (50, 0, 0, 0, 0))
        self.assertAlive()
        server.stop()
        code, out = souk_check(server.data_dir)
        self.assertEqual(code, 0, out)



def wal_fsyncs(server):
    """{"writer": n, "sync": n}: WAL fsyncs so far, by the thread that made them."""
    text = server.get("/metrics").body.decode()
    return {m.group(1): float(m.group(2)) for m in re.finditer(
        r'souk_db_wal_fsync_duration_seconds_count\{thread="(\w+)"\} (\S+)', text)}


class SlowDiskTest(unittest.TestCase):

    def run_reservations(self, extra):
        server = booking_server(hold_seconds=600, extra=extra)
        self.addCleanup(server.cleanup)
        email = "%s@example.org" % unique("org")
        create_user_cli(server.data_dir, email)
        start(server)
        ev = make_event(login(server, email), zones=(("Floor", 0, CAPACITY),))
        show_id, zone_id = first_zone(ev)
        members = [register_member(server) for _ in range(4)]
        before = wal_fsyncs(server)
        results = fire_together([(lambda m=m: [m.reserve(show_id, zone_id, 1).status
                                               for _ in range(15)]) for m in members])
        after = wal_fsyncs(server)
        for r in results:
            self.assertEqual(r, [201] * 15, r)
        self.assertEqual(available(server, show_id, zone_id), CAPACITY - 60)
        self.assertEqual(query(server.data_dir,
                               "SELECT COUNT(*) FROM bookings WHERE zone_id = ?", (zone_id,)),
                         [(60,)])
        server.stop()
        code, out = souk_check(server.data_dir)
        self.assertEqual(code, 0, out)
        return {k: after[k] - before.get(k, 0) for k in after}

    def test_a_slow_disk_moves_the_fsyncs_to_the_sync_thread(self):
        # 3 ms more each: over database.sync_on_writer_below_us (1 ms)
        made = self.run_reservations({"testing.wal_fsync_delay_us": "3000"})
        self.assertGreaterEqual(made["sync"], 1, made)
        # At most the first after each quick spell comes back to the writer; here none is quick.
        self.assertLessEqual(made["writer"], 1, made)

    def test_a_quick_disk_leaves_them_on_the_writer(self):
        # Quick as far as the writer is concerned: any fsync under 1 s (this machine's disk
        # may have slow moments).
        made = self.run_reservations({"database.sync_on_writer_below_us": "1000000"})
        self.assertGreaterEqual(made["writer"], 1, made)
        self.assertEqual(made.get("sync", 0), 0, made)


if __name__ == "__main__":
    unittest.main()
