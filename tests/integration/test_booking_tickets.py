"""E-tickets over HTTP: GET /bookings/{id}/ticket (the signed code as JSON, or the QR code as
SVG) and the door check-in POST /tickets/verify (once per ticket, by the event's organizer
only, forgeries refused), one server for the class. `souk ticket verify` is test_ticket_cli.py.
"""

import json
import re
import unittest
import xml.etree.ElementTree as ET

from booking_support import (BookingCase, error_code, fire_together, first_zone, make_event,
                             query)

SVG_NS = "{http://www.w3.org/2000/svg}"
RFC3339 = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$"


def dark_modules(svg):
    """The QR code's dark modules as a set of (x, y), and the side of its viewBox."""
    root = ET.fromstring(svg)
    side = int(root.get("viewBox").split()[2])
    path = root.find(SVG_NS + "path").get("d")
    cells = {(int(x), int(y)) for x, y in re.findall(r"M(\d+) (\d+)h1v1h-1z", path)}
    return cells, side


def finder_at(cells, left, top):
    """True when the 7x7 finder pattern (dark ring, light ring, dark 3x3 core) is at left, top."""
    for dy in range(7):
        for dx in range(7):
            ring = max(abs(dx - 3), abs(dy - 3))
            if ((left + dx, top + dy) in cells) != (ring != 2):
                return False
    return True


