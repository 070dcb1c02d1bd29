"""Helpers for the booking integration tests: a server with booking-friendly settings, users
(organizers through the CLI, members registered over HTTP in parallel), events/shows/zones,
reservations, and looks into the SQLite file behind the server.

Python 3 standard library only; builds on harness.py.
"""

import concurrent.futures
import itertools
import json
import os
import re
import sqlite3
import subprocess
import threading
import uuid

import harness
from harness import Server, ServerTestCase, child_env, run_cli, souk_bin, wait_until

API = "/api/v1"
PASSWORD = "booking pass 123"

# Far enough from now in both directions that no test depends on the clock.
PAST = "2020-01-01T00:00:00Z"
FUTURE = "2035-06-01T20:00:00Z"
FUTURE_END = "2035-06-01T23:00:00Z"

# Limits that a test suite hammering one server from 127.0.0.1 would otherwise hit.
FAST_LIMITS = {
    "rate_limits.auth.per_second": "10000",
    "rate_limits.auth.burst": "100000",
    "rate_limits.reserve.per_second": "100000",
    "rate_limits.reserve.burst": "100000",
    "rate_limits.write.per_second": "10000",
    "rate_limits.write.burst": "100000",
}

_counter = itertools.count(1)


def unique(prefix="x"):
    """A short unique word (letters and digits only, so it survives slugs and LIKE)."""
    return "%s%s%d" % (prefix, uuid.uuid4().hex[:8], next(_counter))


def booking_server(hold_seconds=2, data_dir=None, extra=None):
    sets = dict(FAST_LIMITS)
    sets["booking.hold_seconds"] = str(hold_seconds)
    sets.update(extra or {})
    return Server(data_dir=data_dir, sets=sets, https=False)


def metric(server, name):
    """A series' value on GET /metrics (one without labels, or written out with them)."""
    body = server.get("/metrics").body.decode()
    m = re.search(r"^%s (\S+)$" % re.escape(name), body, re.M)
    if not m:
        raise AssertionError("no %s in /metrics" % name)
    return float(m.group(1))


def wait_ready(server, timeout=30.0):
    def ready():
        try:
            return server.get("/ready", timeout=2).status == 200
        except OSError:
            return False
    wait_until(ready, timeout, what="/ready")


def start(server, timeout=60.0):
    server.start(timeout=timeout)
    wait_ready(server)
    return server


def create_user_cli(data_dir, email, role="organizer", password=PASSWORD):
    """`souk admin create-user` (before the server starts, or while it runs)."""
    cmd = [souk_bin(), "admin", "create-user", "--email", email, "--role", role, "--env", "test",
           "--set", "data_dir=" + data_dir]
    p = subprocess.run(cmd, input=password + "\n", capture_output=True, text=True,
                       env=child_env(), timeout=60)
    if p.returncode != 0:
        raise AssertionError("create-user %s failed (%s): %s" % (email, p.returncode, p.stderr))
    return p.stdout.strip()


def souk_check(data_dir):
    """Runs `souk check`; returns (exit code, stdout)."""
    p = run_cli("check", "--env", "test", data_dir=data_dir)
    return p.returncode, p.stdout + p.stderr


class Api:
    """A caller of one server, with or without a bearer token."""

    def __init__(self, server, token=None, user=None):
        self.server = server
        self.token = token
        self.user = user or {}

    @property
    def user_id(self):
        return self.user.get("id")

    def call(self, method, path, body=None, headers=None, timeout=30.0):
        h = {}
        if body is not None:
            h["Content-Type"] = "application/json"
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        h.update(headers or {})
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if not path.startswith("/"):
            path = API + "/" + path
        elif not path.startswith(API) and not path.startswith(("/health", "/ready", "/metrics")):
            path = API + path
        return self.server.request(method, path, body=body, headers=h, timeout=timeout)

    def prepared(self, method, path, body=None, headers=None, timeout=60.0):
        """A callable sending this request on a connection opened now (so that a race measures
        the server, not the TCP handshakes)."""
        h = {"Content-Type": "application/json"}
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        h.update(headers or {})
        data = json.dumps(body if body is not None else {}).encode()
        c = self.server.conn(timeout=timeout)
        c.connect()

        def send():
            try:
                return harness.do_request(c, method, API + path, data, h)
            finally:
                c.close()
        return send

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, {} if body is None else body, **kw)

    def put(self, path, body, **kw):
        return self.call("PUT", path, body, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)

    # -- booking shortcuts ---------------------------------------------------------------

    def reserve(self, show_id, zone_id, quantity=1, key=None, headers=None, body=None):
        h = {}
        if key is not False:
            h["Idempotency-Key"] = key or unique("k")
        h.update(headers or {})
        if body is None:
            body = {"show_id": show_id, "zone_id": zone_id, "quantity": quantity}
        return self.post("/bookings/reserve", body, headers=h)

    def booking(self, booking_id):
        return self.get("/bookings/" + booking_id)


def login(server, email, password=PASSWORD):
    r = Api(server).post("/auth/login", {"email": email, "password": password})
    if r.status != 200:
        raise AssertionError("login %s: %r" % (email, r))
    d = r.json()["data"]
    return Api(server, d["access_token"], d.get("user"))


def register_member(server, email=None, password=PASSWORD):
    email = email or "%s@example.org" % unique("m")
    r = Api(server).post("/auth/register", {"email": email, "password": password,
                                            "display_name": email.split("@")[0]})
    if r.status != 201:
        raise AssertionError("register %s: %r" % (email, r))
    return login(server, email, password)


def register_members(server, n, workers=12):
    """n fresh members (registered and logged in), in parallel: argon2 is slow under ASan."""
    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        return list(ex.map(lambda _: register_member(server), range(n)))


