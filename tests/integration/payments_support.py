"""Helpers for the payments integration tests: a server with money-friendly settings, paying
through the simulated PSP's hosted checkout page the way a browser does (GET the page, POST its
form), signed webhooks, and looks into the ledger.

Python 3 standard library only; builds on booking_support.py.
"""

import hashlib
import hmac
import html.parser
import json
import os
import time
import urllib.parse

import booking_support as bs
from harness import wait_until

CARD_OK = "4242 4242 4242 4242"
CARD_DECLINED = "4000 0000 0000 0002"
CARD_LATE = "4000 0000 0000 3063"


def money_server(hold_seconds=30, data_dir=None, extra=None):
    sets = {
        "identity.require_mfa_for_staff": "false",
        "payments.psp.late_success_seconds": "4",
        "payments.default_fee_bps": "1000",
    }
    sets.update(extra or {})
    return bs.booking_server(hold_seconds=hold_seconds, data_dir=data_dir, extra=sets)


def admin(server):
    email = "%s@example.org" % bs.unique("adm")
    bs.create_user_cli(server.data_dir, email, "admin")
    return bs.login(server, email)


def webhook_secret(data_dir):
    with open(os.path.join(data_dir, "secrets.json"), encoding="utf-8") as f:
        return json.load(f)["webhook_secret"]


def signature(secrets, body, t=None):
    t = int(time.time()) if t is None else t
    parts = ["t=%d" % t]
    for s in secrets:
        parts.append("v1=" + hmac.new(s.encode(), ("%d." % t).encode() + body,
                                      hashlib.sha256).hexdigest())
    return ",".join(parts)


def post_webhook(server, event, secrets, t=None, body=None, header=None):
    body = body if body is not None else json.dumps(event).encode()
    h = {"Content-Type": "application/json",
         "Souk-Signature": header if header is not None else signature(secrets, body, t)}
    return server.request("POST", "/api/v1/webhooks/psp", body=body, headers=h)


class _Form(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.action = None
        self.fields = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.action = a.get("action")
        elif tag == "input":
            self.fields.append(a.get("name"))


def path_of(url):
    u = urllib.parse.urlsplit(url)
    return u.path + ("?" + u.query if u.query else "")


def pay(server, checkout_url, card=CARD_OK, expiry="12/34", cvc="123"):
    """Fills in the hosted checkout page like a browser; returns the POST's response."""
    page = server.get(path_of(checkout_url))
    if page.status != 200:
        raise AssertionError("checkout page: %r" % page)
    form = _Form()
    form.feed(page.body.decode())
    if not form.action or "card_number" not in form.fields:
        raise AssertionError("no card form on the checkout page: %s" % page.body[:500])
    data = urllib.parse.urlencode({"name": "Test Buyer", "card_number": card, "expiry": expiry,
                                   "cvc": cvc}).encode()
    return server.request("POST", form.action, body=data,
                          headers={"Content-Type": "application/x-www-form-urlencoded"})


def start_payment(api, booking_id, key=None):
    return api.post("/payments", {"booking_id": booking_id},
                    headers={"Idempotency-Key": key or bs.unique("pk")})


def wait_status(fetch, want, timeout=30.0, what="status"):
    """Polls fetch() (an Api response) until data.status is want; returns the data."""
    last = {}

    def reached():
        r = fetch()
        if r.status == 200:
            last["data"] = r.json()["data"]
            return last["data"]["status"] == want
        return False
    try:
        wait_until(reached, timeout, interval=0.1, what=what)
    except AssertionError:
        raise AssertionError("%s: wanted %s, last %r" % (what, want, last.get("data")))
    return last["data"]


def paid_booking(server, buyer, org, price=2500, card=CARD_OK, event=None):
    """Reserve -> payment -> checkout page; returns (booking, payment, checkout POST response)."""
    ev = event or bs.make_event(org, zones=(("Floor", price, 50),))
    show_id, zone_id = bs.first_zone(ev)
    r = buyer.reserve(show_id, zone_id, 1)
    if r.status != 201:
        raise AssertionError("reserve: %r" % r)
    booking = r.json()["data"]
    r = start_payment(buyer, booking["id"])
    if r.status != 201:
        raise AssertionError("payment: %r" % r)
    payment = r.json()["data"]
    return booking, payment, pay(server, payment["checkout_url"], card)


def balances(api):
    r = api.get("/balance")
    if r.status != 200:
        raise AssertionError("balance: %r" % r)
    return {b["currency"]: b for b in r.json()["data"]}


def transfers(data_dir, reference):
    # In the order they were posted: two transfers of one job share created_ms, so ties go by
    # their first entry's id (ledger_entries counts up).
    return bs.query(data_dir, "SELECT kind, amount FROM ledger_transfers t WHERE reference = ? "
                              "ORDER BY created_ms, (SELECT MIN(id) FROM ledger_entries e "
                              "WHERE e.transfer_id = t.id)", (reference,))


def assert_money_invariants(test, data_dir):
    code, out = bs.souk_check(data_dir)
    test.assertEqual(code, 0, out)
    test.assertIn("money: 0 problem(s)", out)
