"""Payments, the checkout saga, the ledger and payouts over real HTTP, through the simulated PSP's
hosted checkout page and its signed webhooks."""

import json
import time
import unittest
import urllib.parse

import booking_support as bs
import payments_support as ps
from harness import ServerTestCase, wait_until

OLD_SECRET = "an-old-webhook-secret-0123456789"


class MoneyCase(ServerTestCase):
    server_extra = {}
    hold_seconds = 30
    check_sanitizer = True

    @classmethod
    def new_server(cls):
        return ps.money_server(hold_seconds=cls.hold_seconds, extra=cls.server_extra)

    @classmethod
    def prepare(cls):
        bs.start(cls.server)
        cls.org = bs.organizer(cls.server)
        cls.admin = ps.admin(cls.server)
        cls.secret = ps.webhook_secret(cls.server.data_dir)

    def tearDown(self):
        ps.assert_money_invariants(self, self.server.data_dir)

    def member(self):
        return bs.register_member(self.server)

    def assertError(self, r, status, code):
        self.assertEqual(r.status, status, r)
        self.assertEqual(bs.error_code(r), code, r)

    def saga(self, payment_id):
        rows = bs.query(self.server.data_dir,
                        "SELECT state FROM checkout_sagas WHERE payment_id = ?", (payment_id,))
        order = ["started", "intent_created", "expired", "paid", "failed", "released",
                 "confirmed", "ticketed", "completed", "refunding", "refunded"]
        steps = sorted((s for (s,) in bs.query(
            self.server.data_dir,
            "SELECT step FROM checkout_saga_steps WHERE payment_id = ?", (payment_id,))),
            key=order.index)
        return (rows[0][0] if rows else None), steps