def organizer(server, email=None):
    """An organizer: made with the CLI (the server may be running), then logged in."""
    email = email or "%s@example.org" % unique("org")
    create_user_cli(server.data_dir, email, "organizer")
    return login(server, email)


def make_event(org, title=None, *, description="", category="music", starts_at=FUTURE,
               sale_starts_at=PAST, max_per_user=100000, publish=True, shows=1,
               zones=(("Floor", 0, 100),), expect=201):
    """Creates an event with `shows` shows, each with the given (name, price, capacity) zones.

    Returns {"event": ..., "shows": [{"show": ..., "zones": [...]}, ...]}."""
    title = title or "Event " + unique("e")
    r = org.post("/events", {"title": title, "description": description, "category": category,
                             "venue": "Hall", "starts_at": starts_at,
                             "sale_starts_at": sale_starts_at, "max_per_user": max_per_user})
    if r.status != expect:
        raise AssertionError("create event: %r" % r)
    if r.status != 201:
        return r
    ev = r.json()["data"]
    out = {"event": ev, "shows": []}
    for _ in range(shows):
        r = org.post("/events/%s/shows" % ev["id"], {"starts_at": starts_at, "ends_at": FUTURE_END
                                                     if starts_at == FUTURE else starts_at})
        if r.status != 201:
            raise AssertionError("create show: %r" % r)
        show = r.json()["data"]
        zs = []
        for name, price, capacity in zones:
            r = org.post("/shows/%s/zones" % show["id"],
                         {"name": name, "price": {"amount": price, "currency": "USD"},
                          "capacity": capacity})
            if r.status != 201:
                raise AssertionError("create zone: %r" % r)
            zs.append(r.json()["data"])
        out["shows"].append({"show": show, "zones": zs})
    if publish:
        r = org.post("/events/%s/publish" % ev["id"])
        if r.status != 200:
            raise AssertionError("publish: %r" % r)
        out["event"] = r.json()["data"]
    return out


def event_with_members(server, zone, members=1):
    """Starts `server` with a new organizer's published event of one zone (name, price,
    capacity) and `members` registered members; returns (show_id, zone_id, [Api, ...])."""
    email = "%s@example.org" % unique("org")
    create_user_cli(server.data_dir, email)
    start(server)
    org = login(server, email)
    show_id, zone_id = first_zone(make_event(org, zones=(zone,)))
    return show_id, zone_id, register_members(server, members, workers=members)


def first_zone(ev):
    return ev["shows"][0]["show"]["id"], ev["shows"][0]["zones"][0]["id"]


def zones_of(server, show_id, token=None):
    r = Api(server, token).get("/shows/%s/zones" % show_id)
    if r.status != 200:
        raise AssertionError("zones of %s: %r" % (show_id, r))
    return {z["id"]: z for z in r.json()["data"]}


def available(server, show_id, zone_id):
    return zones_of(server, show_id)[zone_id]["available"]


def error_code(resp):
    try:
        return resp.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


# -- the SQLite file -------------------------------------------------------------------------


def db_path(data_dir):
    return os.path.join(data_dir, "souk.db")


def query(data_dir, sql, args=()):
    """Rows from the live database (read-only; WAL lets us read beside the writer)."""
    c = sqlite3.connect("file:%s?mode=ro" % db_path(data_dir), uri=True, timeout=10)
    try:
        return c.execute(sql, args).fetchall()
    finally:
        c.close()


def db_zone(data_dir, zone_id):
    """(capacity, held, confirmed, live reserved quantity, live confirmed quantity)."""
    (row,) = query(data_dir,
                   "SELECT z.capacity, z.held, z.confirmed, "
                   "COALESCE((SELECT SUM(quantity) FROM bookings WHERE zone_id = z.id AND "
                   "status = 'reserved'), 0), "
                   "COALESCE((SELECT SUM(quantity) FROM bookings WHERE zone_id = z.id AND "
                   "status = 'confirmed'), 0) FROM zones z WHERE z.id = ?", (zone_id,))
    return row


def db_booking_status(data_dir, booking_id):
    rows = query(data_dir, "SELECT status FROM bookings WHERE id = ?", (booking_id,))
    return rows[0][0] if rows else None


# -- firing requests at once -----------------------------------------------------------------


def fire_together(fns, timeout=120.0):
    """Runs every fn in its own thread, released together by a barrier; returns their results
    in order (an exception is returned in place of its result)."""
    barrier = threading.Barrier(len(fns))
    results = [None] * len(fns)

    def run(i, fn):
        try:
            barrier.wait(timeout)
            results[i] = fn()
        except Exception as e:  # noqa: BLE001 - reported to the test
            results[i] = e

    threads = [threading.Thread(target=run, args=(i, fn), daemon=True) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    return results


class BookingCase(ServerTestCase):
    """One server (holds of 300 s) with two organizers (org, org2), two members (alice, bob)
    and an anonymous caller (anon)."""

    @classmethod
    def new_server(cls):
        return booking_server(hold_seconds=300)

    @classmethod
    def prepare(cls):
        cls.org_email = "%s@example.org" % unique("org")
        cls.org2_email = "%s@example.org" % unique("org")
        create_user_cli(cls.server.data_dir, cls.org_email)
        create_user_cli(cls.server.data_dir, cls.org2_email)
        start(cls.server)
        cls.org = login(cls.server, cls.org_email)
        cls.org2 = login(cls.server, cls.org2_email)
        cls.alice = register_member(cls.server)
        cls.bob = register_member(cls.server)
        cls.anon = Api(cls.server)

    def assertStatus(self, resp, status, code=None):
        self.assertEqual(resp.status, status, resp)
        if code is not None:
            self.assertEqual(error_code(resp), code, resp)
