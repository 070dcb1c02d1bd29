"""Races over real HTTP: 100 clients for the last seat, 60 for 20 seats, duplicates of one
idempotent request in flight, and confirm/cancel/expiry of one booking racing each other.
Each class ends by stopping its server and running `souk check` on what it left."""

import random
import threading
import time
import unittest

from booking_support import (available, booking_server, create_user_cli, db_zone,
                             error_code, fire_together, first_zone, login, make_event, query,
                             register_members, souk_check, start, unique)
from harness import wait_until

MEMBERS = 100


def outcome(resp):
    if isinstance(resp, Exception):
        return ("exception", repr(resp))
    return (resp.status, error_code(resp))


class ReserveRaceTest(unittest.TestCase):
    """Sold-out races (holds long enough that nothing expires meanwhile)."""

    @classmethod
    def setUpClass(cls):
        cls.server = booking_server(hold_seconds=600)
        try:
            email = "%s@example.org" % unique("org")
            create_user_cli(cls.server.data_dir, email)
            start(cls.server)
            cls.org = login(cls.server, email)
            t0 = time.monotonic()
            cls.members = register_members(cls.server, MEMBERS)
            print("\nregistered %d members in %.1fs" % (MEMBERS, time.monotonic() - t0))
        except Exception:
            cls.server.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def race(self, show_id, zone_id, clients):
        sends = [m.prepared("POST", "/bookings/reserve",
                            {"show_id": show_id, "zone_id": zone_id, "quantity": 1},
                            {"Idempotency-Key": unique("race")}) for m in clients]
        return fire_together(sends)

    def test_1_hundred_clients_one_seat(self):
        ev = make_event(self.org, zones=(("Last", 0, 1),))
        show_id, zone_id = first_zone(ev)
        results = self.race(show_id, zone_id, self.members)
        outcomes = [outcome(r) for r in results]
        won = [r for r in results if not isinstance(r, Exception) and r.status == 201]
        self.assertEqual(len(won), 1, sorted(set(outcomes)))
        self.assertEqual(outcomes.count((409, "INSUFFICIENT_STOCK")), MEMBERS - 1,
                         sorted(set(outcomes)))
        self.assertEqual(available(self.server, show_id, zone_id), 0)
        winner = won[0].json()["data"]["id"]
        rows = query(self.server.data_dir, "SELECT id, status FROM bookings WHERE zone_id = ?",
                     (zone_id,))
        self.assertEqual(rows, [(winner, "reserved")])
        self.assertEqual(db_zone(self.server.data_dir, zone_id), (1, 1, 0, 1, 0))

    def test_2_sixty_clients_twenty_seats(self):
        n, clients = 20, 60
        ev = make_event(self.org, zones=(("Twenty", 0, n),))
        show_id, zone_id = first_zone(ev)
        results = self.race(show_id, zone_id, self.members[:clients])
        outcomes = [outcome(r) for r in results]
        won = [r.json()["data"]["id"] for r in results
               if not isinstance(r, Exception) and r.status == 201]
        self.assertEqual(len(won), n, sorted(set(outcomes)))
        self.assertEqual(len(set(won)), n)
        self.assertEqual(outcomes.count((409, "INSUFFICIENT_STOCK")), clients - n,
                         sorted(set(outcomes)))
        self.assertEqual(available(self.server, show_id, zone_id), 0)
        rows = query(self.server.data_dir, "SELECT id FROM bookings WHERE zone_id = ?", (zone_id,))
        self.assertEqual(sorted(r[0] for r in rows), sorted(won))
        self.assertEqual(db_zone(self.server.data_dir, zone_id), (n, n, 0, n, 0))

    def test_3_duplicates_in_flight_never_book_twice(self):
        ev = make_event(self.org, zones=(("Dup", 0, 50),))
        show_id, zone_id = first_zone(ev)
        for round_ in range(3):
            member = self.members[round_]
            key = unique("dup")
            body = {"show_id": show_id, "zone_id": zone_id, "quantity": 2}
            sends = [member.prepared("POST", "/bookings/reserve", body, {"Idempotency-Key": key})
                     for _ in range(10)]
            results = fire_together(sends)
            outcomes = [outcome(r) for r in results]
            created = [r for r in results if not isinstance(r, Exception) and r.status == 201]
            self.assertTrue(created, outcomes)
            for r in results:
                self.assertFalse(isinstance(r, Exception), outcomes)
                self.assertIn(outcome(r), [(201, None), (409, "CONFLICT")], outcomes)
            ids = {r.json()["data"]["id"] for r in created}
            self.assertEqual(len(ids), 1, ids)
            self.assertEqual(len({r.body for r in created}), 1)
            rows = query(self.server.data_dir,
                         "SELECT id FROM bookings WHERE zone_id = ? AND user_id = ?",
                         (zone_id, member.user_id))
            self.assertEqual([r[0] for r in rows], list(ids))
            # Once the first has finished, a retry is a replay of it.
            again = member.reserve(show_id, zone_id, 2, key=key)
            self.assertEqual(again.status, 201, again)
            self.assertEqual(again.body, created[0].body)
        self.assertEqual(available(self.server, show_id, zone_id), 50 - 3 * 2)
        self.assertEqual(db_zone(self.server.data_dir, zone_id), (50, 6, 0, 6, 0))

    def test_9_souk_check_after_stop(self):
        self.server.stop()
        code, out = souk_check(self.server.data_dir)
        self.assertEqual(code, 0, out)
        self.assertIn("check: ok", out)


