"""The demo data: `souk demo` (idempotent) and `souk serve --demo` seed five published events
(one in waiting-room mode, one whose sale has not opened) and three accounts whose printed
log-ins work over HTTP; the seeded database passes `souk check`."""

import re
import shutil
import tempfile
import unittest

from booking_support import Api, error_code, login, query, souk_check, start
from harness import Server, run_cli

DEMO_SLUGS = {"campus-jazz-night", "indie-film-festival", "spring-hackathon",
              "the-rushes-live", "poetry-slam"}
QUEUE_SLUG = "the-rushes-live"
NOT_OPEN_SLUG = "poetry-slam"
LOGIN_LINE = re.compile(r"^\s+(member|organizer|admin)\s+(\S+@\S+)\s+/\s+(\S+)\s*$", re.M)


def demo(data_dir):
    return run_cli("demo", "--env", "test", data_dir=data_dir)


def printed_logins(text):
    """{role: (email, password)} from the demo's printout."""
    return {role: (email, password) for role, email, password in LOGIN_LINE.findall(text)}


def new_events(text):
    m = re.search(r"Demo data ready \((\d+) new event\(s\)\)", text)
    return int(m.group(1)) if m else None


def snapshot(data_dir):
    """What the demo writes, with ids: rerunning it must leave all of it as it is."""
    sql = {
        "events": "SELECT id, slug, status, organizer_id FROM events ORDER BY id",
        "shows": "SELECT id, event_id, queue_enabled FROM shows ORDER BY id",
        "zones": "SELECT id, show_id, name, price_amount, capacity FROM zones ORDER BY id",
        "users": "SELECT id, email FROM users ORDER BY id",
        "roles": "SELECT user_id, role FROM user_roles ORDER BY user_id, role",
    }
    return {k: query(data_dir, q) for k, q in sql.items()}


def start_with_demo(server):
    """Server.start, with `--demo` added to its `souk serve` command line."""
    server.args.append("--demo")
    start(server)
    return server


