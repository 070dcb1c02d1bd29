#!/usr/bin/env python3
"""Full checkout sagas per second, end to end, against a real `souk serve` (release build):
reserve -> POST /payments -> the PSP's hosted checkout page -> card form -> signed webhook ->
booking confirmed (polled by the buyer). Each worker thread is one buyer on one keep-alive
connection. Before the sagas, the same workers only reserve for the same time, so the run also
reports sagas/s over reserves/s measured by the same client in the same run.

usage: SOUK_BIN=build/release/souk tests/load/bench_checkout.py [--workers N] [--duration S]
         [--rounds N]
Python 3 standard library only (reuses tests/integration's harness).
"""

import argparse
import http.client
import json
import os
import statistics
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import booking_support as bs  # noqa: E402
import payments_support as ps  # noqa: E402

CARD = urllib.parse.urlencode({"name": "Load", "card_number": ps.CARD_OK, "expiry": "12/34",
                               "cvc": "123"})


class Client:
    """One keep-alive connection, one buyer."""

    def __init__(self, port, token):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.token = token
        self.settle_s = []  # card charged -> booking confirmed (webhook, saga), per saga

    def call(self, method, path, body=None, ctype="application/json", extra=None):
        h = {"Authorization": "Bearer " + self.token}
        if body is not None:
            h["Content-Type"] = ctype
        h.update(extra or {})
        self.c.request(method, path, body=body, headers=h)
        r = self.c.getresponse()
        return r.status, r.read(), r.getheader("Location")

    def reserve(self, show_id, zone_id, n):
        s, b, _ = self.call("POST", "/api/v1/bookings/reserve",
                            json.dumps({"show_id": show_id, "zone_id": zone_id, "quantity": 1}),
                            extra={"Idempotency-Key": "r-%d-%d" % (id(self), n)})
        if s != 201:
            raise RuntimeError("reserve %s %s" % (s, b[:200]))
        return json.loads(b)["data"]["id"]

    def saga(self, show_id, zone_id, n):
        booking = self.reserve(show_id, zone_id, n)
        s, b, _ = self.call("POST", "/api/v1/payments", json.dumps({"booking_id": booking}),
                            extra={"Idempotency-Key": "p-%d-%d" % (id(self), n)})
        if s != 201:
            raise RuntimeError("payment %s %s" % (s, b[:200]))
        url = urllib.parse.urlsplit(json.loads(b)["data"]["checkout_url"]).path
        s, _, _ = self.call("GET", url)
        s, b, loc = self.call("POST", url, CARD, "application/x-www-form-urlencoded")
        if s != 303 or "result=succeeded" not in (loc or ""):
            raise RuntimeError("card %s %s" % (s, loc))
        charged = time.monotonic()
        while True:
            s, b, _ = self.call("GET", "/api/v1/bookings/" + booking)
            if s == 200 and json.loads(b)["data"]["status"] == "confirmed":
                self.settle_s.append(time.monotonic() - charged)
                return
            time.sleep(0.02)  # a browser polls too; the client shares the 2 cores


def run_phase(clients, duration, fn):
    """Runs fn(client, n) in every client's thread until the deadline; returns (count/s,
    latencies)."""
    deadline = time.monotonic() + duration
    counts, lat, errors = [0] * len(clients), [], []
    lock = threading.Lock()

    def worker(i, c):
        n = 0
        mine = []
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            try:
                fn(c, n)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))
                return
            mine.append(time.monotonic() - t0)
            n += 1
        counts[i] = n
        with lock:
            lat.extend(mine)

    start = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError("errors: %s" % errors[:3])
    return sum(counts) / (time.monotonic() - start), sorted(lat)


def pct(sorted_values, q):
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))] * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    sets = dict(bs.FAST_LIMITS)
    sets.update({"booking.hold_seconds": "600", "log.requests": "false",
                 "rate_limits.write.per_second": "100000", "rate_limits.write.burst": "100000",
                 "identity.require_mfa_for_staff": "false"})
    server = bs.Server(sets=sets, https=False)
    try:
        bs.start(server)
        org = bs.organizer(server)
        ev = bs.make_event(org, zones=(("Floor", 2500, 10_000_000),))
        show_id, zone_id = bs.first_zone(ev)
        members = bs.register_members(server, a.workers, workers=4)
        clients = [Client(server.http_port, m.token) for m in members]
        results = []
        for r in range(1, a.rounds + 1):
            reserves, _ = run_phase(clients, a.duration,
                                    lambda c, n, r=r: c.reserve(show_id, zone_id, r * 10**7 + n))
            sagas, lat = run_phase(clients, a.duration,
                                   lambda c, n, r=r: c.saga(show_id, zone_id, r * 10**7 + n))
            settle = sorted(x for c in clients for x in c.settle_s)
            for c in clients:
                c.settle_s.clear()
            row = {"round": r, "workers": a.workers, "reserves_per_s": round(reserves, 1),
                   "sagas_per_s": round(sagas, 1), "ratio": round(sagas / reserves, 3),
                   "saga_p50_ms": round(pct(lat, 0.5), 1), "saga_p99_ms": round(pct(lat, 0.99), 1),
                   "settle_p50_ms": round(pct(settle, 0.5), 1),
                   "settle_p99_ms": round(pct(settle, 0.99), 1)}
            results.append(row)
            print(json.dumps(row), flush=True)
        code, out = bs.souk_check(server.data_dir)
        print("souk check: exit %d, %s" % (code, out.strip().splitlines()[-1]))
        med = lambda k: statistics.median(x[k] for x in results)  # noqa: E731
        print("\n| measure | median of %d rounds |\n|---|---|" % a.rounds)
        for k in ("reserves_per_s", "sagas_per_s", "ratio", "saga_p50_ms", "saga_p99_ms",
                  "settle_p50_ms", "settle_p99_ms"):
            print("| %s | %s |" % (k, med(k)))
    finally:
        if server.running():
            server.stop()
        server.cleanup()


if __name__ == "__main__":
    main()
