"""The virtual waiting room of a show (API.md: PUT /shows/{id}/queue, POST /queue/join,
GET /queue/status, X-Queue-Pass on reserve): who may turn it on, places and estimates, the
pass that reserve demands (own, genuine, unexpired), the releaser's order and rate, passes
that run out, and a queue that outlives SIGTERM and SIGKILL.

How the releaser works (modules/booking, release_loop): every 250 ms a show's quota grows by
admit_per_minute / 240 and whole units admit the head of the line. A show turned on at one
per minute therefore admits nobody for a minute; the tests use that to hold a line still."""

import datetime
import time
import unittest

from booking_support import (Api, booking_server, create_user_cli, fire_together, first_zone,
                             login, make_event, register_members, start, unique)
from harness import ServerTestCase, wait_until

# The queue routes are rate-limited per user (2/s, burst 10 by default); the tests poll.
QUEUE_LIMITS = {"rate_limits.queue.per_second": "10000", "rate_limits.queue.burst": "100000"}

# At one admission a minute the first needs 240 ticks (60 s): a line that stands still.
STILL = 1


def queue_server(pass_seconds=300):
    extra = dict(QUEUE_LIMITS)
    extra["booking.queue_pass_seconds"] = str(pass_seconds)
    return booking_server(hold_seconds=300, extra=extra)


def parse_time(s):
    s = s.replace("Z", "+00:00")
    return datetime.datetime.fromisoformat(s).timestamp()


def set_queue(org, show_id, enabled, admit_per_minute=None):
    body = {"enabled": enabled}
    if admit_per_minute is not None:
        body["admit_per_minute"] = admit_per_minute
    return org.put("/shows/%s/queue" % show_id, body)


def join(member, show_id):
    return member.post("/queue/join", {"show_id": show_id})


def status(member, show_id):
    return member.get("/queue/status?show_id=" + show_id)


def place(member, show_id):
    r = status(member, show_id)
    if r.status != 200:
        raise AssertionError("queue status: %r" % r)
    return r.json()["data"]


def wait_ready(member, show_id, timeout=15.0):
    """The caller's place once it is "ready" (polled)."""
    return wait_until(lambda: (lambda p: p if p["status"] == "ready" else None)(
        place(member, show_id)), timeout, interval=0.05, what="a queue pass")


def with_pass(queue_pass):
    return {"X-Queue-Pass": queue_pass}


class QueueCase(unittest.TestCase):

    def assertError(self, resp, status, code):
        """status, and the error envelope of API.md with that code."""
        self.assertEqual(resp.status, status, resp)
        body = resp.json()
        self.assertIs(body.get("success"), False, resp)
        self.assertEqual(body["error"]["code"], code, resp)
        self.assertIsInstance(body["error"].get("message"), str, resp)
        self.assertTrue(body.get("request_id"), resp)

    def queued_show(self, org, admit_per_minute, capacity=100):
        """A published show with one zone, in queue mode: (show_id, zone_id, event id)."""
        ev = make_event(org, zones=(("Floor", 0, capacity),))
        show_id, zone_id = first_zone(ev)
        r = set_queue(org, show_id, True, admit_per_minute)
        self.assertEqual(r.status, 200, r)
        return show_id, zone_id, ev["event"]["id"]


