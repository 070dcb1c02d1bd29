"""SIGKILL in the middle of a reservation load, at a random moment, three times over: after
each restart every acknowledged (201) reservation is in SQLite and still held, the engine's
`available` equals capacity minus the live bookings SQLite has, and `souk check` passes."""

import http.client
import os
import random
import sqlite3
import threading
import time
import unittest

from booking_support import (available, booking_server, db_path, db_zone, event_with_members,
                             error_code, login, metric, query, souk_check, start, unique)
from harness import wait_until

LIVE_CLEAN = "live state (memory against the database): 0 problem(s)"
DAY = 86_400
ROUNDS = 3
THREADS = 4
CAPACITY = 1_000_000


class CrashDuringReservationsTest(unittest.TestCase):

    def setUp(self):
        self.server = booking_server(hold_seconds=600)
        self.addCleanup(self.server.cleanup)

    def load(self, members, show_id, zone_id, rnd):
        """Reserves continuously from THREADS threads until the server dies; returns
        ({booking id: quantity} acknowledged, other outcomes)."""
        acked, others, lock = {}, [], threading.Lock()
        stop = threading.Event()
        seeds = [rnd.randrange(1 << 30) for _ in range(THREADS)]

        def worker(member, seed):
            r_ = random.Random(seed)
            while not stop.is_set():
                qty = r_.randint(1, 3)
                try:
                    r = member.reserve(show_id, zone_id, qty, key=unique("crash"))
                except (OSError, http.client.HTTPException):
                    return  # the server is gone (refused, reset, or cut mid-answer)
                with lock:
                    if r.status == 201:
                        b = r.json()["data"]
                        if b["quantity"] != qty or b["id"] in acked:
                            others.append((r.status, r.body[:200]))
                        acked[b["id"]] = qty
                    else:
                        others.append((r.status, r.body[:200]))

        threads = [threading.Thread(target=worker, args=(m, s), daemon=True)
                   for m, s in zip(members, seeds)]
        for t in threads:
            t.start()
        return threads, stop, acked, others

    def test_sigkill_during_reservations(self):
        seed = int(os.environ.get("BOOKING_CRASH_SEED", random.randrange(1 << 30)))
        print("\nbooking crash seed %d (BOOKING_CRASH_SEED=%d reruns it)" % (seed, seed))
        rnd = random.Random(seed)
        show_id, zone_id, members = event_with_members(self.server, ("Huge", 0, CAPACITY),
                                                       members=THREADS)
        all_acked = {}
        for round_ in range(ROUNDS):
            threads, stop, acked, others = self.load(members, show_id, zone_id, rnd)
            # Let some reservations through, then kill at a random moment of the load.
            wait_until(lambda: len(acked) >= 5, 30, what="the first acknowledged reservations")
            if round_ == 0:
                # Under load, the running server's memory agrees with its database.
                code, out = souk_check(self.server.data_dir)
                self.assertEqual(code, 0, out)
                self.assertIn(LIVE_CLEAN, out)
            time.sleep(rnd.uniform(0.05, 1.5))
            self.server.kill()
            stop.set()
            for t in threads:
                t.join(30)
            self.assertFalse(any(t.is_alive() for t in threads))
            for status, body in others:
                self.fail("round %d: reserve answered %s %r while the server was up" % (
                    round_, status, body))
            print("round %d: %d acknowledged before SIGKILL" % (round_, len(acked)))
            all_acked.update(acked)

            # What SIGKILL left on disk is already consistent (no repair needed).
            code, out = souk_check(self.server.data_dir)
            self.assertEqual(code, 0, "round %d, after SIGKILL:\n%s" % (round_, out))

            start(self.server)
            rows = dict(query(self.server.data_dir,
                              "SELECT id, status FROM bookings WHERE zone_id = ?", (zone_id,)))
            lost = [b for b in all_acked if b not in rows]
            self.assertEqual(lost, [], "round %d: acknowledged reservations lost" % round_)
            not_held = {b: rows[b] for b in all_acked if rows[b] != "reserved"}
            self.assertEqual(not_held, {}, "round %d" % round_)
            code, out = souk_check(self.server.data_dir)  # the rebuilt memory, too
            self.assertEqual(code, 0, "round %d, restarted:\n%s" % (round_, out))
            self.assertIn(LIVE_CLEAN, out)
            qty = dict(query(self.server.data_dir,
                             "SELECT id, quantity FROM bookings WHERE zone_id = ?", (zone_id,)))
            self.assertEqual({b: qty[b] for b in all_acked}, all_acked)
            # Rows beyond the acknowledged ones were committed but their answer never left.
            live = query(self.server.data_dir,
                         "SELECT COALESCE(SUM(quantity), 0) FROM bookings WHERE zone_id = ? AND "
                         "status IN ('reserved', 'confirmed')", (zone_id,))[0][0]
            self.assertGreaterEqual(live, sum(all_acked.values()))
            self.assertEqual(available(self.server, show_id, zone_id), CAPACITY - live,
                             "round %d" % round_)
            cap, held, confirmed, live_held, live_conf = db_zone(self.server.data_dir, zone_id)
            self.assertEqual((held, confirmed), (live_held, live_conf))
            # A sample through the API, as their owners see them.
            owner = {m.user_id: m for m in members}
            for b in list(all_acked)[:: max(1, len(all_acked) // 5)]:
                (uid,) = query(self.server.data_dir, "SELECT user_id FROM bookings WHERE id = ?",
                               (b,))[0]
                r = owner[uid].booking(b)
                self.assertEqual((r.status, r.json()["data"]["status"]), (200, "reserved"))

        self.server.stop()
        code, out = souk_check(self.server.data_dir)
        self.assertEqual(code, 0, out)
        self.assertIn("check: ok", out)


class LiveCheckTest(unittest.TestCase):
    """`souk check` compares a running server's memory with its database through the control
    socket; a database changed behind the server's back is caught though it is consistent in
    itself."""

    def test_memory_and_database_disagree(self):
        server = booking_server(hold_seconds=600, extra={"server.self_check_seconds": "1"})
        self.addCleanup(server.cleanup)
        show_id, zone_id, (dan,) = event_with_members(server, ("Floor", 0, 100))
        self.assertEqual(dan.reserve(show_id, zone_id, 3).status, 201)
        code, out = souk_check(server.data_dir)
        self.assertEqual(code, 0, out)
        self.assertIn(LIVE_CLEAN, out)
        time.sleep(1.5)  # a self-check round or so, on agreeing state
        self.assertEqual(metric(server, "souk_live_state_problems"), 0)
        with sqlite3.connect(db_path(server.data_dir), timeout=10) as c:
            c.execute("UPDATE zones SET capacity = capacity + 5 WHERE id = ?", (zone_id,))
        code, out = souk_check(server.data_dir)
        self.assertEqual(code, 1, out)
        self.assertIn("booking seats: 0 problem(s)", out)  # SQLite agrees with itself
        self.assertIn("live: booking: zone %s: memory has capacity 100 held 3 confirmed 0, "
                      "SQLite 105 3 0" % zone_id, out)
        self.assertIn("check: FAILED", out)
        # The server's own self-check finds it too: counted on /metrics, logged.
        wait_until(lambda: metric(server, "souk_live_state_problems") == 1, 20,
                   what="the self-check to count the difference")
        self.assertTrue(any("memory and database disagree" in line and zone_id in line
                            for line in server.stdout_lines))
        # A running server that cannot be asked fails the check: it could not be made.
        os.rename(os.path.join(server.data_dir, "souk.ctl"),
                  os.path.join(server.data_dir, "moved.ctl"))
        code, out = souk_check(server.data_dir)
        self.assertEqual(code, 1, out)
        self.assertIn("live state: cannot ask the running server", out)
        os.rename(os.path.join(server.data_dir, "moved.ctl"),
                  os.path.join(server.data_dir, "souk.ctl"))
        server.stop()
        code, out = souk_check(server.data_dir)
        self.assertEqual(code, 0, out)
        self.assertIn("live state: no server running", out)
        self.assertNotIn(os.path.join(server.data_dir, "souk.ctl"),
                         [os.path.join(server.data_dir, f) for f in os.listdir(server.data_dir)])


class KeysLiveADayTest(unittest.TestCase):
    """An Idempotency-Key is honoured for 24 hours (API.md): a server started later
    (testing.clock_offset_seconds) a few minutes before replays a reservation's 201, and holds a
    key whose answer the middleware stored (a 422) to its body; a few minutes after, both keys
    are new again."""

    def test_a_key_is_honoured_for_24_hours(self):
        server = booking_server(hold_seconds=600)
        self.addCleanup(server.cleanup)
        show_id, zone_id, (erin,) = event_with_members(server, ("Floor", 0, 100))
        email = erin.user["email"]
        key, invalid_key = unique("day"), unique("day")
        first = erin.reserve(show_id, zone_id, 1, key=key)
        self.assertEqual(first.status, 201, first)
        invalid = erin.reserve(show_id, zone_id, 0, key=invalid_key)
        self.assertEqual(invalid.status, 422, invalid)

        def later(seconds):
            server.stop()
            server.sets["testing.clock_offset_seconds"] = str(seconds)
            start(server)
            return login(server, email)  # the access token has long expired

        erin = later(DAY - 300)
        again = erin.reserve(show_id, zone_id, 1, key=key)
        self.assertEqual((again.status, again.body), (201, first.body))
        self.assertEqual(again.header("Idempotent-Replayed"), "true")
        reused = erin.reserve(show_id, zone_id, 2, key=invalid_key)  # the 422 is its answer
        self.assertEqual((reused.status, error_code(reused)), (422, "IDEMPOTENCY_KEY_REUSED"))

        erin = later(DAY + 300)
        fresh = erin.reserve(show_id, zone_id, 1, key=key)
        self.assertEqual(fresh.status, 201, fresh)
        self.assertIsNone(fresh.header("Idempotent-Replayed"))
        self.assertNotEqual(fresh.json()["data"]["id"], first.json()["data"]["id"])
        other = erin.reserve(show_id, zone_id, 2, key=invalid_key)  # free again
        self.assertEqual(other.status, 201, other)
        server.stop()
        code, out = souk_check(server.data_dir)
        self.assertEqual(code, 0, out)


class ReplayAfterRestartTest(unittest.TestCase):
    """Sold-out refusals are answered from memory unless the key may have a stored answer; the
    set of such keys is rebuilt at start-up, so a retry after a restart still gets its 201."""

    def test_retry_after_restart_replays_the_booking_that_took_the_last_seat(self):
        server = booking_server(hold_seconds=600)
        self.addCleanup(server.cleanup)
        show_id, zone_id, (carol,) = event_with_members(server, ("Last", 0, 1))
        key = unique("idem")
        first = carol.reserve(show_id, zone_id, 1, key=key)
        self.assertEqual(first.status, 201, first)
        server.kill()
        start(server)
        again = carol.reserve(show_id, zone_id, 1, key=key)
        self.assertEqual((again.status, again.body), (201, first.body))
        self.assertEqual(again.header("Idempotent-Replayed"), "true")
        fresh = carol.reserve(show_id, zone_id, 1, key=unique("idem"))
        self.assertEqual(fresh.status, 409, fresh)
        self.assertIn(b"INSUFFICIENT_STOCK", fresh.body)
        self.assertTrue(any("idempotency_keys" in line and '"idempotency_keys":1' in line
                            for line in server.stdout_lines), "the start-up log counts the key")
        server.stop()


if __name__ == "__main__":
    unittest.main()
