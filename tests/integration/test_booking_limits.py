"""Reserve under pressure, over HTTP: the per-user rate limit (429 RATE_LIMITED with its
headers), refusals that cost the writer nothing (a 429, a sold-out 409: the writer's job count
on GET /metrics does not move), and the events a reservation's life publishes to the outbox
(booking.created, booking.cancelled, booking.expired), read from the live SQLite file."""

import json
import re
import time
import unittest

from booking_support import (available, booking_server, db_booking_status,
                             error_code, event_with_members, fire_together, metric, query,
                             unique)
from harness import ServerTestCase, wait_until

# Slow enough that no token comes back while a test runs (one per 20 s), small enough to hit.
RESERVE_PER_SECOND = 0.05
RESERVE_BURST = 3
SLOW_RESERVE = {"rate_limits.reserve.per_second": str(RESERVE_PER_SECOND),
                "rate_limits.reserve.burst": str(RESERVE_BURST),
                # The owner index's background write comes within a second of a reservation.
                "booking.owner_index_seconds": "1"}


def writer_jobs(server):
    """Write jobs the writer has committed since the start (the sum of its batches' sizes)."""
    return metric(server, "souk_db_commit_batch_jobs_sum")


def settle(server, quiet=2.5, timeout=30.0):
    """Waits until the writer has committed nothing for `quiet` seconds (longer than the owner
    index's period, so its pass is in); returns the job count then."""
    last, since = writer_jobs(server), time.monotonic()
    deadline = since + timeout
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = writer_jobs(server)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return now
    raise AssertionError("the writer never went quiet for %.1fs" % quiet)


def outbox(server, event_type, booking_id=None):
    """Payloads of the outbox's events of a type (about one booking, when given)."""
    rows = query(server.data_dir, "SELECT payload FROM outbox WHERE type = ? ORDER BY seq",
                 (event_type,))
    out = [json.loads(p) for (p,) in rows]
    return [e for e in out if booking_id is None or e.get("booking_id") == booking_id]


class ReserveRateLimitTest(ServerTestCase):
    """rate_limits.reserve set small and slow: each user's bucket holds RESERVE_BURST."""

    @classmethod
    def new_server(cls):
        return booking_server(hold_seconds=300, extra=SLOW_RESERVE)

    @classmethod
    def prepare(cls):
        cls.show_id, cls.zone_id, cls.users = event_with_members(
            cls.server, ("Floor", 0, 1000), 5)

    def rate_headers(self, r):
        return {k: r.header(k) for k in ("X-RateLimit-Limit", "X-RateLimit-Remaining",
                                          "X-RateLimit-Reset", "Retry-After")}

    def test_burst_is_limited_per_user(self):
        """One user's burst: RESERVE_BURST reserves pass (X-RateLimit-Limit/-Remaining/-Reset
        counting down), then 429 RATE_LIMITED with Retry-After and Remaining 0, and no
        booking made. A second user at the same moment has a full bucket of their own; the
        first is still limited after it."""
        alice, bob = self.users[:2]
        period = 1 / RESERVE_PER_SECOND
        for i in range(RESERVE_BURST):
            r = alice.reserve(self.show_id, self.zone_id)
            self.assertEqual(r.status, 201, r)
            h = self.rate_headers(r)
            self.assertEqual(h["X-RateLimit-Limit"], str(RESERVE_BURST), h)
            self.assertEqual(h["X-RateLimit-Remaining"], str(RESERVE_BURST - 1 - i), h)
            # Reset: whole seconds until the bucket is full again.
            self.assertTrue(0 < int(h["X-RateLimit-Reset"]) <= (i + 1) * period + 1, h)
            self.assertIsNone(h["Retry-After"], h)
        for _ in range(5):
            r = alice.reserve(self.show_id, self.zone_id)
            self.assertEqual(r.status, 429, r)
            self.assertEqual(error_code(r), "RATE_LIMITED", r)
            self.assertIn("request_id", r.json())
            h = self.rate_headers(r)
            self.assertEqual(h["X-RateLimit-Limit"], str(RESERVE_BURST), h)
            self.assertEqual(h["X-RateLimit-Remaining"], "0", h)
            retry, reset = int(h["Retry-After"]), int(h["X-RateLimit-Reset"])
            self.assertTrue(1 <= retry <= period + 1, h)
            self.assertTrue(retry <= reset <= RESERVE_BURST * period + 1, h)
        r = bob.reserve(self.show_id, self.zone_id)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.header("X-RateLimit-Remaining"), str(RESERVE_BURST - 1))
        self.assertEqual(alice.reserve(self.show_id, self.zone_id).status, 429)
        rows = query(self.server.data_dir, "SELECT user_id, COUNT(*) FROM bookings WHERE "
                     "user_id IN (?, ?) GROUP BY user_id ORDER BY user_id = ?",
                     (alice.user_id, bob.user_id, alice.user_id))
        self.assertEqual(rows, [(bob.user_id, 1), (alice.user_id, RESERVE_BURST)])
        # The limit is the reserve route's: the limited user can still read.
        self.assertEqual(alice.get("/bookings").status, 200)

    def test_simultaneous_burst_admits_exactly_the_bucket(self):
        """Eight reserves by one user released together: exactly RESERVE_BURST are served,
        the rest are 429 RATE_LIMITED (the bucket is not overdrawn by a race)."""
        erin = self.users[4]
        burst = [erin.prepared("POST", "/bookings/reserve",
                               {"show_id": self.show_id, "zone_id": self.zone_id,
                                "quantity": 1}, headers={"Idempotency-Key": unique("k")})
                 for _ in range(8)]
        results = fire_together(burst)
        for r in results:
            self.assertNotIsInstance(r, Exception)
        self.assertEqual(sorted(r.status for r in results),
                         [201] * RESERVE_BURST + [429] * (8 - RESERVE_BURST), results)
        self.assertEqual({error_code(r) for r in results if r.status == 429}, {"RATE_LIMITED"})
        rows = query(self.server.data_dir, "SELECT COUNT(*) FROM bookings WHERE user_id = ?",
                     (erin.user_id,))
        self.assertEqual(rows, [(RESERVE_BURST,)])

    def test_rate_limited_requests_cost_no_sqlite_work(self):
        """Once a user's bucket is empty and the writer quiet, a burst of 429s (same and fresh
        Idempotency-Keys) commits no write job at all; another user's reserve right after does
        (the count is live)."""
        carol, dave = self.users[2:4]
        for _ in range(RESERVE_BURST):
            self.assertEqual(carol.reserve(self.show_id, self.zone_id).status, 201)
        before = settle(self.server)
        key = unique("k")
        statuses = [carol.reserve(self.show_id, self.zone_id, key=key if i % 2 else None).status
                    for i in range(20)]
        self.assertEqual(statuses, [429] * 20)
        time.sleep(1.5)  # longer than the owner index's period: its pass would show
        self.assertEqual(writer_jobs(self.server), before)
        self.assertEqual(metric(self.server, "souk_writer_queue_depth"), 0)
        r = dave.reserve(self.show_id, self.zone_id)
        self.assertEqual(r.status, 201, r)
        self.assertGreater(writer_jobs(self.server), before)


