"""Holds that run out: a client that vanishes after reserving, and holds across restarts
(kept while live, expired at once on start when their time passed while the server was down)."""

import json
import time
import unittest

from booking_support import (available, booking_server, create_user_cli, db_booking_status,
                             db_zone, error_code, first_zone, login, make_event, register_member,
                             souk_check, start, unique)
from harness import wait_until


class ExpiryTest(unittest.TestCase):

    def setUp(self):
        self.server = None

    def tearDown(self):
        if self.server is not None:
            self.server.cleanup()

    def boot(self, hold_seconds):
        self.server = booking_server(hold_seconds=hold_seconds)
        self.org_email = "%s@example.org" % unique("org")
        create_user_cli(self.server.data_dir, self.org_email)
        start(self.server)
        return self.server

    def restart(self, hold_seconds):
        """SIGTERM (a clean stop, exit 0), then a new process on the same data directory
        (same Server object: the callers' Api objects follow it to its new port)."""
        self.server.stop()
        self.server.sets["booking.hold_seconds"] = str(hold_seconds)
        start(self.server)
        return self.server

    def test_vanished_client(self):
        server = self.boot(hold_seconds=2)
        org = login(server, self.org_email)
        ev = make_event(org, zones=(("Floor", 0, 10),))
        show_id, zone_id = first_zone(ev)
        member = register_member(server)
        key = unique("vanish")
        first = member.reserve(show_id, zone_id, 3, key=key)
        self.assertEqual(first.status, 201, first)
        b = first.json()["data"]
        self.assertEqual(available(server, show_id, zone_id), 7)
        # ... and the client goes away. Within the hold nothing moves.
        self.assertEqual(member.booking(b["id"]).json()["data"]["status"], "reserved")
        wait_until(lambda: member.booking(b["id"]).json()["data"]["status"] == "expired",
                   10, what="the hold to expire")
        self.assertEqual(available(server, show_id, zone_id), 10)
        self.assertEqual(db_booking_status(server.data_dir, b["id"]), "expired")
        self.assertEqual(db_zone(server.data_dir, zone_id), (10, 0, 0, 0, 0))
        self.assertEqual(member.get("/bookings/pending").json()["meta"]["total"], 0)
        r = member.post("/bookings/%s/confirm" % b["id"])
        self.assertEqual((r.status, error_code(r)), (410, "RESERVATION_EXPIRED"), r)
        r = member.post("/bookings/%s/cancel" % b["id"])
        self.assertEqual((r.status, error_code(r)), (409, "INVALID_STATE"), r)
        # The client comes back and retries: the same booking (the first answer, byte for
        # byte), not a new hold.
        again = member.reserve(show_id, zone_id, 3, key=key)
        self.assertEqual(again.status, 201, again)
        self.assertEqual(again.body, first.body)
        self.assertEqual(again.header("Idempotent-Replayed"), "true")
        self.assertEqual(available(server, show_id, zone_id), 10)
        # Another body under that key is refused.
        r = member.reserve(show_id, zone_id, 1, key=key)
        self.assertEqual((r.status, error_code(r)), (422, "IDEMPOTENCY_KEY_REUSED"), r)
        self.assertEqual(available(server, show_id, zone_id), 10)
        # The seats really are back: someone else can take all of them.
        other = register_member(server)
        self.assertEqual(other.reserve(show_id, zone_id, 10).status, 201)
        server.stop()
        code, out = souk_check(server.data_dir)
        self.assertEqual(code, 0, out)

    def test_live_hold_survives_restart(self):
        server = self.boot(hold_seconds=600)
        org = login(server, self.org_email)
        ev = make_event(org, zones=(("Floor", 0, 10),))
        show_id, zone_id = first_zone(ev)
        member = register_member(server)
        r = member.reserve(show_id, zone_id, 4)
        self.assertEqual(r.status, 201, r)
        b = r.json()["data"]
        confirmed = member.reserve(show_id, zone_id, 1).json()["data"]
        self.assertEqual(member.post("/bookings/%s/confirm" % confirmed["id"]).status, 200)
        self.assertEqual(available(server, show_id, zone_id), 5)

        server = self.restart(hold_seconds=600)
        got = member.booking(b["id"])  # the access token outlives the process
        self.assertEqual(got.status, 200, got)
        self.assertEqual(got.json()["data"]["status"], "reserved")
        self.assertEqual(got.json()["data"]["expires_at"], b["expires_at"])
        self.assertEqual(member.booking(confirmed["id"]).json()["data"]["status"], "confirmed")
        self.assertEqual(available(server, show_id, zone_id), 5)
        # The rebuilt engine enforces what it restored: only 5 left.
        self.assertEqual(error_code(member.reserve(show_id, zone_id, 6)), "INSUFFICIENT_STOCK")
        # ... and the restored hold is still a hold that can be confirmed.
        self.assertEqual(member.post("/bookings/%s/confirm" % b["id"]).status, 200)
        self.assertEqual(available(server, show_id, zone_id), 5)
        self.assertEqual(db_zone(server.data_dir, zone_id), (10, 0, 5, 0, 5))
        server.stop()
        code, out = souk_check(server.data_dir)
        self.assertEqual(code, 0, out)

    def test_hold_that_ran_out_while_down_expires_on_start(self):
        server = self.boot(hold_seconds=2)
        org = login(server, self.org_email)
        ev = make_event(org, zones=(("Floor", 0, 10),))
        show_id, zone_id = first_zone(ev)
        member = register_member(server)
        r = member.reserve(show_id, zone_id, 2)
        self.assertEqual(r.status, 201, r)
        b = r.json()["data"]
        server.stop()
        self.assertEqual(db_booking_status(server.data_dir, b["id"]), "reserved")
        time.sleep(3)  # past the hold, with no server to expire it

        server = self.restart(hold_seconds=600)
        self.assertEqual(member.booking(b["id"]).json()["data"]["status"], "expired")
        self.assertEqual(available(server, show_id, zone_id), 10)
        self.assertEqual(db_zone(server.data_dir, zone_id), (10, 0, 0, 0, 0))
        r = member.post("/bookings/%s/confirm" % b["id"])
        self.assertEqual((r.status, error_code(r)), (410, "RESERVATION_EXPIRED"), r)
        server.stop()
        # It was expired while the engine was rebuilt, before /ready: at once, not by a timer
        # later. (The log line is read after the stop: stdout is block-buffered.)
        rebuilt = [json.loads(l) for l in server.stdout_lines if '"inventory rebuilt"' in l]
        self.assertEqual(len(rebuilt), 1, server.stdout_lines[-20:])
        self.assertEqual(rebuilt[0].get("expired_on_start"), 1, rebuilt)
        self.assertEqual(rebuilt[0].get("live_bookings"), 1, rebuilt)
        code, out = souk_check(server.data_dir)
        self.assertEqual(code, 0, out)


if __name__ == "__main__":
    unittest.main()