class QueueApiTest(ServerTestCase, QueueCase):
    """One server (passes last 300 s) for the API-level checks."""

    @classmethod
    def new_server(cls):
        return queue_server()

    @classmethod
    def prepare(cls):
        org_email = "%s@example.org" % unique("org")
        org2_email = "%s@example.org" % unique("org")
        create_user_cli(cls.server.data_dir, org_email)
        create_user_cli(cls.server.data_dir, org2_email)
        start(cls.server)
        cls.org = login(cls.server, org_email)
        cls.org2 = login(cls.server, org2_email)
        cls.members = register_members(cls.server, 8, workers=8)
        cls.anon = Api(cls.server)

    def show_queue(self, event_id, show_id):
        r = self.org.get("/events/%s/shows" % event_id)
        self.assertEqual(r.status, 200, r)
        (s,) = [s for s in r.json()["data"] if s["id"] == show_id]
        return s["queue"]

    def test_only_the_owner_turns_the_queue_on(self):
        """The owner's PUT sets {enabled, admit_per_minute} and answers the show; a member is
        refused by role (403 FORBIDDEN), another organizer as if the show were not there
        (404 NOT_FOUND, as for events and zones), anonymous 401; none of them change it."""
        ev = make_event(self.org)
        show_id, _ = first_zone(ev)
        event_id = ev["event"]["id"]
        self.assertEqual(self.show_queue(event_id, show_id)["enabled"], False)

        r = set_queue(self.org, show_id, True, 42)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["data"]["id"], show_id)
        self.assertEqual(r.json()["data"]["queue"], {"enabled": True, "admit_per_minute": 42})
        self.assertEqual(self.show_queue(event_id, show_id),
                         {"enabled": True, "admit_per_minute": 42})

        self.assertError(set_queue(self.members[0], show_id, False, 1000), 403, "FORBIDDEN")
        self.assertError(set_queue(self.org2, show_id, False, 1000), 404, "NOT_FOUND")
        self.assertEqual(set_queue(self.anon, show_id, False, 1000).status, 401)
        self.assertError(set_queue(self.org2, "shw_nosuchshow", True, 5), 404, "NOT_FOUND")
        self.assertEqual(self.show_queue(event_id, show_id),
                         {"enabled": True, "admit_per_minute": 42})

        # Validation: enabled is required, the rate is at least 1.
        self.assertError(self.org.put("/shows/%s/queue" % show_id, {"admit_per_minute": 5}),
                         422, "VALIDATION_FAILED")
        self.assertError(set_queue(self.org, show_id, True, 0), 422, "VALIDATION_FAILED")
        # Off again, the rate kept when not given.
        r = set_queue(self.org, show_id, False)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["data"]["queue"], {"enabled": False, "admit_per_minute": 42})

    def test_join_gives_places_in_order_with_estimates(self):
        """Joins are 201 {position, estimated_wait_seconds, status:"waiting"} with positions
        1..N in join order; a second join is 200 with the same place; the estimate grows with
        the position as ceil(position * 60 / admit_per_minute); status agrees."""
        show_id, _, _ = self.queued_show(self.org, STILL)
        line = self.members[:5]
        for i, m in enumerate(line, 1):
            r = join(m, show_id)
            self.assertEqual(r.status, 201, r)
            self.assertEqual(r.json()["data"], {"position": i, "status": "waiting",
                                                "estimated_wait_seconds": 60 * i})
        # Joining again: the same place, 200, not a new one at the back.
        for i, m in ((1, line[0]), (3, line[2]), (5, line[4])):
            r = join(m, show_id)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["data"], {"position": i, "status": "waiting",
                                                "estimated_wait_seconds": 60 * i})
        for i, m in enumerate(line, 1):
            p = place(m, show_id)
            self.assertEqual((p["position"], p["status"], p["estimated_wait_seconds"]),
                             (i, "waiting", 60 * i), p)
            self.assertNotIn("queue_pass", p)
        self.assertError(status(self.members[5], show_id), 404, "NOT_FOUND")

        # Another rate (7 a minute: the first admission is > 8 s away): estimates round up.
        show2, _, _ = self.queued_show(self.org, 7)
        waits = []
        for i, m in enumerate(self.members[:3], 1):
            r = join(m, show2)
            self.assertEqual(r.status, 201, r)
            d = r.json()["data"]
            self.assertEqual((d["position"], d["status"]), (i, "waiting"), d)
            waits.append(d["estimated_wait_seconds"])
        self.assertEqual(waits, [9, 18, 26])  # ceil(60/7), ceil(120/7), ceil(180/7)
        # The first show's line did not move meanwhile.
        self.assertEqual(place(line[4], show_id)["position"], 5)

        self.assertError(join(self.members[0], "shw_nosuchshow"), 404, "NOT_FOUND")
        self.assertError(self.members[0].post("/queue/join", {}), 422, "VALIDATION_FAILED")
        self.assertEqual(join(self.anon, show_id).status, 401)
        self.assertError(self.members[0].get("/queue/status"), 422, "VALIDATION_FAILED")

    def test_simultaneous_joins_get_distinct_places(self):
        """Eight members join at once: each gets 201 and one of the places 1..8 (no two share
        one, none is skipped), and status agrees with what join said."""
        show_id, _, _ = self.queued_show(self.org, STILL)
        sends = [m.prepared("POST", "/queue/join", {"show_id": show_id}) for m in self.members]
        results = fire_together(sends)
        for r in results:
            self.assertNotIsInstance(r, Exception)
            self.assertEqual(r.status, 201, r)
        got = [r.json()["data"]["position"] for r in results]
        self.assertEqual(sorted(got), list(range(1, len(self.members) + 1)), got)
        self.assertEqual([place(m, show_id)["position"] for m in self.members], got)

    def test_reserve_needs_ones_own_genuine_pass(self):
        """On a queue-mode show reserve is 403 QUEUE_PASS_REQUIRED without X-Queue-Pass, with
        another member's pass, with a pass for another show, and with any garbled or forged
        one; the holder's own ready pass gets 201."""
        alice, bob = self.members[6], self.members[7]
        show_id, zone_id, _ = self.queued_show(self.org, 60)
        other_show, other_zone, _ = self.queued_show(self.org, STILL)

        self.assertError(alice.reserve(show_id, zone_id, 1), 403, "QUEUE_PASS_REQUIRED")
        r = join(alice, show_id)
        self.assertEqual(r.status, 201, r)
        self.assertError(alice.reserve(show_id, zone_id, 1), 403, "QUEUE_PASS_REQUIRED")
        ready = wait_ready(alice, show_id)
        self.assertEqual((ready["position"], ready["estimated_wait_seconds"]), (0, 0), ready)
        qp = ready["queue_pass"]
        self.assertIsInstance(qp, str)
        left = parse_time(ready["queue_pass_expires_at"]) - time.time()
        self.assertTrue(240 < left <= 301, "pass lasts queue_pass_seconds: %r" % ready)
        # Joining again while the pass is live: the same (ready) place, 200.
        r = join(alice, show_id)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["data"]["status"], "ready", r)

        self.assertError(bob.reserve(show_id, zone_id, 1, headers=with_pass(qp)), 403,
                         "QUEUE_PASS_REQUIRED")
        self.assertError(alice.reserve(other_show, other_zone, 1, headers=with_pass(qp)), 403,
                         "QUEUE_PASS_REQUIRED")
        uid, sid, expires, mac = qp.split(".")
        self.assertEqual((uid, sid), (alice.user_id, show_id))
        flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
        forged = [
            "", "garbage", "a.b.c.d", qp + ".", qp[:-1], qp + "x",
            ".".join([uid, sid, expires, flipped]),
            ".".join([uid, sid, str(int(expires) + 10 ** 9), mac]),  # a longer life
            ".".join([bob.user_id, sid, expires, mac]),  # handed to another member
            ".".join([uid, other_show, expires, mac]),  # moved to another show
            ".".join([uid, sid, expires, ""]),
            "x" * 4000,
        ]
        for bad in forged:
            self.assertError(alice.reserve(show_id, zone_id, 1, headers=with_pass(bad)), 403,
                             "QUEUE_PASS_REQUIRED")
        self.assertError(
            bob.reserve(show_id, zone_id, 1,
                        headers=with_pass(".".join([bob.user_id, sid, expires, mac]))),
            403, "QUEUE_PASS_REQUIRED")

        r = alice.reserve(show_id, zone_id, 2, headers=with_pass(qp))
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["data"]["status"], "reserved")
        self.assertEqual(r.json()["data"]["quantity"], 2)
        self.assertEqual(alice.booking(r.json()["data"]["id"]).status, 200)

    def test_releaser_admits_in_order_at_the_rate(self):
        """Five members wait at one a minute; at 60 a minute they turn "ready" one by one, in
        join order (the ready ones are always a prefix of the line, the waiting ones' positions
        count down), about one a second: not all at once and not slower than a few seconds
        each. Every ready member holds their own pass."""
        show_id, _, _ = self.queued_show(self.org, STILL)
        line = self.members[:5]
        for m in line:
            self.assertEqual(join(m, show_id).status, 201)
        r = set_queue(self.org, show_id, True, 60)
        self.assertEqual(r.status, 200, r)
        t0 = time.monotonic()
        ready_at = [None] * len(line)
        passes = [None] * len(line)
        while None in ready_at and time.monotonic() - t0 < 25:
            places = [place(m, show_id) for m in line]
            now = time.monotonic() - t0
            states = [p["status"] for p in places]
            n_ready = states.count("ready")
            self.assertEqual(states, ["ready"] * n_ready + ["waiting"] * (len(line) - n_ready),
                             "admitted out of join order after %.2fs: %r" % (now, places))
            for i, p in enumerate(places):
                if p["status"] == "ready":
                    if ready_at[i] is None:
                        ready_at[i], passes[i] = now, p["queue_pass"]
                else:
                    self.assertEqual(p["position"], i + 1 - n_ready, places)
            time.sleep(0.1)
        self.assertNotIn(None, ready_at, "not all admitted in 25 s: %r" % ready_at)
        # Nominal: about 1 s, 2 s ... 5 s after the change of rate.
        self.assertGreaterEqual(ready_at[-1] - ready_at[0], 2.0,
                                "admitted too fast for 60/min: %r" % ready_at)
        self.assertGreaterEqual(ready_at[-1], 2.5, ready_at)
        self.assertLessEqual(ready_at[-1], 15.0, "admitted too slowly for 60/min: %r" % ready_at)
        self.assertEqual(len(set(passes)), len(passes))
        for m, qp in zip(line, passes):
            self.assertEqual(qp.split(".")[:2], [m.user_id, show_id])

    def test_show_without_queue(self):
        """A show not in queue mode: join is 409 INVALID_STATE, status 404 NOT_FOUND, reserve
        needs no pass (and ignores one). Turned on and off again, the same."""
        member = self.members[5]
        ev = make_event(self.org)
        show_id, zone_id = first_zone(ev)
        self.assertError(join(member, show_id), 409, "INVALID_STATE")
        self.assertError(status(member, show_id), 404, "NOT_FOUND")
        self.assertEqual(member.reserve(show_id, zone_id, 1).status, 201)
        r = member.reserve(show_id, zone_id, 1, headers=with_pass("garbage"))
        self.assertEqual(r.status, 201, r)

        self.assertEqual(set_queue(self.org, show_id, True, STILL).status, 200)
        self.assertError(member.reserve(show_id, zone_id, 1), 403, "QUEUE_PASS_REQUIRED")
        self.assertEqual(set_queue(self.org, show_id, False).status, 200)
        self.assertError(join(member, show_id), 409, "INVALID_STATE")
        r = member.reserve(show_id, zone_id, 1)
        self.assertEqual(r.status, 201, r)