class BookingTicketsTest(BookingCase):

    @classmethod
    def prepare(cls):
        super().prepare()
        cls.show_id, cls.zone_id = first_zone(make_event(cls.org, zones=(("Free", 0, 100),)))

    def held(self, who):
        r = who.reserve(self.show_id, self.zone_id, 1)
        self.assertStatus(r, 201)
        return r.json()["data"]["id"]

    def confirmed(self, who):
        booking_id = self.held(who)
        r = who.post("/bookings/%s/confirm" % booking_id)
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["data"]["status"], "confirmed")
        return booking_id

    def ticket(self, who, booking_id):
        r = who.get("/bookings/%s/ticket" % booking_id)
        self.assertStatus(r, 200)
        return r.json()["data"]

    def verify(self, who, code):
        return who.post("/tickets/verify", {"code": code})

    def checkins(self, booking_id):
        return query(self.server.data_dir,
                     "SELECT used_by FROM ticket_checkins WHERE booking_id = ?", (booking_id,))

    # -- GET /bookings/{id}/ticket -----------------------------------------------------------

    def test_ticket_json_carries_the_signed_code_and_its_qr(self):
        """The owner of a confirmed free booking gets {ticket_id, booking_id, qr_svg}: the
        ticket id is the signed code (SOUK1.<booking id>.<mac>), stable across requests and
        different per booking, and qr_svg is SVG markup of a QR code."""
        booking_id = self.confirmed(self.alice)
        t = self.ticket(self.alice, booking_id)
        self.assertEqual(t["booking_id"], booking_id)
        self.assertRegex(t["ticket_id"], r"^SOUK1\.%s\.[A-Za-z0-9_-]{20,}$" % booking_id)
        self.assertEqual(t["booking"]["id"], booking_id)
        self.assertEqual(t["booking"]["status"], "confirmed")
        self.assertEqual(self.ticket(self.alice, booking_id)["ticket_id"], t["ticket_id"])
        other = self.ticket(self.alice, self.confirmed(self.alice))
        self.assertNotEqual(other["ticket_id"], t["ticket_id"])
        self.assertNotEqual(other["qr_svg"], t["qr_svg"])
        self.assertTrue(t["qr_svg"].startswith("<svg"), t["qr_svg"][:80])
        self.assertEqual(ET.fromstring(t["qr_svg"]).tag, SVG_NS + "svg")

    def test_ticket_as_svg_is_a_qr_code(self):
        """With Accept: image/svg+xml the answer is the SVG itself (not JSON, not cached), the
        same markup as the JSON's qr_svg, and it draws a QR code: a valid QR width with the
        three finder patterns in their corners inside a 4-module quiet zone."""
        booking_id = self.confirmed(self.alice)
        as_json = self.ticket(self.alice, booking_id)
        r = self.alice.get("/bookings/%s/ticket" % booking_id,
                           headers={"Accept": "image/svg+xml"})
        self.assertStatus(r, 200)
        self.assertEqual(r.header("Content-Type", "").split(";")[0].strip(), "image/svg+xml")
        self.assertIn("no-store", r.header("Cache-Control", ""))
        svg = r.body.decode("utf-8")
        self.assertTrue(svg.startswith("<svg"), svg[:80])
        self.assertTrue(svg.rstrip().endswith("</svg>"), svg[-80:])
        self.assertEqual(svg, as_json["qr_svg"])
        self.assertEqual(ET.fromstring(svg).tag, SVG_NS + "svg")
        cells, side = dark_modules(svg)
        width = side - 8  # a quiet zone of 4 modules on each side
        self.assertEqual((width - 17) % 4, 0, "not a QR width: %d" % width)
        self.assertGreaterEqual(width, 21)
        self.assertTrue(all(4 <= x < 4 + width and 4 <= y < 4 + width for x, y in cells))
        for left, top in ((4, 4), (4 + width - 7, 4), (4, 4 + width - 7)):
            self.assertTrue(finder_at(cells, left, top), "no finder at %d,%d" % (left, top))
        self.assertFalse(finder_at(cells, 4 + width - 7, 4 + width - 7))

    def test_accept_refusing_svg_gets_json(self):
        """Content negotiation: `*/*` or JSON-first Accept headers get JSON; an Accept that
        lists image/svg+xml with q=0 ("not acceptable", RFC 9110 12.4.2) must not get the SVG."""
        booking_id = self.confirmed(self.alice)
        for accept in ("*/*", "application/json", "text/html, */*;q=0.1"):
            r = self.alice.get("/bookings/%s/ticket" % booking_id, headers={"Accept": accept})
            self.assertStatus(r, 200)
            self.assertEqual(r.header("Content-Type"), "application/json", accept)
        r = self.alice.get("/bookings/%s/ticket" % booking_id,
                           headers={"Accept": "application/json, image/svg+xml;q=0"})
        self.assertStatus(r, 200)
        self.assertEqual(r.header("Content-Type"), "application/json",
                         "SVG served although the client marked it not acceptable (q=0)")

    def test_someone_elses_ticket_is_not_found(self):
        """A ticket is its booking owner's: anyone else (a member, even the event's organizer)
        gets 404 NOT_FOUND, and anonymous callers 401."""
        booking_id = self.confirmed(self.alice)
        for who in (self.bob, self.org, self.org2):
            self.assertStatus(who.get("/bookings/%s/ticket" % booking_id), 404, "NOT_FOUND")
            self.assertStatus(who.get("/bookings/%s/ticket" % booking_id,
                                      headers={"Accept": "image/svg+xml"}), 404, "NOT_FOUND")
        self.assertStatus(self.anon.get("/bookings/%s/ticket" % booking_id), 401)
        self.assertStatus(self.alice.get("/bookings/bkg_nosuchbooking/ticket"), 404, "NOT_FOUND")

    def test_held_and_cancelled_bookings_have_no_ticket(self):
        """Only confirmed bookings have tickets: a held (reserved) booking's ticket is 409
        INVALID_STATE, in JSON and as SVG; so is a confirmed booking's once cancelled."""
        booking_id = self.held(self.alice)
        self.assertStatus(self.alice.get("/bookings/%s/ticket" % booking_id), 409,
                          "INVALID_STATE")
        self.assertStatus(self.alice.get("/bookings/%s/ticket" % booking_id,
                                         headers={"Accept": "image/svg+xml"}),
                          409, "INVALID_STATE")
        confirmed = self.confirmed(self.alice)
        self.ticket(self.alice, confirmed)
        self.assertStatus(self.alice.post("/bookings/%s/cancel" % confirmed), 200)
        self.assertStatus(self.alice.get("/bookings/%s/ticket" % confirmed), 409,
                          "INVALID_STATE")

    # -- POST /tickets/verify ----------------------------------------------------------------

    def test_the_organizer_checks_a_ticket_in_once(self):
        """The event's organizer verifies a genuine code: 200 {valid, booking}, the check-in is
        recorded (ticket_checkins, by that organizer; booking.checked_in in the outbox). A
        second scan is 409 CONFLICT with the first scan's time; nothing is recorded twice."""
        booking_id = self.confirmed(self.alice)
        code = self.ticket(self.alice, booking_id)["ticket_id"]
        self.assertEqual(self.checkins(booking_id), [])
        r = self.verify(self.org, code)
        self.assertStatus(r, 200)
        d = r.json()["data"]
        self.assertIs(d["valid"], True)
        self.assertEqual(d["booking"]["id"], booking_id)
        self.assertEqual(d["booking"]["status"], "confirmed")
        self.assertEqual(d["booking"]["quantity"], 1)
        self.assertEqual(self.checkins(booking_id), [(self.org.user_id,)])
        events = [json.loads(p) for (p,) in query(
            self.server.data_dir, "SELECT payload FROM outbox WHERE type = 'booking.checked_in'")]
        self.assertEqual([e for e in events if e["booking_id"] == booking_id],
                         [{"booking_id": booking_id, "event_id": d["booking"]["event_id"]}])
        again = self.verify(self.org, code)
        self.assertStatus(again, 409, "CONFLICT")
        self.assertRegex(again.json()["error"]["details"]["used_at"], RFC3339)
        self.assertStatus(self.verify(self.org, code), 409, "CONFLICT")
        self.assertEqual(self.checkins(booking_id), [(self.org.user_id,)])
        # The booking itself is unchanged, and its owner still gets the ticket.
        self.assertEqual(self.alice.booking(booking_id).json()["data"]["status"], "confirmed")
        self.assertEqual(self.ticket(self.alice, booking_id)["ticket_id"], code)

    def test_simultaneous_scans_admit_once(self):
        """Two door scanners reading the same ticket at once: exactly one 200, the others 409
        CONFLICT, one check-in row."""
        booking_id = self.confirmed(self.alice)
        code = self.ticket(self.alice, booking_id)["ticket_id"]
        scans = [self.org.prepared("POST", "/tickets/verify", {"code": code}) for _ in range(6)]
        results = fire_together(scans)
        for r in results:
            self.assertNotIsInstance(r, Exception)
        self.assertEqual(sorted(r.status for r in results), [200] + [409] * 5, results)
        self.assertEqual({error_code(r) for r in results if r.status == 409}, {"CONFLICT"})
        self.assertEqual(self.checkins(booking_id), [(self.org.user_id,)])

    def test_only_the_events_organizer_may_check_in(self):
        """A member (even the ticket's owner) is refused 403 FORBIDDEN before anything is
        looked at, another organizer gets 404 NOT_FOUND (not their event), an anonymous
        caller 401; none of them uses the ticket up: the organizer's scan still succeeds."""
        booking_id = self.confirmed(self.alice)
        code = self.ticket(self.alice, booking_id)["ticket_id"]
        self.assertStatus(self.verify(self.alice, code), 403, "FORBIDDEN")
        self.assertStatus(self.verify(self.bob, code), 403, "FORBIDDEN")
        self.assertStatus(self.verify(self.org2, code), 404, "NOT_FOUND")
        self.assertStatus(self.verify(self.anon, code), 401)
        self.assertEqual(self.checkins(booking_id), [])
        self.assertStatus(self.verify(self.org, code), 200)
        # Used or not, another organizer learns nothing about it.
        self.assertStatus(self.verify(self.org2, code), 404, "NOT_FOUND")

    def test_forged_codes_are_refused(self):
        """A code whose signature does not match is 422 VALIDATION_FAILED on field `code`:
        a tampered signature, another booking's id under this signature, a code without the
        prefix, and garbage. A missing code is 422 too. Nothing is checked in."""
        booking_id = self.confirmed(self.alice)
        code = self.ticket(self.alice, booking_id)["ticket_id"]
        other_id = self.confirmed(self.bob)
        sig = code.rsplit(".", 1)[1]
        flipped = sig[:-1] + ("A" if sig[-1] != "A" else "B")
        forged = [
            code.rsplit(".", 1)[0] + "." + flipped,
            "SOUK1.%s.%s" % (other_id, sig),
            code[len("SOUK1."):],
            "SOUK1.%s" % booking_id,
            "SOUK1.%s.%s.%s" % (booking_id, sig, sig),
            "not a ticket",
        ]
        for bad in forged:
            with self.subTest(code=bad):
                r = self.verify(self.org, bad)
                self.assertStatus(r, 422, "VALIDATION_FAILED")
                self.assertIn("code", r.json()["error"]["details"]["fields"])
        r = self.org.post("/tickets/verify", {})
        self.assertStatus(r, 422, "VALIDATION_FAILED")
        self.assertIn("code", r.json()["error"]["details"]["fields"])
        self.assertEqual(self.checkins(booking_id), [])
        self.assertEqual(self.checkins(other_id), [])
        # The genuine code still works.
        self.assertStatus(self.verify(self.org, code), 200)

    def test_a_cancelled_bookings_ticket_is_refused_at_the_door(self):
        """A ticket fetched while the booking was confirmed stops working once the booking is
        cancelled: 409 INVALID_STATE, and no check-in is recorded."""
        booking_id = self.confirmed(self.bob)
        code = self.ticket(self.bob, booking_id)["ticket_id"]
        self.assertStatus(self.bob.post("/bookings/%s/cancel" % booking_id), 200)
        r = self.verify(self.org, code)
        self.assertStatus(r, 409, "INVALID_STATE")
        self.assertIn("cancelled", r.json()["error"]["message"])
        self.assertEqual(self.checkins(booking_id), [])


if __name__ == "__main__":
    unittest.main()
