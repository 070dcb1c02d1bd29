"""Booking over real HTTP: events/shows/zones CRUD and visibility, search and pagination,
validation, and the reserve/confirm/cancel contract of API.md, one server for the class."""

import unittest

from booking_support import (FUTURE, PAST, BookingCase, available, db_zone, first_zone,
                             make_event, query, register_member, unique, zones_of)


class BookingApiTest(BookingCase):

    # -- events: roles, ownership, slugs, visibility ---------------------------------------

    def test_member_and_anonymous_cannot_create_events(self):
        body = {"title": "Nope", "description": "", "category": "music", "venue": "x",
                "starts_at": FUTURE, "sale_starts_at": PAST, "max_per_user": 2}
        self.assertStatus(self.alice.post("/events", body), 403, "FORBIDDEN")
        self.assertStatus(self.anon.post("/events", body), 401)

    def test_only_the_owner_may_change_an_event(self):
        ev = make_event(self.org, publish=False)
        eid = ev["event"]["id"]
        show_id, _ = first_zone(ev)
        before = self.org.get("/events/" + eid).json()["data"]
        other = self.org2
        self.assertStatus(other.put("/events/" + eid, {"title": "Hijacked"}), 404, "NOT_FOUND")
        self.assertStatus(other.delete("/events/" + eid), 404, "NOT_FOUND")
        self.assertStatus(other.post("/events/%s/publish" % eid), 404, "NOT_FOUND")
        self.assertStatus(other.post("/events/%s/shows" % eid,
                                     {"starts_at": FUTURE, "ends_at": FUTURE}), 404)
        self.assertStatus(other.post("/shows/%s/zones" % show_id,
                                     {"name": "Z", "price": 0, "capacity": 5}), 404)
        # Members are refused before ownership is even looked at.
        self.assertStatus(self.alice.put("/events/" + eid, {"title": "Hijacked"}), 403)
        self.assertStatus(self.alice.delete("/events/" + eid), 403)
        # Nothing changed.
        after = self.org.get("/events/" + eid).json()["data"]
        self.assertEqual(after["title"], before["title"])
        self.assertEqual(after["status"], "draft")
        self.assertEqual(len(after["shows"]), 1)
        self.assertEqual(len(zones_of(self.server, show_id, self.org.token)), 1)
        # The owner can.
        r = self.org.put("/events/" + eid, {"title": "Renamed " + unique()})
        self.assertStatus(r, 200)
        self.assertTrue(r.json()["data"]["title"].startswith("Renamed "))
        self.assertStatus(self.org.post("/events/%s/publish" % eid), 200)
        self.assertEqual(self.anon.get("/events/" + eid).json()["data"]["status"], "published")

    def test_slugs_are_unique_and_made_from_titles(self):
        title = "Summer Night %s!" % unique()
        a = make_event(self.org, title)["event"]
        b = make_event(self.org2, title)["event"]
        self.assertNotEqual(a["slug"], b["slug"])
        base = title.lower().replace(" ", "-").rstrip("!")
        self.assertEqual(a["slug"], base)
        self.assertTrue(b["slug"].startswith(base), b["slug"])
        for ev in (a, b):
            r = self.anon.get("/events/" + ev["slug"])
            self.assertStatus(r, 200)
            self.assertEqual(r.json()["data"]["id"], ev["id"])

    def test_soft_delete_hides_the_event(self):
        word = unique("del")
        ev = make_event(self.org, "Gone %s" % word)
        eid, slug = ev["event"]["id"], ev["event"]["slug"]
        show_id, zone_id = first_zone(ev)
        self.assertEqual(self.anon.get("/events?q=" + word).json()["meta"]["total"], 1)
        self.assertStatus(self.org.delete("/events/" + eid), 200)
        r = self.anon.get("/events?q=" + word)
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["meta"]["total"], 0)
        self.assertEqual(r.json()["data"], [])
        for who in (self.anon, self.org):
            self.assertStatus(who.get("/events/" + slug), 404, "NOT_FOUND")
            self.assertStatus(who.get("/events/" + eid), 404, "NOT_FOUND")
            self.assertStatus(who.get("/events/%s/shows" % slug), 404)
            self.assertStatus(who.get("/shows/%s/zones" % show_id), 404)
        self.assertStatus(self.org.put("/events/" + eid, {"title": "Back"}), 404)
        self.assertStatus(self.alice.reserve(show_id, zone_id, 1), 404, "NOT_FOUND")
        # Soft: the row is still there, marked.
        rows = query(self.server.data_dir, "SELECT deleted_ms FROM events WHERE id = ?", (eid,))
        self.assertEqual(len(rows), 1)
        self.assertIsNotNone(rows[0][0])

    def test_drafts_are_invisible_to_the_public(self):
        word = unique("draft")
        ev = make_event(self.org, "Draft %s" % word, publish=False)
        eid, slug = ev["event"]["id"], ev["event"]["slug"]
        show_id, zone_id = first_zone(ev)
        for who in (self.anon, self.alice, self.org2):
            self.assertStatus(who.get("/events/" + slug), 404, "NOT_FOUND")
            self.assertStatus(who.get("/events/" + eid), 404)
            self.assertStatus(who.get("/events/%s/shows" % slug), 404)
            self.assertStatus(who.get("/shows/%s/zones" % show_id), 404)
            r = who.get("/events?q=" + word)
            self.assertEqual(r.json()["meta"]["total"], 0, r)
        self.assertStatus(self.alice.reserve(show_id, zone_id, 1), 404)
        # Its organizer sees it.
        r = self.org.get("/events/" + slug)
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["data"]["status"], "draft")
        self.assertEqual([s["id"] for s in r.json()["data"]["shows"]], [show_id])

    def test_list_search_filters_and_pagination(self):
        w = unique("srch")
        e1 = make_event(self.org, "%s Alpha" % w, category="music",
                        starts_at="2031-03-01T19:00:00Z")["event"]
        e2 = make_event(self.org, "Beta", description="all about %s here" % w,
                        category="theatre", starts_at="2032-03-01T19:00:00Z")["event"]
        e3 = make_event(self.org2, "%s Gamma" % w, category="music",
                        starts_at="2033-03-01T19:00:00Z")["event"]
        make_event(self.org, "%s Draft" % w, publish=False)

        def ids(path):
            r = self.anon.get(path)
            self.assertStatus(r, 200)
            return [e["id"] for e in r.json()["data"]], r.json()["meta"]

        got, meta = ids("/events?q=" + w)
        self.assertEqual(got, [e1["id"], e2["id"], e3["id"]])  # soonest first, drafts hidden
        self.assertEqual(meta, {"page": 1, "per_page": 20, "total": 3})
        self.assertEqual(ids("/events?q=" + w.upper())[0], got)  # case-insensitive
        self.assertEqual(ids("/events?q=%s&category=music" % w)[0], [e1["id"], e3["id"]])
        self.assertEqual(ids("/events?q=%s&category=theatre" % w)[0], [e2["id"]])
        self.assertEqual(ids("/events?q=%s&from=2032-01-01T00:00:00Z" % w)[0],
                         [e2["id"], e3["id"]])
        self.assertEqual(ids("/events?q=%s&to=2032-12-31T00:00:00Z" % w)[0],
                         [e1["id"], e2["id"]])
        self.assertEqual(
            ids("/events?q=%s&from=2032-01-01T00:00:00Z&to=2032-12-31T00:00:00Z" % w)[0],
            [e2["id"]])
        self.assertEqual(ids("/events?q=%sX" % w)[0], [])

        page1, meta1 = ids("/events?q=%s&per_page=2&page=1" % w)
        page2, meta2 = ids("/events?q=%s&per_page=2&page=2" % w)
        page3, meta3 = ids("/events?q=%s&per_page=2&page=3" % w)
        self.assertEqual(page1, [e1["id"], e2["id"]])
        self.assertEqual(page2, [e3["id"]])
        self.assertEqual(page3, [])
        self.assertEqual(meta1, {"page": 1, "per_page": 2, "total": 3})
        self.assertEqual(meta2, {"page": 2, "per_page": 2, "total": 3})
        self.assertEqual(meta3["total"], 3)
        self.assertEqual(ids("/events?q=%s&per_page=1000" % w)[1]["per_page"], 100)

        self.assertStatus(self.anon.get("/events?from=yesterday"), 422, "VALIDATION_FAILED")

    # -- validation --------------------------------------------------------------------------

    def assertInvalid(self, resp, field):
        self.assertStatus(resp, 422, "VALIDATION_FAILED")
        fields = resp.json()["error"].get("details", {}).get("fields", {})
        self.assertIn(field, fields, resp)

    def test_validation(self):
        good = {"title": "Valid", "description": "", "category": "music", "venue": "x",
                "starts_at": FUTURE, "sale_starts_at": PAST, "max_per_user": 2}
        self.assertInvalid(self.org.post("/events", dict(good, max_per_user=0)), "max_per_user")
        self.assertInvalid(self.org.post("/events", dict(good, max_per_user=100001)),
                           "max_per_user")
        self.assertInvalid(self.org.post("/events", dict(good, starts_at="next tuesday")),
                           "starts_at")
        self.assertInvalid(self.org.post("/events", dict(good, sale_starts_at="2035-13-45T99:00:00Z")),
                           "sale_starts_at")
        self.assertInvalid(self.org.post("/events", dict(good, sale_starts_at="2036-01-01T00:00:00Z")),
                           "sale_starts_at")  # after the event starts
        no_title = dict(good)
        del no_title["title"]
        self.assertInvalid(self.org.post("/events", no_title), "title")

        ev = make_event(self.org, zones=())
        eid = ev["event"]["id"]
        show_id = ev["shows"][0]["show"]["id"]
        self.assertInvalid(self.org.put("/events/" + eid, {"max_per_user": 0}), "max_per_user")
        self.assertInvalid(self.org.put("/events/" + eid, {"starts_at": "soon"}), "starts_at")
        self.assertInvalid(self.org.post("/events/%s/shows" % eid,
                                         {"starts_at": FUTURE, "ends_at": "2035-05-01T00:00:00Z"}),
                           "ends_at")
        self.assertInvalid(self.org.post("/events/%s/shows" % eid,
                                         {"starts_at": "tomorrow", "ends_at": FUTURE}), "starts_at")
        zone = {"name": "Z", "price": {"amount": 0, "currency": "USD"}, "capacity": 10}
        self.assertInvalid(self.org.post("/shows/%s/zones" % show_id, dict(zone, capacity=0)),
                           "capacity")
        self.assertInvalid(self.org.post("/shows/%s/zones" % show_id,
                                         dict(zone, capacity=10_000_001)), "capacity")
        self.assertStatus(self.org.post("/shows/%s/zones" % show_id,
                                        dict(zone, price={"amount": -1, "currency": "USD"})), 422)
        self.assertEqual(zones_of(self.server, show_id), {})  # nothing was created
        r = self.org.post("/shows/%s/zones" % show_id, zone)
        self.assertStatus(r, 201)
        zone_id = r.json()["data"]["id"]
        self.assertInvalid(self.alice.reserve(show_id, zone_id, 0), "quantity")
        self.assertEqual(available(self.server, show_id, zone_id), 10)

    # -- reserve: refusals -----------------------------------------------------------------

    def test_sale_not_open(self):
        """Refused before the sale opens; a retry under the same Idempotency-Key (a client
        hammering the button) is judged afresh, not answered with the stored refusal."""
        ev = make_event(self.org, sale_starts_at="2034-01-01T00:00:00Z")
        show_id, zone_id = first_zone(ev)
        key = unique("early")
        self.assertStatus(self.alice.reserve(show_id, zone_id, 1, key=key), 409, "SALE_NOT_OPEN")
        self.assertEqual(available(self.server, show_id, zone_id), 100)
        # Moving the sale start into the past opens it at once.
        self.assertStatus(self.org.put("/events/" + ev["event"]["id"], {"sale_starts_at": PAST}), 200)
        r = self.alice.reserve(show_id, zone_id, 1, key=key)
        self.assertStatus(r, 201)
        self.assertIsNone(r.header("Idempotent-Replayed"), r)
        self.assertEqual(available(self.server, show_id, zone_id), 99)

    def test_insufficient_stock(self):
        ev = make_event(self.org, zones=(("Small", 0, 3),))
        show_id, zone_id = first_zone(ev)
        self.assertStatus(self.alice.reserve(show_id, zone_id, 2), 201)
        self.assertStatus(self.bob.reserve(show_id, zone_id, 2), 409, "INSUFFICIENT_STOCK")
        self.assertEqual(available(self.server, show_id, zone_id), 1)
        self.assertStatus(self.bob.reserve(show_id, zone_id, 1), 201)
        self.assertEqual(available(self.server, show_id, zone_id), 0)
        self.assertStatus(self.bob.reserve(show_id, zone_id, 1), 409, "INSUFFICIENT_STOCK")
        cap, held, confirmed, live_held, live_conf = db_zone(self.server.data_dir, zone_id)
        self.assertEqual((cap, held, confirmed, live_held, live_conf), (3, 3, 0, 3, 0))

    def test_user_limit_across_the_shows_of_an_event(self):
        ev = make_event(self.org, max_per_user=3, shows=2)
        (sa, za), (sb, zb) = [(s["show"]["id"], s["zones"][0]["id"]) for s in ev["shows"]]
        carol = register_member(self.server)
        r = carol.reserve(sa, za, 2)
        self.assertStatus(r, 201)
        first = r.json()["data"]["id"]
        self.assertStatus(carol.reserve(sb, zb, 2), 409, "USER_LIMIT_EXCEEDED")
        self.assertStatus(carol.reserve(sa, za, 2), 409, "USER_LIMIT_EXCEEDED")
        self.assertStatus(carol.reserve(sb, zb, 1), 201)
        self.assertStatus(carol.reserve(sb, zb, 1), 409, "USER_LIMIT_EXCEEDED")
        # Someone else is not affected, and cancelling frees the allowance.
        self.assertStatus(self.bob.reserve(sb, zb, 3), 201)
        self.assertStatus(carol.post("/bookings/%s/cancel" % first), 200)
        self.assertStatus(carol.reserve(sb, zb, 2), 201)
        self.assertEqual(available(self.server, sa, za), 100)
        self.assertEqual(available(self.server, sb, zb), 100 - 1 - 3 - 2)

    def test_unknown_show_or_zone_is_404(self):
        ev = make_event(self.org)
        other = make_event(self.org)
        show_id, zone_id = first_zone(ev)
        _, other_zone = first_zone(other)
        self.assertStatus(self.alice.reserve(show_id, "zon_nosuchzone", 1), 404, "NOT_FOUND")
        self.assertStatus(self.alice.reserve(show_id, other_zone, 1), 404, "NOT_FOUND")
        self.assertStatus(self.alice.reserve("shw_nosuchshow", zone_id, 1), 404, "NOT_FOUND")
        self.assertEqual(available(self.server, show_id, zone_id), 100)

    def test_idempotency_key_is_required(self):
        ev = make_event(self.org)
        show_id, zone_id = first_zone(ev)
        self.assertStatus(self.alice.reserve(show_id, zone_id, 1, key=False), 400, "BAD_REQUEST")
        self.assertStatus(self.alice.reserve(show_id, zone_id, 1, key="k" * 256), 400, "BAD_REQUEST")
        self.assertStatus(self.anon.reserve(show_id, zone_id, 1), 401)
        self.assertEqual(available(self.server, show_id, zone_id), 100)
        self.assertEqual(query(self.server.data_dir,
                               "SELECT COUNT(*) FROM bookings WHERE zone_id = ?", (zone_id,)),
                         [(0,)])

    def test_replay_and_key_reuse(self):
        ev = make_event(self.org)
        show_id, zone_id = first_zone(ev)
        key = unique("idem")
        first = self.alice.reserve(show_id, zone_id, 2, key=key)
        self.assertStatus(first, 201)
        self.assertIsNone(first.header("Idempotent-Replayed"))
        booking = first.json()["data"]
        self.assertEqual(booking["status"], "reserved")
        self.assertEqual(booking["quantity"], 2)
        for _ in range(2):
            again = self.alice.reserve(show_id, zone_id, 2, key=key)
            self.assertStatus(again, 201)
            self.assertEqual(again.body, first.body)  # byte for byte
            self.assertEqual(again.header("Idempotent-Replayed"), "true")
        reused = self.alice.reserve(show_id, zone_id, 1, key=key)
        self.assertStatus(reused, 422, "IDEMPOTENCY_KEY_REUSED")
        self.assertEqual(available(self.server, show_id, zone_id), 98)
        # Keys belong to their caller: Bob's request under the same key is his own.
        bobs = self.bob.reserve(show_id, zone_id, 2, key=key)
        self.assertStatus(bobs, 201)
        self.assertNotEqual(bobs.json()["data"]["id"], booking["id"])
        self.assertEqual(available(self.server, show_id, zone_id), 96)
        rows = query(self.server.data_dir,
                     "SELECT user_id, COUNT(*) FROM bookings WHERE zone_id = ? GROUP BY user_id",
                     (zone_id,))
        self.assertEqual(sorted(n for _, n in rows), [1, 1])

    def test_key_reuse_is_refused_as_such_even_when_sold_out(self):
        # The first request under a key was refused (422, stored); another body under that key
        # hits a sold-out zone: it is refused for the key, not for the stock.
        ev = make_event(self.org, zones=(("Last", 0, 1),))
        show_id, zone_id = ev["shows"][0]["show"]["id"], ev["shows"][0]["zones"][0]["id"]
        self.assertStatus(register_member(self.server).reserve(show_id, zone_id, 1), 201)
        erin = register_member(self.server)
        key = unique("idem")
        self.assertStatus(erin.reserve(show_id, zone_id, 0, key=key), 422, "VALIDATION_FAILED")
        self.assertStatus(erin.reserve(show_id, zone_id, 1, key=key), 422,
                          "IDEMPOTENCY_KEY_REUSED")
        self.assertStatus(erin.reserve(show_id, zone_id, 1, key=unique("idem")), 409,
                          "INSUFFICIENT_STOCK")

    def test_replay_when_the_first_request_took_the_last_seats(self):
        # A retry must get its booking back even though a fresh request would now be refused
        # (sold out, or over the per-person limit because of that very booking).
        ev = make_event(self.org, max_per_user=2, zones=(("Last", 0, 1), ("Two", 0, 10)))
        show_id = ev["shows"][0]["show"]["id"]
        last, two = [z["id"] for z in ev["shows"][0]["zones"]]
        carol = register_member(self.server)
        k1, k2 = unique("idem"), unique("idem")
        first = carol.reserve(show_id, last, 1, key=k1)
        self.assertStatus(first, 201)
        again = carol.reserve(show_id, last, 1, key=k1)
        self.assertStatus(again, 201)
        self.assertEqual(again.body, first.body)
        self.assertEqual(again.header("Idempotent-Replayed"), "true")
        # Another body under that key is still refused as such, not as "sold out".
        self.assertStatus(carol.reserve(show_id, last, 2, key=k1), 422, "IDEMPOTENCY_KEY_REUSED")

        dave = register_member(self.server)
        first = dave.reserve(show_id, two, 2, key=k2)
        self.assertStatus(first, 201)
        again = dave.reserve(show_id, two, 2, key=k2)
        self.assertStatus(again, 201)
        self.assertEqual(again.body, first.body)
        self.assertEqual(available(self.server, show_id, two), 8)

    # -- confirm, cancel, payment ----------------------------------------------------------

    def test_confirm_a_free_booking(self):
        ev = make_event(self.org, zones=(("Free", 0, 10),))
        show_id, zone_id = first_zone(ev)
        b = self.alice.reserve(show_id, zone_id, 3).json()["data"]
        self.assertEqual(b["amount"], {"amount": 0, "currency": "USD"})
        r = self.alice.post("/bookings/%s/confirm" % b["id"])
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["data"]["status"], "confirmed")
        self.assertEqual(r.json()["data"]["id"], b["id"])
        self.assertEqual(self.alice.booking(b["id"]).json()["data"]["status"], "confirmed")
        self.assertEqual(available(self.server, show_id, zone_id), 7)
        self.assertEqual(db_zone(self.server.data_dir, zone_id), (10, 0, 3, 0, 3))
        # Cancelling a confirmed free booking gives the seats back too.
        r = self.alice.post("/bookings/%s/cancel" % b["id"])
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["data"]["status"], "cancelled")
        self.assertEqual(available(self.server, show_id, zone_id), 10)
        self.assertEqual(db_zone(self.server.data_dir, zone_id), (10, 0, 0, 0, 0))

    def test_paid_booking_needs_payment(self):
        ev = make_event(self.org, zones=(("Paid", 2500, 10),))
        show_id, zone_id = first_zone(ev)
        r = self.alice.reserve(show_id, zone_id, 2)
        self.assertStatus(r, 201)
        b = r.json()["data"]
        self.assertEqual(b["amount"], {"amount": 5000, "currency": "USD"})
        self.assertStatus(self.alice.post("/bookings/%s/confirm" % b["id"]), 409, "PAYMENT_REQUIRED")
        self.assertEqual(self.alice.booking(b["id"]).json()["data"]["status"], "reserved")
        self.assertEqual(available(self.server, show_id, zone_id), 8)
        self.assertStatus(self.alice.post("/bookings/%s/cancel" % b["id"]), 200)
        self.assertEqual(available(self.server, show_id, zone_id), 10)

    def test_cancel_gives_seats_back(self):
        ev = make_event(self.org, zones=(("Five", 0, 5),))
        show_id, zone_id = first_zone(ev)
        b = self.alice.reserve(show_id, zone_id, 3).json()["data"]
        self.assertEqual(available(self.server, show_id, zone_id), 2)
        self.assertStatus(self.bob.reserve(show_id, zone_id, 3), 409, "INSUFFICIENT_STOCK")
        r = self.alice.post("/bookings/%s/cancel" % b["id"])
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["data"]["status"], "cancelled")
        self.assertEqual(available(self.server, show_id, zone_id), 5)
        self.assertEqual(self.alice.booking(b["id"]).json()["data"]["status"], "cancelled")
        self.assertStatus(self.alice.post("/bookings/%s/cancel" % b["id"]), 409, "INVALID_STATE")
        self.assertStatus(self.alice.post("/bookings/%s/confirm" % b["id"]), 409, "INVALID_STATE")
        self.assertEqual(available(self.server, show_id, zone_id), 5)
        self.assertStatus(self.bob.reserve(show_id, zone_id, 5), 201)
        self.assertEqual(db_zone(self.server.data_dir, zone_id), (5, 5, 0, 5, 0))

    # -- the owner's bookings ----------------------------------------------------------------

    def test_my_bookings_and_someone_elses(self):
        ev = make_event(self.org)
        show_id, zone_id = first_zone(ev)
        erin = register_member(self.server)
        held = erin.reserve(show_id, zone_id, 1).json()["data"]
        conf = erin.reserve(show_id, zone_id, 1).json()["data"]
        canc = erin.reserve(show_id, zone_id, 1).json()["data"]
        self.assertStatus(erin.post("/bookings/%s/confirm" % conf["id"]), 200)
        self.assertStatus(erin.post("/bookings/%s/cancel" % canc["id"]), 200)

        r = erin.get("/bookings")
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["meta"]["total"], 3)
        statuses = {b["id"]: b["status"] for b in r.json()["data"]}
        self.assertEqual(statuses, {held["id"]: "reserved", conf["id"]: "confirmed",
                                    canc["id"]: "cancelled"})
        r = erin.get("/bookings?per_page=2")
        self.assertEqual(len(r.json()["data"]), 2)
        self.assertEqual(r.json()["meta"], {"page": 1, "per_page": 2, "total": 3})
        r = erin.get("/bookings/pending")
        self.assertStatus(r, 200)
        self.assertEqual([b["id"] for b in r.json()["data"]], [held["id"]])
        self.assertEqual(r.json()["meta"]["total"], 1)
        r = erin.booking(held["id"])
        self.assertStatus(r, 200)
        got = r.json()["data"]
        for k in ("id", "status", "show_id", "zone_id", "quantity", "amount", "expires_at"):
            self.assertEqual(got[k], held[k], k)

        # Someone else: 404 everywhere, and nothing changes.
        for b in (held, conf):
            self.assertStatus(self.bob.booking(b["id"]), 404, "NOT_FOUND")
            self.assertStatus(self.bob.post("/bookings/%s/confirm" % b["id"]), 404, "NOT_FOUND")
            self.assertStatus(self.bob.post("/bookings/%s/cancel" % b["id"]), 404, "NOT_FOUND")
        self.assertStatus(self.org.booking(held["id"]), 404)
        self.assertStatus(self.bob.booking("bkg_nosuchbooking"), 404)
        self.assertNotIn(held["id"], [b["id"] for b in self.bob.get("/bookings?per_page=100").json()["data"]])
        self.assertEqual(erin.booking(held["id"]).json()["data"]["status"], "reserved")
        self.assertEqual(erin.booking(conf["id"]).json()["data"]["status"], "confirmed")
        self.assertEqual(available(self.server, show_id, zone_id), 98)
        self.assertStatus(self.anon.get("/bookings"), 401)


if __name__ == "__main__":
    unittest.main()
