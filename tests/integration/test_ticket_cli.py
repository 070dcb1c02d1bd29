"""`souk ticket verify --code CODE`: the door check-in from the shell, on the demo data."""
import json
import shutil
import tempfile
import unittest

import harness


class TicketCli(unittest.TestCase):
    def setUp(self):
        self.data_dir = tempfile.mkdtemp(prefix="souk-ticket-")
        self.addCleanup(shutil.rmtree, self.data_dir, True)
        demo = harness.run_cli("demo", "--env", "test", data_dir=self.data_dir)
        self.assertEqual(demo.returncode, 0, demo.stderr)
        self.server = harness.Server(data_dir=self.data_dir)
        self.addCleanup(self.server.cleanup)
        self.server.start()

    def call(self, method, path, body=None, token=None, headers=None):
        h = {"Content-Type": "application/json"}
        if token:
            h["Authorization"] = "Bearer " + token
        h.update(headers or {})
        r = self.server.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
        return r.status, r.json()

    def confirmed_ticket(self):
        _, login = self.call("POST", "/api/v1/auth/login",
                             {"email": "member@souk.test", "password": "member-demo-2026"})
        token = login["data"]["access_token"]
        _, event = self.call("GET", "/api/v1/events/campus-jazz-night")
        show = event["data"]["shows"][0]
        _, zones = self.call("GET", "/api/v1/shows/%s/zones" % show["id"])
        free = [z for z in zones["data"] if z["price"]["amount"] == 0][0]
        status, booked = self.call("POST", "/api/v1/bookings/reserve",
                                   {"show_id": show["id"], "zone_id": free["id"], "quantity": 1},
                                   token, {"Idempotency-Key": "ticket-cli-1"})
        self.assertEqual(status, 201, booked)
        booking_id = booked["data"]["id"]
        status, _ = self.call("POST", "/api/v1/bookings/%s/confirm" % booking_id, {}, token)
        self.assertEqual(status, 200)
        status, ticket = self.call("GET", "/api/v1/bookings/%s/ticket" % booking_id, None, token)
        self.assertEqual(status, 200, ticket)
        return booking_id, ticket["data"]["ticket_id"]

    def verify(self, code):
        return harness.run_cli("ticket", "verify", "--code", code, "--env", "test",
                               data_dir=self.data_dir)

    def test_a_ticket_checks_in_once_and_forgeries_are_refused(self):
        booking_id, code = self.confirmed_ticket()
        first = self.verify(code)
        self.assertEqual(first.returncode, 0, first.stdout + first.stderr)
        self.assertIn(booking_id, first.stdout)
        self.assertTrue(first.stdout.startswith("valid"), first.stdout)
        second = self.verify(code)
        self.assertEqual(second.returncode, 1)
        self.assertIn("already used", second.stdout)
        forged = self.verify(code[:-3] + ("AAA" if not code.endswith("AAA") else "BBB"))
        self.assertEqual(forged.returncode, 1)
        self.assertIn("not a genuine", forged.stdout)
        # The API sees the same check-in: the door scanner answers 409 now.
        _, org = self.call("POST", "/api/v1/auth/login",
                           {"email": "organizer@souk.test", "password": "organizer-demo-2026"})
        status, body = self.call("POST", "/api/v1/tickets/verify", {"code": code},
                                 org["data"]["access_token"])
        self.assertEqual(status, 409, body)

    def test_usage_errors_exit_2(self):
        self.assertEqual(harness.run_cli("ticket", "--env", "test", data_dir=self.data_dir).returncode, 2)
        self.assertEqual(harness.run_cli("ticket", "verify", "--env", "test",
                                         data_dir=self.data_dir).returncode, 2)
        self.assertEqual(harness.run_cli("ticket", "--help").returncode, 0)


if __name__ == "__main__":
    unittest.main()