class PaymentsTest(MoneyCase):
    server_extra = {"payments.escrow_release": "on_payment",
                    "payments.previous_webhook_secrets": json.dumps([OLD_SECRET])}

    def test_happy_path_through_the_hosted_checkout(self):
        buyer = self.member()
        ev = bs.make_event(self.org, zones=(("Floor", 2500, 10),))
        show_id, zone_id = bs.first_zone(ev)
        booking, payment, paid = ps.paid_booking(self.server, buyer, self.org, event=ev)
        self.assertEqual(payment["status"], "pending")
        self.assertEqual(payment["amount"], {"amount": 2500, "currency": "USD"})
        self.assertEqual(paid.status, 303, paid)
        location = urllib.parse.urlsplit(paid.header("Location"))
        query = urllib.parse.parse_qs(location.query)
        self.assertEqual(location.path, "/checkout/return")
        self.assertEqual(query["payment_id"], [payment["id"]])
        self.assertEqual(query["booking_id"], [booking["id"]])
        self.assertEqual(query["result"], ["succeeded"])

        ps.wait_status(lambda: buyer.get("/payments/" + payment["id"]), "succeeded",
                       what="payment")
        ps.wait_status(lambda: buyer.booking(booking["id"]), "confirmed", what="booking")
        ticket = buyer.get("/bookings/%s/ticket" % booking["id"])
        self.assertEqual(ticket.status, 200, ticket)
        self.assertIn("<svg", ticket.json()["data"]["qr_svg"])
        self.assertEqual(bs.available(self.server, show_id, zone_id), 9)

        wait_until(lambda: self.saga(payment["id"])[0] == "completed", 15, what="saga completed")
        self.assertEqual(self.saga(payment["id"])[1], ["started", "intent_created", "paid",
                                                        "confirmed", "ticketed", "completed"])
        # The sale: the seller's share in escrow, 10% to the platform; released at once (on_payment).
        self.assertEqual(ps.transfers(self.server.data_dir, payment["id"])[0], ("sale", 2500))
        wait_until(lambda: ps.balances(self.org).get("USD", {}).get("available", {})
                   .get("amount", 0) >= 2250, 15, what="escrow released")
        kinds = [k for k, _ in ps.transfers(self.server.data_dir, payment["id"])]
        self.assertEqual(kinds, ["sale", "escrow_release"])
        fee = bs.query(self.server.data_dir, "SELECT balance FROM ledger_accounts WHERE id = "
                                             "'fees_revenue:platform:USD'")[0][0]
        self.assertLessEqual(fee, -250)

        # Visibility: the buyer and admins; anyone else gets 404.
        self.assertEqual(self.admin.get("/payments/" + payment["id"]).status, 200)
        self.assertError(self.member().get("/payments/" + payment["id"]), 404, "NOT_FOUND")
        # The checkout page of a paid intent offers no second charge.
        page = self.server.get(ps.path_of(payment["checkout_url"]))
        self.assertEqual(page.status, 200)
        self.assertNotIn(b"card_number", page.body)
        (charges,) = bs.query(self.server.data_dir, "SELECT charges FROM psp_sim_intents WHERE "
                                                    "reference = ?", (payment["id"],))[0]
        self.assertEqual(charges, 1)

    def test_payment_creation_rules(self):
        buyer = self.member()
        ev = bs.make_event(self.org, zones=(("Floor", 1500, 10), ("Free", 0, 10)))
        show_id = ev["shows"][0]["show"]["id"]
        paid_zone, free_zone = [z["id"] for z in ev["shows"][0]["zones"]]
        booking = buyer.reserve(show_id, paid_zone).json()["data"]

        self.assertError(buyer.post("/payments", {"booking_id": booking["id"]}), 400,
                         "BAD_REQUEST")  # no Idempotency-Key
        first = ps.start_payment(buyer, booking["id"], key="same-key")
        self.assertEqual(first.status, 201, first)
        replay = ps.start_payment(buyer, booking["id"], key="same-key")
        self.assertEqual((replay.status, replay.body), (first.status, first.body))
        other_key = ps.start_payment(buyer, booking["id"])
        self.assertEqual(other_key.status, 200, other_key)
        self.assertEqual(other_key.json()["data"]["id"], first.json()["data"]["id"])
        self.assertEqual(other_key.json()["data"]["checkout_url"],
                         first.json()["data"]["checkout_url"])
        self.assertEqual(bs.query(self.server.data_dir, "SELECT COUNT(*) FROM payments WHERE "
                                                        "booking_id = ?", (booking["id"],)),
                         [(1,)])

        self.assertError(ps.start_payment(self.member(), booking["id"]), 404, "NOT_FOUND")
        free = buyer.reserve(show_id, free_zone).json()["data"]
        self.assertError(ps.start_payment(buyer, free["id"]), 409, "INVALID_STATE")
        r = buyer.post("/payments", {"booking_id": booking["id"], "return_path": "//evil.example"},
                       headers={"Idempotency-Key": bs.unique("k")})
        self.assertError(r, 422, "VALIDATION_FAILED")
        self.assertIn("return_path", r.json()["error"]["details"]["fields"])
        self.assertError(buyer.post("/payments", {}, headers={"Idempotency-Key": "k2"}), 422,
                         "VALIDATION_FAILED")
        cancelled = buyer.reserve(show_id, paid_zone).json()["data"]
        self.assertEqual(buyer.post("/bookings/%s/cancel" % cancelled["id"]).status, 200)
        self.assertError(ps.start_payment(buyer, cancelled["id"]), 409, "INVALID_STATE")

    def test_checkout_returns_to_the_origin_the_buyer_used(self):
        buyer = self.member()
        ev = bs.make_event(self.org, zones=(("Floor", 1200, 10),))
        show_id, zone_id = bs.first_zone(ev)
        port = self.server.http_port
        # The name this server answers to: its own origin; another name: the public URL (which
        # the test server has on 127.0.0.1, HTTPS).
        cases = (("localhost:%d" % port, "http://localhost:%d" % port),
                 ("evil.example", None))
        for host, origin in cases:
            with self.subTest(host):
                booking = buyer.reserve(show_id, zone_id).json()["data"]
                r = buyer.post("/payments", {"booking_id": booking["id"]},
                               headers={"Idempotency-Key": bs.unique("k"), "Host": host})
                self.assertEqual(r.status, 201, r)
                url = urllib.parse.urlsplit(r.json()["data"]["checkout_url"])
                if origin:
                    self.assertEqual("%s://%s" % (url.scheme, url.netloc), origin)
                else:
                    self.assertEqual(url.hostname, "127.0.0.1")
                self.assertTrue(url.path.startswith("/psp/checkout/"), url)
                back = urllib.parse.urlsplit(ps.pay(self.server, url.geturl()).header("Location"))
                self.assertEqual((back.scheme, back.netloc, back.path),
                                 (url.scheme, url.netloc, "/checkout/return"))

    def test_declined_card_releases_the_seats(self):
        buyer = self.member()
        ev = bs.make_event(self.org, zones=(("Floor", 4000, 5),))
        show_id, zone_id = bs.first_zone(ev)
        booking, payment, paid = ps.paid_booking(self.server, buyer, self.org, event=ev,
                                                 card=ps.CARD_DECLINED)
        self.assertEqual(paid.status, 303)
        self.assertIn("result=failed", paid.header("Location"))
        ps.wait_status(lambda: buyer.get("/payments/" + payment["id"]), "failed", what="payment")
        ps.wait_status(lambda: buyer.booking(booking["id"]), "cancelled", what="booking")
        self.assertEqual(bs.available(self.server, show_id, zone_id), 5)
        wait_until(lambda: self.saga(payment["id"])[0] == "released", 15, what="saga released")
        self.assertEqual(ps.transfers(self.server.data_dir, payment["id"]), [])
        self.assertError(buyer.post("/bookings/%s/confirm" % booking["id"]), 409, "INVALID_STATE")

    def test_buyer_cancels_a_paid_booking_and_is_refunded(self):
        buyer = self.member()
        ev = bs.make_event(self.org, zones=(("Floor", 3000, 6),))
        show_id, zone_id = bs.first_zone(ev)
        booking, payment, _ = ps.paid_booking(self.server, buyer, self.org, event=ev)
        ps.wait_status(lambda: buyer.booking(booking["id"]), "confirmed", what="booking")
        self.assertError(self.member().post("/bookings/%s/cancel" % booking["id"]), 404,
                         "NOT_FOUND")
        r = buyer.post("/bookings/%s/cancel" % booking["id"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["data"]["status"], "cancelled")
        self.assertEqual(bs.available(self.server, show_id, zone_id), 6)
        p = ps.wait_status(lambda: buyer.get("/payments/" + payment["id"]), "refunded")
        self.assertEqual(p["refunded"]["amount"], 3000)
        self.assertEqual(buyer.booking(booking["id"]).json()["data"]["status"], "cancelled")
        self.assertEqual(bs.query(self.server.data_dir, "SELECT reason, actor_id FROM refunds "
                                                        "WHERE payment_id = ?", (payment["id"],)),
                         [("the booking was cancelled by its buyer", buyer.user_id)])

    def test_bad_card_details_are_refused_on_the_page(self):
        buyer = self.member()
        _, payment, r = ps.paid_booking(self.server, buyer, self.org, card="4242 4242 4242 4241")
        self.assertEqual(r.status, 422)
        self.assertIn(b"not valid", r.body)
        r = ps.pay(self.server, payment["checkout_url"], expiry="01/20")
        self.assertEqual(r.status, 422)
        self.assertEqual(buyer.get("/payments/" + payment["id"]).json()["data"]["status"],
                         "pending")

    def pending_payment(self):
        buyer = self.member()
        ev = bs.make_event(self.org, zones=(("Floor", 3000, 10),))
        booking = buyer.reserve(*bs.first_zone(ev)).json()["data"]
        payment = ps.start_payment(buyer, booking["id"]).json()["data"]
        return buyer, booking, payment

    def event(self, payment_id, type_="payment.succeeded"):
        return {"id": bs.unique("evt_"), "type": type_, "created": int(time.time()),
                "data": {"payment_id": payment_id}}

    def test_webhook_signatures(self):
        buyer, booking, payment = self.pending_payment()
        ev = self.event(payment["id"])
        body = json.dumps(ev).encode()
        now = int(time.time())
        refused = {
            "forged": ps.post_webhook(self.server, ev, ["not-the-secret-at-all-000000"]),
            "stale": ps.post_webhook(self.server, ev, [self.secret], t=now - 301),
            "future": ps.post_webhook(self.server, ev, [self.secret], t=now + 301),
            "altered": ps.post_webhook(self.server, ev, None, body=body.replace(b"payment.succeeded", b"payment.failed"),
                                       header=ps.signature([self.secret], body)),
            "malformed": ps.post_webhook(self.server, ev, None, header="v1=abc"),
            "missing": ps.post_webhook(self.server, ev, None, header=""),
        }
        for name, r in refused.items():
            with self.subTest(name):
                self.assertError(r, 400, "BAD_REQUEST")
        self.assertEqual(buyer.get("/payments/" + payment["id"]).json()["data"]["status"],
                         "pending")
        self.assertEqual(ps.transfers(self.server.data_dir, payment["id"]), [])

        ok = ps.post_webhook(self.server, ev, [self.secret])
        self.assertEqual(ok.status, 200, ok)
        self.assertFalse(ok.json()["data"]["duplicate"])
        replay = ps.post_webhook(self.server, ev, [self.secret])
        self.assertEqual(replay.status, 200, replay)
        self.assertTrue(replay.json()["data"]["duplicate"])
        ps.wait_status(lambda: buyer.booking(booking["id"]), "confirmed", what="booking")
        self.assertEqual([k for k, _ in ps.transfers(self.server.data_dir, payment["id"])][:1],
                         ["sale"])
        self.assertEqual(bs.query(self.server.data_dir, "SELECT COUNT(*) FROM ledger_transfers "
                                                        "WHERE kind = 'sale' AND reference = ?",
                                  (payment["id"],)), [(1,)])

    def test_webhook_secret_rotation(self):
        # Several v1 values: one made with a secret we do not hold, one with ours.
        buyer, booking, payment = self.pending_payment()
        ev = self.event(payment["id"])
        r = ps.post_webhook(self.server, ev, ["a-secret-the-server-lacks-00000", self.secret])
        self.assertEqual(r.status, 200, r)
        # Signed only with the previous secret, still configured during the rotation.
        buyer2, booking2, payment2 = self.pending_payment()
        r = ps.post_webhook(self.server, self.event(payment2["id"]), [OLD_SECRET])
        self.assertEqual(r.status, 200, r)
        ps.wait_status(lambda: buyer.get("/payments/" + payment["id"]), "succeeded")
        ps.wait_status(lambda: buyer2.get("/payments/" + payment2["id"]), "succeeded")

    def test_admin_refunds_partly_then_fully(self):
        buyer = self.member()
        ev = bs.make_event(self.org, zones=(("Floor", 5000, 4),))
        show_id, zone_id = bs.first_zone(ev)
        booking, payment, _ = ps.paid_booking(self.server, buyer, self.org, event=ev)
        ps.wait_status(lambda: buyer.booking(booking["id"]), "confirmed", what="booking")
        path = "/payments/%s/refund" % payment["id"]
        self.assertError(buyer.post(path, {"reason": "mine"},
                                    headers={"Idempotency-Key": bs.unique("k")}), 403,
                         "FORBIDDEN")
        r = self.admin.post(path, {"amount": 6000, "reason": "too much"},
                            headers={"Idempotency-Key": bs.unique("k")})
        self.assertError(r, 422, "VALIDATION_FAILED")
        r = self.admin.post(path, {"amount": 1000, "reason": "goodwill"},
                            headers={"Idempotency-Key": bs.unique("k")})
        self.assertEqual(r.status, 201, r)
        p = ps.wait_status(lambda: buyer.get("/payments/" + payment["id"]), "refunded")
        self.assertEqual(p["refunded"]["amount"], 1000)
        time.sleep(0.3)
        self.assertEqual(buyer.booking(booking["id"]).json()["data"]["status"], "confirmed")
        r = self.admin.post(path, {"reason": "show cancelled"},
                            headers={"Idempotency-Key": bs.unique("k")})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["data"]["amount"]["amount"], 4000)
        ps.wait_status(lambda: buyer.booking(booking["id"]), "refunded", what="booking")
        self.assertEqual(bs.available(self.server, show_id, zone_id), 4)
        wait_until(lambda: bs.query(self.server.data_dir,
                                    "SELECT refunded FROM payments WHERE id = ?",
                                    (payment["id"],))[0][0] == 5000, 10)
        audits = bs.query(self.server.data_dir,
                          "SELECT actor_id FROM audit_log WHERE action = "
                          "'payouts.refund_requested' AND entity_id = ?", (payment["id"],))
        self.assertEqual(len(audits), 2)
        self.assertEqual(audits[0][0], self.admin.user_id)

    def test_payouts_need_available_money_and_an_admin(self):
        seller = bs.organizer(self.server)
        buyer = self.member()
        booking, payment, _ = ps.paid_booking(self.server, buyer, seller, price=10000)
        ps.wait_status(lambda: buyer.booking(booking["id"]), "confirmed", what="booking")
        wait_until(lambda: ps.balances(seller).get("USD", {}).get("available", {})
                   .get("amount") == 9000, 15, what="escrow released")

        def request(amount):
            return seller.post("/payouts", {"amount": {"amount": amount, "currency": "USD"}},
                               headers={"Idempotency-Key": bs.unique("k")})
        r = request(9001)
        self.assertError(r, 422, "VALIDATION_FAILED")
        self.assertIn("amount", r.json()["error"]["details"]["fields"])
        self.assertError(buyer.get("/balance"), 403, "FORBIDDEN")
        self.assertError(buyer.post("/payouts", {"amount": 1, "currency": "USD"},
                                    headers={"Idempotency-Key": "x"}), 403, "FORBIDDEN")

        first = request(6000)
        self.assertEqual(first.status, 201, first)
        first = first.json()["data"]
        self.assertEqual(first["status"], "pending_approval")
        bal = ps.balances(seller)["USD"]
        self.assertEqual((bal["available"]["amount"], bal["payouts_pending"]["amount"]),
                         (3000, 6000))
        self.assertError(request(3001), 422, "VALIDATION_FAILED")

        listed = self.admin.get("/admin/payouts?status=pending_approval").json()["data"]
        self.assertIn(first["id"], [p["id"] for p in listed])
        mine = next(p for p in listed if p["id"] == first["id"])
        self.assertEqual(mine["user_id"], seller.user_id)
        self.assertTrue(mine["user_email"].endswith("@example.org"), mine)
        self.assertIn("souk_payouts_pending_approval", self.server.get("/metrics").body.decode())
        deny = "/admin/payouts/%s/deny" % first["id"]
        self.assertError(seller.post(deny, {"reason": "no"}), 403, "FORBIDDEN")
        self.assertError(self.admin.post(deny, {}), 422, "VALIDATION_FAILED")
        r = self.admin.post(deny, {"reason": "bank details unverified"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["data"]["status"], "denied")
        self.assertError(self.admin.post(deny, {"reason": "again"}), 409, "INVALID_STATE")
        self.assertEqual(ps.balances(seller)["USD"]["available"]["amount"], 9000)

        second = request(9000).json()["data"]
        r = self.admin.post("/admin/payouts/%s/approve" % second["id"], {"reason": "ok"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["data"]["status"], "in_transit")
        ps.wait_status(lambda: _payout(seller, second["id"]), "paid", what="payout")
        bal = ps.balances(seller)["USD"]
        self.assertEqual((bal["available"]["amount"], bal["payouts_pending"]["amount"]), (0, 0))
        self.assertEqual(
            bs.query(self.server.data_dir, "SELECT balance FROM ledger_accounts WHERE id = "
                                           "'payouts_in_transit:platform:USD'"), [(0,)])
        audit = bs.query(self.server.data_dir,
                         "SELECT action, actor_id, details FROM audit_log WHERE entity_id IN "
                         "(?, ?) AND action IN ('payouts.denied', 'payouts.approved') ORDER BY "
                         "id", (first["id"], second["id"]))
        self.assertEqual([a[0] for a in audit], ["payouts.denied", "payouts.approved"])
        self.assertTrue(all(a[1] == self.admin.user_id for a in audit))
        self.assertIn("bank details unverified", audit[0][2])
        entries = seller.get("/ledger/entries?per_page=100").json()
        self.assertGreaterEqual(entries["meta"]["total"], 6)
        self.assertIn("payout_denied", [e["kind"] for e in entries["data"]])
        self.assertEqual(len(seller.get("/payouts").json()["data"]), 2)

    def test_platform_fee_is_set_per_tenant(self):
        path = "/admin/fees/default"
        self.assertError(self.org.put(path, {"bps": 100}), 403, "FORBIDDEN")
        self.assertError(self.admin.put(path, {"bps": 10001}), 422, "VALIDATION_FAILED")
        try:
            r = self.admin.put(path, {"bps": 250})
            self.assertEqual(r.status, 200, r)
            buyer = self.member()
            _, payment, _ = ps.paid_booking(self.server, buyer, self.org, price=2500)
            ps.wait_status(lambda: buyer.get("/payments/" + payment["id"]), "succeeded")
            # 2.5% of 25.00 is 0.625: rounded half up to 63 cents for the platform
            self.assertEqual(bs.query(self.server.data_dir, "SELECT fee FROM payments WHERE id = ?",
                                      (payment["id"],)), [(63,)])
            sale = bs.query(self.server.data_dir,
                            "SELECT a.kind, e.amount FROM ledger_entries e JOIN ledger_transfers t "
                            "ON t.id = e.transfer_id JOIN ledger_accounts a ON a.id = e.account_id "
                            "WHERE t.kind = 'sale' AND t.reference = ? ORDER BY a.kind",
                            (payment["id"],))
            self.assertEqual(sale, [("fees_revenue", -63), ("psp_clearing", 2500),
                                    ("seller_pending", -2437)])
            audit = bs.query(self.server.data_dir, "SELECT actor_id FROM audit_log WHERE action = "
                                                   "'payouts.fee_changed'")
            self.assertIn((self.admin.user_id,), audit)
        finally:
            self.admin.put(path, {"bps": 1000})

    def test_the_simulated_psp_wants_its_api_key(self):
        body = {"reference": "x", "amount": 100, "currency": "USD", "return_url": "http://x/"}
        for auth in (None, "Bearer wrong-key", "Basic abc"):
            h = {"Authorization": auth} if auth else {}
            r = self.server.post_json("/psp/v1/intents", body, headers=h)
            self.assertEqual(r.status, 401, (auth, r))
        self.assertEqual(bs.query(self.server.data_dir, "SELECT COUNT(*) FROM psp_sim_intents "
                                                        "WHERE reference = 'x'"), [(0,)])

    def test_metrics_count_money(self):
        ps.post_webhook(self.server, self.event("nobody"), ["wrong-secret-000000000000000"])
        text = self.server.get("/metrics").body.decode()
        self.assertRegex(text, r'souk_psp_webhooks_total\{result="mismatch"\} [1-9]')
        for name in ("souk_payments_total", "souk_ledger_transfers_total",
                     "souk_checkout_saga_steps_total", "souk_payouts_pending_approval"):
            self.assertTrue(name in text, name)


class _Found:
    """One item of a list, shaped like an Api response for wait_status."""

    def __init__(self, data):
        self.status = 200 if data else 404
        self._data = data

    def json(self):
        return {"data": self._data}


def _payout(api, payout_id):
    items = api.get("/payouts?per_page=100").json()["data"]
    return _Found(next((p for p in items if p["id"] == payout_id), None))


class LatePaymentTest(MoneyCase):
    hold_seconds = 2

    def test_payment_after_the_hold_expired_is_refunded(self):
        buyer = self.member()
        ev = bs.make_event(self.org, zones=(("Floor", 2000, 3),))
        show_id, zone_id = bs.first_zone(ev)
        booking, payment, paid = ps.paid_booking(self.server, buyer, self.org, event=ev,
                                                 card=ps.CARD_LATE)
        self.assertIn("result=processing", paid.header("Location"))
        ps.wait_status(lambda: buyer.booking(booking["id"]), "expired", what="booking")
        p = ps.wait_status(lambda: buyer.get("/payments/" + payment["id"]), "refunded",
                           timeout=40, what="payment refunded")
        self.assertEqual(p["refunded"]["amount"], 2000)
        self.assertEqual(buyer.booking(booking["id"]).json()["data"]["status"], "expired")
        self.assertEqual(bs.available(self.server, show_id, zone_id), 3)
        wait_until(lambda: self.saga(payment["id"])[0] == "refunded", 15, what="saga refunded")
        self.assertIn("refunding", self.saga(payment["id"])[1])
        kinds = [k for k, _ in ps.transfers(self.server.data_dir, payment["id"])]
        self.assertEqual(kinds, ["sale"])  # the refund is referenced by its own id
        refund = bs.query(self.server.data_dir, "SELECT id, actor_id FROM refunds WHERE "
                                                "payment_id = ?", (payment["id"],))
        self.assertEqual(len(refund), 1)
        self.assertEqual(refund[0][1], "")  # the saga's own compensation
        self.assertEqual([k for k, _ in ps.transfers(self.server.data_dir, refund[0][0])],
                         ["refund", "refund_settled"])
        self.assertEqual(ps.balances(self.org).get("USD", {}).get("pending", {})
                         .get("amount", 0), 0)
        (charges, refunded), = bs.query(self.server.data_dir, "SELECT charges, refunded FROM "
                                                              "psp_sim_intents WHERE reference = ?",
                                        (payment["id"],))
        self.assertEqual((charges, refunded), (1, 2000))

    def test_an_unpaid_payment_fails_when_the_hold_runs_out(self):
        buyer = self.member()
        ev = bs.make_event(self.org, zones=(("Floor", 2000, 3),))
        booking = buyer.reserve(*bs.first_zone(ev)).json()["data"]
        payment = ps.start_payment(buyer, booking["id"]).json()["data"]
        ps.wait_status(lambda: buyer.booking(booking["id"]), "expired", what="booking")
        ps.wait_status(lambda: buyer.get("/payments/" + payment["id"]), "failed",
                       what="payment timed out")
        wait_until(lambda: self.saga(payment["id"])[0] == "expired", 15, what="saga expired")
        # The PSP no longer takes the card: nothing is charged.
        page = self.server.get(ps.path_of(payment["checkout_url"]))
        self.assertNotIn(b"card_number", page.body)
        form = urllib.parse.urlencode({"card_number": ps.CARD_OK, "expiry": "12/34",
                                       "cvc": "123"})
        r = self.server.request("POST", ps.path_of(payment["checkout_url"]), body=form,
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 303, r)
        self.assertIn("result=failed", r.header("Location"))
        self.assertEqual(bs.query(self.server.data_dir, "SELECT charges FROM psp_sim_intents "
                                                        "WHERE reference = ?", (payment["id"],)),
                         [(0,)])
        self.assertEqual(ps.transfers(self.server.data_dir, payment["id"]), [])

    def test_paying_an_expired_hold_is_refused(self):
        buyer = self.member()
        ev = bs.make_event(self.org, zones=(("Floor", 2000, 3),))
        booking = buyer.reserve(*bs.first_zone(ev)).json()["data"]
        ps.wait_status(lambda: buyer.booking(booking["id"]), "expired", what="booking")
        self.assertError(ps.start_payment(buyer, booking["id"]), 410, "RESERVATION_EXPIRED")


class ConfirmBeforeTheEventTest(MoneyCase):
    """API.md: confirm answers 200 for a succeeded payment. Payments tells booking through the bus;
    with its deliveries slowed, a buyer who confirms right after paying is ahead of the event."""
    server_extra = {"testing.bus_delivery_delay_ms": "3000"}

    def test_confirm_after_paying_but_before_the_event_arrives(self):
        buyer = self.member()
        ev = bs.make_event(self.org, zones=(("Floor", 1800, 5),))
        show_id, zone_id = bs.first_zone(ev)
        booking = buyer.reserve(show_id, zone_id, 1).json()["data"]
        confirm = "/bookings/%s/confirm" % booking["id"]
        self.assertError(buyer.post(confirm, {}), 409, "PAYMENT_REQUIRED")
        payment = ps.start_payment(buyer, booking["id"]).json()["data"]
        self.assertEqual(ps.pay(self.server, payment["checkout_url"], ps.CARD_OK).status, 303)
        ps.wait_status(lambda: buyer.get("/payments/" + payment["id"]), "succeeded",
                       what="payment")
        early = buyer.booking(booking["id"]).json()["data"]["status"]
        r = buyer.post(confirm, {})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["data"]["status"], "confirmed")
        self.assertEqual(early, "reserved", "the event was not slowed enough to test anything")
        self.assertEqual(bs.available(self.server, show_id, zone_id), 4)
        # The event, when it comes, finds the booking confirmed: one confirmation, with the
        # payment, and the saga runs to its end.
        wait_until(lambda: self.saga(payment["id"])[0] == "completed", 20, what="saga completed")
        confirmed = bs.query(self.server.data_dir,
                             "SELECT json_extract(payload, '$.payment_id') FROM outbox WHERE "
                             "type = 'booking.confirmed' AND "
                             "json_extract(payload, '$.booking_id') = ?", (booking["id"],))
        self.assertEqual(confirmed, [(payment["id"],)])
        self.assertEqual(buyer.post(confirm, {}).status, 200)


if __name__ == "__main__":
    unittest.main()