class ConfirmCancelExpiryRaceTest(unittest.TestCase):
    """Confirm and cancel of one booking fired together, at random moments around its expiry:
    each booking ends in exactly one final state that agrees with the answers."""

    BOOKINGS = 30
    HOLD = 1

    @classmethod
    def setUpClass(cls):
        cls.server = booking_server(hold_seconds=cls.HOLD)
        try:
            email = "%s@example.org" % unique("org")
            create_user_cli(cls.server.data_dir, email)
            start(cls.server)
            cls.org = login(cls.server, email)
            cls.members = register_members(cls.server, 3)
        except Exception:
            cls.server.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def test_1_confirm_cancel_expiry(self):
        seed = random.randrange(1 << 30)
        print("\nconfirm/cancel/expiry race seed %d" % seed)
        rnd = random.Random(seed)
        capacity = 1000
        ev = make_event(self.org, zones=(("Race", 0, capacity),))
        show_id, zone_id = first_zone(ev)
        # Per booking, two requests fired together at a random moment around its expiry (HOLD s
        # after the reserve): confirm+cancel mostly, sometimes confirm+confirm or cancel+cancel.
        kinds = [("confirm", "cancel")] * 2 + [("confirm", "confirm"), ("cancel", "cancel")]
        plan = []  # (member, booking, delay, ops)
        for i in range(self.BOOKINGS):
            m = self.members[i % len(self.members)]
            r = m.reserve(show_id, zone_id, 1 + i % 3)
            self.assertEqual(r.status, 201, r)
            ops = list(rnd.choice(kinds))
            rnd.shuffle(ops)
            plan.append((m, r.json()["data"], rnd.uniform(0, self.HOLD * 1.4), ops))
        t0 = time.monotonic()
        results = {}

        def run(m, b, delay, ops):
            sends = [m.prepared("POST", "/bookings/%s/%s" % (b["id"], op)) for op in ops]
            left = t0 + delay - time.monotonic()
            if left > 0:
                time.sleep(left)
            results[b["id"]] = list(zip(ops, (outcome(r) for r in fire_together(sends))))

        threads = [threading.Thread(target=run, args=p, daemon=True) for p in plan]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(len(results), self.BOOKINGS)

        # Whatever is still held expires within the hold (plus the shard timer's slack).
        def settled():
            rows = query(self.server.data_dir,
                         "SELECT COUNT(*) FROM bookings WHERE zone_id = ? AND status = 'reserved'",
                         (zone_id,))
            return rows[0][0] == 0
        wait_until(settled, 15, what="every hold settled")

        confirmed_seats = 0
        combos = {}
        for m, b, delay, ops in plan:
            got = results[b["id"]]
            final = query(self.server.data_dir, "SELECT status FROM bookings WHERE id = ?",
                          (b["id"],))[0][0]
            api = m.booking(b["id"]).json()["data"]["status"]
            what = "booking %s at %.2fs: %s -> final %s" % (b["id"], delay, got, final)
            self.assertEqual(api, final, what)
            self.assertIn(final, ("confirmed", "cancelled", "expired"), what)
            confirms = [o for op, o in got if op == "confirm"]
            cancels = [o for op, o in got if op == "cancel"]
            for o in confirms:
                self.assertIn(o, [(200, None), (409, "INVALID_STATE"), (410, "RESERVATION_EXPIRED")], what)
            for o in cancels:
                self.assertIn(o, [(200, None), (409, "INVALID_STATE")], what)
            cancelled_ok = sum(1 for o in cancels if o[0] == 200)
            self.assertLessEqual(cancelled_ok, 1, what)  # one cancel takes effect, not two
            if cancelled_ok:
                # Cancel won (possibly after a confirm that came first).
                self.assertEqual(final, "cancelled", what)
            elif any(o[0] == 200 for o in confirms):
                self.assertEqual(final, "confirmed", what)
                confirmed_seats += b["quantity"]
            else:
                # Neither: the hold expired first, and a confirm of an expired hold is 410.
                self.assertEqual(final, "expired", what)
                for o in confirms:
                    self.assertEqual(o, (410, "RESERVATION_EXPIRED"), what)
            combo = (tuple(sorted((op, o[0]) for op, o in got)), final)
            combos[combo] = combos.get(combo, 0) + 1
        print("outcomes -> final state: count\n  %s" % "\n  ".join("%s -> %s: %d" % (k[0], k[1], n) for k, n in sorted(combos.items())))
        self.assertEqual(available(self.server, show_id, zone_id), capacity - confirmed_seats)
        cap, held, confirmed, live_held, live_conf = db_zone(self.server.data_dir, zone_id)
        self.assertEqual((held, confirmed), (0, confirmed_seats))
        self.assertEqual((live_held, live_conf), (0, confirmed_seats))

    def test_9_souk_check_after_stop(self):
        self.server.stop()
        code, out = souk_check(self.server.data_dir)
        self.assertEqual(code, 0, out)
        self.assertIn("check: ok", out)


if __name__ == "__main__":
    unittest.main()