class QueuePassExpiryTest(QueueCase):
    """A server whose passes last 3 s."""

    PASS_SECONDS = 3

    def setUp(self):
        self.server = queue_server(pass_seconds=self.PASS_SECONDS)
        self.addCleanup(self.server.cleanup)
        email = "%s@example.org" % unique("org")
        create_user_cli(self.server.data_dir, email)
        start(self.server)
        self.org = login(self.server, email)
        self.alice, self.bob = register_members(self.server, 2, workers=2)

    def test_expired_pass_is_refused_and_the_member_may_queue_again(self):
        """A ready pass works within booking.queue_pass_seconds; once it ran out reserve is
        403 QUEUE_PASS_REQUIRED with it, status says "expired" (API.md lists only "waiting" |
        "ready"; openapi.json has "expired"), and joining again is a new place (201) that
        leads to a new pass."""
        show_id, zone_id, _ = self.queued_show(self.org, 60)
        self.assertEqual(join(self.alice, show_id).status, 201)
        ready = wait_ready(self.alice, show_id)
        qp = ready["queue_pass"]
        expires = parse_time(ready["queue_pass_expires_at"])
        self.assertLessEqual(expires - time.time(), self.PASS_SECONDS + 1, ready)
        r = self.alice.reserve(show_id, zone_id, 1, headers=with_pass(qp))
        self.assertEqual(r.status, 201, r)

        wait_until(lambda: place(self.alice, show_id)["status"] != "ready",
                   self.PASS_SECONDS + 5, what="the pass to run out")
        self.assertGreaterEqual(time.time(), expires - 0.5)
        after = place(self.alice, show_id)
        self.assertEqual(after["status"], "expired", after)
        self.assertEqual(after["position"], 0, after)
        self.assertNotIn("queue_pass", after)
        self.assertError(self.alice.reserve(show_id, zone_id, 1, headers=with_pass(qp)), 403,
                         "QUEUE_PASS_REQUIRED")
        # Someone else's expired pass is no better.
        self.assertError(self.bob.reserve(show_id, zone_id, 1, headers=with_pass(qp)), 403,
                         "QUEUE_PASS_REQUIRED")

        r = join(self.alice, show_id)
        self.assertEqual(r.status, 201, r)
        self.assertIn(r.json()["data"]["status"], ("waiting", "ready"), r)
        again = wait_ready(self.alice, show_id)
        self.assertNotEqual(again["queue_pass"], qp)
        r = self.alice.reserve(show_id, zone_id, 1, headers=with_pass(again["queue_pass"]))
        self.assertEqual(r.status, 201, r)


    def test_retries_under_one_key_across_the_pass(self):
        """A refusal for want of a pass is not stored under the request's Idempotency-Key: the
        retry with a pass reserves. A success is: once the pass has run out, a retry of the
        reservation replays its 201 (the same booking), not a 403."""
        show_id, zone_id, _ = self.queued_show(self.org, 60)
        key = unique("k")
        self.assertError(self.alice.reserve(show_id, zone_id, 1, key=key), 403,
                         "QUEUE_PASS_REQUIRED")
        self.assertEqual(join(self.alice, show_id).status, 201)
        qp = wait_ready(self.alice, show_id)["queue_pass"]
        first = self.alice.reserve(show_id, zone_id, 1, key=key, headers=with_pass(qp))
        self.assertEqual(first.status, 201, first)
        self.assertIsNone(first.header("Idempotent-Replayed"), first)
        wait_until(lambda: place(self.alice, show_id)["status"] == "expired",
                   self.PASS_SECONDS + 5, what="the pass to run out")
        again = self.alice.reserve(show_id, zone_id, 1, key=key, headers=with_pass(qp))
        self.assertEqual(again.status, 201, again)
        self.assertEqual(again.header("Idempotent-Replayed"), "true", again)
        self.assertEqual(again.json()["data"]["id"], first.json()["data"]["id"])
        self.assertEqual(len(self.alice.get("/bookings").json()["data"]), 1)