class RetryAfterTest(ServerTestCase):
    """A bucket that refills in about a second: Retry-After is a promise that holds."""

    @classmethod
    def new_server(cls):
        return booking_server(hold_seconds=300, extra={"rate_limits.reserve.per_second": "1",
                                                       "rate_limits.reserve.burst": "2"})

    @classmethod
    def prepare(cls):
        cls.show_id, cls.zone_id, (cls.erin,) = event_with_members(
            cls.server, ("Floor", 0, 100), 1)

    def test_retry_after_is_honoured(self):
        """After the burst, 429 says Retry-After: 1; waiting that long lets the next reserve
        through (201)."""
        for _ in range(2):
            self.assertEqual(self.erin.reserve(self.show_id, self.zone_id).status, 201)
        r = self.erin.reserve(self.show_id, self.zone_id)
        self.assertEqual(r.status, 429, r)
        self.assertEqual(r.header("Retry-After"), "1")
        time.sleep(int(r.header("Retry-After")))
        r = self.erin.reserve(self.show_id, self.zone_id)
        self.assertEqual(r.status, 201, r)


class SoldOutRefusalTest(ServerTestCase):
    """A sold-out zone's refusals are answered from memory: no write job, no event."""

    @classmethod
    def new_server(cls):
        return booking_server(hold_seconds=300, extra={"booking.owner_index_seconds": "1"})

    @classmethod
    def prepare(cls):
        cls.show_id, cls.zone_id, cls.users = event_with_members(
            cls.server, ("Tiny", 0, 2), 4)

    def test_sold_out_refusals_cost_no_sqlite_work(self):
        """With the zone sold out (one seat confirmed, one held) and the writer quiet, a burst
        of reserves from several users (fresh keys, a retried key, quantities 1 and 5) is all
        409 INSUFFICIENT_STOCK, and the writer commits nothing: no booking row, no
        booking.created, no idempotency record."""
        first, second = self.users[:2]
        r = first.reserve(self.show_id, self.zone_id)
        self.assertEqual(r.status, 201, r)
        bid = r.json()["data"]["id"]
        self.assertEqual(first.post("/bookings/%s/confirm" % bid).status, 200)
        self.assertEqual(second.reserve(self.show_id, self.zone_id).status, 201)
        self.assertEqual(available(self.server, self.show_id, self.zone_id), 0)
        before = settle(self.server)
        bookings = query(self.server.data_dir, "SELECT COUNT(*) FROM bookings")
        created = len(outbox(self.server, "booking.created"))
        keys = query(self.server.data_dir, "SELECT COUNT(*) FROM idempotency_keys")
        key = unique("k")
        refused = []
        for i in range(24):
            who = self.users[i % len(self.users)]
            refused.append(who.reserve(self.show_id, self.zone_id, 1 + 4 * (i % 2),
                                       key=key if i % 3 == 0 else None))
        self.assertEqual({(r.status, error_code(r)) for r in refused},
                         {(409, "INSUFFICIENT_STOCK")}, refused)
        time.sleep(1.5)
        self.assertEqual(writer_jobs(self.server), before)
        self.assertEqual(query(self.server.data_dir, "SELECT COUNT(*) FROM bookings"), bookings)
        self.assertEqual(len(outbox(self.server, "booking.created")), created)
        self.assertEqual(query(self.server.data_dir, "SELECT COUNT(*) FROM idempotency_keys"),
                         keys)