class DemoTest(unittest.TestCase):

    def setUp(self):
        self.data_dir = tempfile.mkdtemp(prefix="souk-demo-")
        self.addCleanup(shutil.rmtree, self.data_dir, True)

    def server(self):
        s = Server(data_dir=self.data_dir)
        self.addCleanup(s.cleanup)
        return s

    def seed(self):
        p = demo(self.data_dir)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        return p.stdout

    def assertChecks(self):
        code, out = souk_check(self.data_dir)
        self.assertEqual(code, 0, out)
        self.assertIn("check: ok", out)

    def assertDemoListed(self, server):
        r = Api(server).get("/events?per_page=100")
        self.assertEqual(r.status, 200, r)
        self.assertEqual({e["slug"] for e in r.json()["data"]}, DEMO_SLUGS)
        self.assertEqual(r.json()["meta"]["total"], len(DEMO_SLUGS))
        return {e["slug"]: e for e in r.json()["data"]}

    def test_demo_seeds_once_and_is_idempotent(self):
        """A fresh data dir gets 5 published events (exactly one with its shows in queue mode,
        the others' not), an organizer owning them, a member and an admin, with their log-ins
        printed. A second run prints 0 new events and the same log-ins and changes nothing
        (same rows, same ids); `souk check` passes."""
        out = self.seed()
        self.assertEqual(new_events(out), 5, out)
        logins = printed_logins(out)
        self.assertEqual(set(logins), {"member", "organizer", "admin"}, out)
        first = snapshot(self.data_dir)
        self.assertEqual({slug for _, slug, _, _ in first["events"]}, DEMO_SLUGS)
        self.assertEqual({status for _, _, status, _ in first["events"]}, {"published"})
        queued = query(self.data_dir, "SELECT DISTINCT e.slug, s.queue_enabled FROM events e "
                       "JOIN shows s ON s.event_id = e.id")
        self.assertEqual({slug for slug, q in queued if q}, {QUEUE_SLUG})
        self.assertNotIn((QUEUE_SLUG, 0), queued)
        self.assertTrue(first["zones"])
        users = dict(query(self.data_dir, "SELECT email, id FROM users"))
        self.assertEqual(set(users), {email for email, _ in logins.values()})
        roles = {}
        for user_id, role in first["roles"]:
            roles.setdefault(user_id, set()).add(role)
        for role, (email, _) in logins.items():
            self.assertIn(role, roles[users[email]], (role, email))
        self.assertNotIn("organizer", roles[users[logins["member"][0]]])
        self.assertNotIn("admin", roles[users[logins["member"][0]]])
        self.assertEqual({org for _, _, _, org in first["events"]},
                         {users[logins["organizer"][0]]})
        again = demo(self.data_dir)
        self.assertEqual(again.returncode, 0, again.stdout + again.stderr)
        self.assertEqual(new_events(again.stdout), 0, again.stdout)
        self.assertEqual(printed_logins(again.stdout), logins)
        self.assertEqual(snapshot(self.data_dir), first)
        self.assertChecks()

    def test_printed_logins_work_and_the_member_books(self):
        """Served, the demo events are listed; every printed log-in logs in with its role;
        the member reserves and confirms a free seat of a non-queue event whose sale is open,
        while the queue-mode event wants a queue pass (403 QUEUE_PASS_REQUIRED) and the
        not-yet-open one refuses (409 SALE_NOT_OPEN). `souk check` passes afterwards."""
        logins = printed_logins(self.seed())
        server = start(self.server())
        listed = self.assertDemoListed(server)
        users = {role: login(server, email, password)
                 for role, (email, password) in logins.items()}
        for role, api in users.items():
            self.assertIn(role, api.user["roles"], api.user)
        member = users["member"]

        def first_show(slug):
            r = member.get("/events/" + slug)
            self.assertEqual(r.status, 200, r)
            return r.json()["data"]["shows"][0]

        def zones(show):
            r = member.get("/shows/%s/zones" % show["id"])
            self.assertEqual(r.status, 200, r)
            return r.json()["data"]

        open_now = [slug for slug in sorted(DEMO_SLUGS - {QUEUE_SLUG, NOT_OPEN_SLUG})
                    if not first_show(slug)["queue"]["enabled"]]
        self.assertTrue(open_now)
        booked = None
        for slug in open_now:
            show = first_show(slug)
            free = [z for z in zones(show) if z["price"]["amount"] == 0 and z["available"] > 0]
            if free:
                booked = (slug, show, free[0])
                break
        self.assertIsNotNone(booked, "no free zone on a non-queue demo event")
        slug, show, zone = booked
        r = member.reserve(show["id"], zone["id"], 1)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["data"]["event_id"], listed[slug]["id"])
        bid = r.json()["data"]["id"]
        r = member.post("/bookings/%s/confirm" % bid)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["data"]["status"], "confirmed")
        after = {z["id"]: z for z in zones(show)}
        self.assertEqual(after[zone["id"]]["available"], zone["available"] - 1)

        queue_show = first_show(QUEUE_SLUG)
        self.assertIs(queue_show["queue"]["enabled"], True)
        r = member.reserve(queue_show["id"], zones(queue_show)[0]["id"], 1)
        self.assertEqual((r.status, error_code(r)), (403, "QUEUE_PASS_REQUIRED"), r)
        late = first_show(NOT_OPEN_SLUG)
        r = member.reserve(late["id"], zones(late)[0]["id"], 1)
        self.assertEqual((r.status, error_code(r)), (409, "SALE_NOT_OPEN"), r)
        server.stop()
        self.assertChecks()

    def test_serve_demo_starts_with_the_demo_data(self):
        """`souk serve --demo` on a fresh data dir seeds before it listens: GET /events lists
        the demo events at once and the member logs in. Restarted with --demo it seeds nothing
        new (0 new events) and lists the same events."""
        server = start_with_demo(self.server())
        self.assertEqual(new_events(server.stderr), 5, server.stderr)
        first = self.assertDemoListed(server)
        email, password = printed_logins(server.stderr)["member"]
        self.assertIn("member", login(server, email, password).user["roles"])
        server.stop()
        again = start_with_demo(self.server())
        self.assertEqual(new_events(again.stderr), 0, again.stderr)
        listed = self.assertDemoListed(again)
        self.assertEqual({k: v["id"] for k, v in listed.items()},
                         {k: v["id"] for k, v in first.items()})
        again.stop()
        self.assertChecks()

    def test_demo_beside_a_running_server_is_refused(self):
        """`souk demo` while a server holds the data dir is refused (exit 1, nothing seeded),
        like `souk restore`: the server's memory would not know the new events, listed but not
        bookable until a restart. `souk serve --demo` is the way to seed a running setup."""
        server = start(self.server())
        p = demo(self.data_dir)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("serve --demo", p.stderr)
        anon = Api(server)
        self.assertEqual(anon.get("/events").json()["meta"]["total"], 0, p.stdout)

if __name__ == "__main__":
    unittest.main()