class QueueRestartTest(QueueCase):
    """The line and the passes are in SQLite: a clean stop and a crash keep them."""

    def setUp(self):
        self.server = queue_server()
        self.addCleanup(self.server.cleanup)
        email = "%s@example.org" % unique("org")
        create_user_cli(self.server.data_dir, email)
        start(self.server)
        self.org = login(self.server, email)
        self.members = register_members(self.server, 6, workers=6)

    def snapshot(self, line, show_id):
        return [place(m, show_id) for m in line]

    def test_queue_survives_sigterm_and_sigkill(self):
        """Five members wait; the first is let in (rate 60, then back to one a minute, which
        holds the rest still for > 40 s). After SIGTERM + start and after SIGKILL + start:
        the same places and the same pass, the pass still reserves, a re-join keeps its
        place and a newcomer queues behind."""
        show_id, zone_id, _ = self.queued_show(self.org, STILL)
        line = self.members[:5]
        for i, m in enumerate(line, 1):
            r = join(m, show_id)
            self.assertEqual((r.status, r.json()["data"]["position"]), (201, i), r)
        self.assertEqual(set_queue(self.org, show_id, True, 60).status, 200)
        wait_ready(line[0], show_id)
        self.assertEqual(set_queue(self.org, show_id, True, STILL).status, 200)
        before = self.snapshot(line, show_id)
        states = [p["status"] for p in before]
        n_ready = states.count("ready")
        self.assertTrue(1 <= n_ready <= 2, before)
        self.assertEqual(states, ["ready"] * n_ready + ["waiting"] * (5 - n_ready), before)
        self.assertEqual([p["position"] for p in before[n_ready:]],
                         list(range(1, 6 - n_ready)), before)
        qp = before[0]["queue_pass"]

        self.server.stop()
        start(self.server)
        self.assertEqual(self.snapshot(line, show_id), before, "after SIGTERM and restart")
        r = line[0].reserve(show_id, zone_id, 1, headers=with_pass(qp))
        self.assertEqual(r.status, 201, "the pass outlives the restart: %r" % r)
        self.assertError(line[-1].reserve(show_id, zone_id, 1), 403, "QUEUE_PASS_REQUIRED")

        self.server.kill()
        start(self.server)
        self.assertEqual(self.snapshot(line, show_id), before, "after SIGKILL and restart")
        r = join(line[-1], show_id)
        self.assertEqual((r.status, r.json()["data"]), (200, before[-1]), r)
        r = join(self.members[5], show_id)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["data"]["position"], 6 - n_ready, r)
        r = line[0].reserve(show_id, zone_id, 1, headers=with_pass(qp))
        self.assertEqual(r.status, 201, "the pass outlives the crash: %r" % r)


if __name__ == "__main__":
    unittest.main()