class BookingEventsTest(ServerTestCase):
    """booking.* events in the outbox table, read beside the running server (WAL)."""

    @classmethod
    def new_server(cls):
        return booking_server(hold_seconds=2)

    @classmethod
    def prepare(cls):
        cls.show_id, cls.zone_id, (cls.frank, cls.grace) = event_with_members(
            cls.server, ("Floor", 0, 100), 2)

    def reserve(self, who, quantity=1, key=None):
        r = who.reserve(self.show_id, self.zone_id, quantity, key=key)
        self.assertEqual(r.status, 201, r)
        return r.json()["data"]

    def assertNamesBooking(self, event, booking, who):
        for k in ("booking_id", "user_id", "event_id", "show_id", "zone_id", "quantity"):
            self.assertIn(k, event)
        self.assertEqual(event["booking_id"], booking["id"])
        self.assertEqual(event["user_id"], who.user_id)
        self.assertEqual(event["zone_id"], self.zone_id)
        self.assertEqual(event["show_id"], self.show_id)
        self.assertEqual(event["event_id"], booking["event_id"])
        self.assertEqual(event["quantity"], booking["quantity"])

    def test_reserve_publishes_booking_created_once_and_cancel_booking_cancelled(self):
        """A reserve's commit carries booking.created naming the booking (user, show, zone,
        quantity, amount); its idempotent replay publishes nothing more. Cancelling it adds
        booking.cancelled (was: reserved, paid: false)."""
        key = unique("k")
        b = self.reserve(self.frank, 2, key=key)
        (created,) = outbox(self.server, "booking.created", b["id"])
        self.assertNamesBooking(created, b, self.frank)
        self.assertEqual(created["amount"], {"amount": 0, "currency": "USD"})
        replay = self.frank.reserve(self.show_id, self.zone_id, 2, key=key)
        self.assertEqual(replay.status, 201, replay)
        self.assertEqual(replay.header("Idempotent-Replayed"), "true")
        self.assertEqual(replay.json()["data"]["id"], b["id"])
        self.assertEqual(len(outbox(self.server, "booking.created", b["id"])), 1)
        self.assertEqual(outbox(self.server, "booking.cancelled", b["id"]), [])
        r = self.frank.post("/bookings/%s/cancel" % b["id"])
        self.assertEqual(r.status, 200, r)
        (cancelled,) = outbox(self.server, "booking.cancelled", b["id"])
        self.assertNamesBooking(cancelled, b, self.frank)
        self.assertEqual(cancelled["was"], "reserved")
        self.assertIs(cancelled["paid"], False)
        self.assertEqual(outbox(self.server, "booking.expired", b["id"]), [])

    def test_expiry_publishes_booking_expired(self):
        """A hold left alone past hold_seconds expires: the row says expired and the outbox
        has booking.expired naming the booking (user, show, zone, quantity, amount), after its
        booking.created; no booking.cancelled."""
        b = self.reserve(self.grace, 3)
        self.assertEqual(len(outbox(self.server, "booking.created", b["id"])), 1)
        wait_until(lambda: outbox(self.server, "booking.expired", b["id"]), 20,
                   what="booking.expired")
        (expired,) = outbox(self.server, "booking.expired", b["id"])
        self.assertEqual(expired["booking_id"], b["id"])
        self.assertEqual(expired["user_id"], self.grace.user_id)
        self.assertEqual(expired["zone_id"], self.zone_id)
        self.assertEqual(expired["event_id"], b["event_id"])
        self.assertEqual(expired["quantity"], 3)
        self.assertEqual(expired["show_id"], b["show_id"])  # as booking.created names them
        self.assertEqual(expired["amount"], b["amount"])
        self.assertEqual(db_booking_status(self.server.data_dir, b["id"]), "expired")
        seqs = query(self.server.data_dir, "SELECT type FROM outbox WHERE type LIKE 'booking.%' "
                     "AND payload LIKE ? ORDER BY seq", ("%" + b["id"] + "%",))
        self.assertEqual(seqs, [("booking.created",), ("booking.expired",)])
        self.assertEqual(self.grace.booking(b["id"]).json()["data"]["status"], "expired")


if __name__ == "__main__":
    unittest.main()
