"""SIGKILL between the steps of the checkout saga: the card is charged, then the server dies at a
random moment (before the webhook, between the payment and the confirmation, between the
confirmation and the ticket...). After a restart the saga finishes from what SQLite and the
outbox hold: one charge, one sale in the ledger, one confirmation, and `souk check` passes."""

import http.client
import os
import random
import threading
import time
import unittest

import booking_support as bs
import payments_support as ps
from harness import wait_until

ROUNDS = 4
BURST = 8


class CheckoutCrashTest(unittest.TestCase):

    def setUp(self):
        # Each event waits 100 ms before delivery, so that a kill lands between the saga's steps.
        self.server = ps.money_server(hold_seconds=120,
                                      extra={"testing.bus_delivery_delay_ms": "100"})
        self.addCleanup(self.server.cleanup)

    def one(self, sql, args):
        rows = bs.query(self.server.data_dir, sql, args)
        return rows[0][0] if rows else None

    def checkout_burst(self, buyers, show_id, zone_id, rnd):
        """Reserves and starts a payment for each buyer, then pays them all at once and
        SIGKILLs the server a random moment after the first card is charged. Returns
        [(buyer, booking, payment)]."""
        started = []
        for buyer in buyers:
            booking = buyer.reserve(show_id, zone_id).json()["data"]
            payment = ps.start_payment(buyer, booking["id"]).json()["data"]
            started.append((buyer, booking, payment))
        pays = [lambda p=p: ps.pay(self.server, p["checkout_url"]) for _, _, p in started]
        charged = threading.Event()

        def pay(fn):
            try:
                r = fn()
                if r.status == 303:
                    charged.set()
            except (OSError, http.client.HTTPException):
                pass  # killed mid-answer
        threads = [threading.Thread(target=pay, args=(fn,), daemon=True) for fn in pays]
        for t in threads:
            t.start()
        self.assertTrue(charged.wait(30), "no card was charged")
        time.sleep(rnd.uniform(0, 0.3))
        self.server.kill()
        for t in threads:
            t.join(30)
        return started

    def test_sigkill_between_saga_steps(self):
        seed = int(os.environ.get("PAYMENT_CRASH_SEED", random.randrange(1 << 30)))
        print("\npayment crash seed %d (PAYMENT_CRASH_SEED=%d reruns it)" % (seed, seed))
        rnd = random.Random(seed)
        bs.start(self.server)
        org = bs.organizer(self.server)
        ev = bs.make_event(org, zones=(("Floor", 1500, 100),))
        show_id, zone_id = bs.first_zone(ev)
        buyers = bs.register_members(self.server, BURST + 1, workers=4)
        seen_states = {}
        paid = []
        for round_ in range(ROUNDS):
            started = self.checkout_burst(buyers[:BURST], show_id, zone_id, rnd)
            # (saga, payment, booking) as SIGKILL left them
            states = [(self.one("SELECT state FROM checkout_sagas WHERE payment_id = ?",
                                (p["id"],)),
                       self.one("SELECT status FROM payments WHERE id = ?", (p["id"],)),
                       bs.db_booking_status(self.server.data_dir, b["id"]))
                      for _, b, p in started]
            for s in states:
                seen_states[s] = seen_states.get(s, 0) + 1
            print("round %d: SIGKILL with the sagas at %s" % (round_, sorted(states)))
            code, out = bs.souk_check(self.server.data_dir)
            self.assertEqual(code, 0, "round %d, after SIGKILL:\n%s" % (round_, out))

            bs.start(self.server)
            for buyer, booking, payment in started:
                charged = self.one("SELECT charges FROM psp_sim_intents WHERE reference = ?",
                                   (payment["id"],))
                if not charged:  # the kill came before this card was charged: pay again
                    r = ps.pay(self.server, payment["checkout_url"])
                    self.assertEqual(r.status, 303, r)
                ps.wait_status(lambda: buyer.booking(booking["id"]), "confirmed", timeout=60,
                               what="round %d booking" % round_)
                wait_until(lambda: self.one("SELECT state FROM checkout_sagas WHERE payment_id "
                                            "= ?", (payment["id"],)) == "completed", 60,
                           what="round %d saga" % round_)
                paid.append((booking, payment))

        # A payment started before a crash is paid after it, at the restarted server.
        buyer = buyers[BURST]
        booking = buyer.reserve(show_id, zone_id).json()["data"]
        payment = ps.start_payment(buyer, booking["id"]).json()["data"]
        self.server.kill()
        bs.start(self.server)
        again = ps.start_payment(buyer, booking["id"])
        self.assertEqual(again.status, 200, again)
        self.assertEqual(again.json()["data"]["id"], payment["id"])
        self.assertEqual(ps.pay(self.server, again.json()["data"]["checkout_url"]).status, 303)
        ps.wait_status(lambda: buyer.booking(booking["id"]), "confirmed", timeout=60)
        wait_until(lambda: self.one("SELECT state FROM checkout_sagas WHERE payment_id = ?",
                                    (payment["id"],)) == "completed", 60, what="the last saga")
        paid.append((booking, payment))

        for booking, payment in paid:
            pid, bid = payment["id"], booking["id"]
            self.assertEqual(self.one("SELECT charges FROM psp_sim_intents WHERE reference = ?",
                                      (pid,)), 1, "charged once")
            self.assertEqual(self.one("SELECT COUNT(*) FROM ledger_transfers WHERE kind = 'sale' "
                                      "AND reference = ?", (pid,)), 1, "one sale")
            self.assertEqual(self.one("SELECT COUNT(*) FROM outbox WHERE type = "
                                      "'booking.confirmed' AND payload LIKE ?",
                                      ("%" + bid + "%",)), 1, "confirmed once")
            self.assertEqual(self.one("SELECT COUNT(*) FROM outbox WHERE type = "
                                      "'checkout.completed' AND payload LIKE ?",
                                      ("%" + pid + "%",)), 1, "completed once")
        _, held, confirmed, live_held, live_confirmed = bs.db_zone(self.server.data_dir, zone_id)
        self.assertEqual((held, confirmed), (live_held, live_confirmed))
        self.assertEqual(confirmed, len(paid))
        self.assertEqual(bs.available(self.server, show_id, zone_id), 100 - len(paid))
        self.assertEqual(ps.balances(org)["USD"]["pending"]["amount"],
                         len(paid) * (1500 - 150))
        print("saga states seen at SIGKILL: %s" % sorted((str(k), v) for k, v in seen_states.items()))
        self.server.stop()
        ps.assert_money_invariants(self, self.server.data_dir)


if __name__ == "__main__":
    unittest.main()
