"""`souk admin ...` (create-user, grant-role, revoke-role, list-users, disable-user) against a
RUNNING server on the same data directory: changes reach live sessions within about a second,
and every change leaves an audit line by "cli"."""

import shutil
import tempfile
import time
import unittest

from harness import Server, wait_until
from test_identity import (PASSWORD, Api, IdentityCase, audit_rows, cli_create_user, db_rows,
                           jwt_parts, souk_admin, unique_email)


def list_users(data_dir):
    """`souk admin list-users` as {email: (id, [roles], tenant, disabled)}."""
    p = souk_admin(data_dir, "list-users")
    assert p.returncode == 0, p.stderr
    out = {}
    for line in p.stdout.splitlines():
        cols = line.split("\t")
        assert len(cols) in (4, 5), line
        out[cols[1]] = (cols[0], cols[2].split(","), cols[3], len(cols) == 5 and cols[4] == "disabled")
    return out


class AdminCliLive(IdentityCase):

    def assertCliAudit(self, action, entity_id):
        rows = wait_until(lambda: audit_rows(self.data_dir, action, entity_id), timeout=5,
                          what="audit line %s" % action)
        self.assertEqual(rows[-1]["actor_id"], "cli", rows[-1])
        return rows[-1]

    def wait_refused(self, access_token, timeout=3.0):
        """Polls /auth/me until the token is refused (the server picks CLI changes up each
        second); returns the seconds it took."""
        t0 = time.monotonic()
        wait_until(lambda: self.api.me(access_token).status == 401, timeout=timeout,
                   interval=0.1, what="the token to be refused")
        self.assertError(self.api.me(access_token), 401, "UNAUTHENTICATED")
        return time.monotonic() - t0

    def test_create_user(self):
        email = unique_email("Cli-Created")
        p = cli_create_user(self.data_dir, email, "seller", extra=("--name", "Cli User"))
        self.assertEqual(p.returncode, 0, p.stderr)
        uid = p.stdout.strip()
        self.assertRegex(uid, r"^usr_[A-Za-z0-9]+$")
        d = self.assertOk(self.api.login(email))
        u = d["user"]
        self.assertEqual(u["id"], uid)
        self.assertEqual(u["email"], email.lower())
        self.assertEqual(u["display_name"], "Cli User")
        self.assertEqual(sorted(u["roles"]), ["member", "seller"])
        self.assertIs(u["email_verified"], True)
        self.assertEqual(u["tenant"], "default")
        self.assertCliAudit("identity.user_created", uid)
        hashes = db_rows(self.data_dir, "SELECT password_hash FROM users WHERE id = ?", (uid,))
        self.assertTrue(hashes[0]["password_hash"].startswith("$argon2id$"))

        # The same address again (in another case) is refused.
        p = cli_create_user(self.data_dir, email.upper(), "member")
        self.assertEqual(p.returncode, 1, (p.stdout, p.stderr))
        self.assertIn("already", p.stderr)

    def test_create_user_refuses_bad_input(self):
        cases = [
            ("short", "member", "short password"),
            ("Password12", "member", "common password"),
            ("k" * 9, "member", "nine characters"),
            (PASSWORD, "emperor", "unknown role"),
            ("", "member", "empty stdin"),
        ]
        for password, role, what in cases:
            with self.subTest(what=what):
                email = unique_email("cli-bad")
                p = cli_create_user(self.data_dir, email, role, password=password)
                self.assertEqual(p.returncode, 2, (what, p.stdout, p.stderr))
                self.assertTrue(p.stderr.strip())
                self.assertEqual(db_rows(self.data_dir, "SELECT id FROM users WHERE email = ?",
                                         (email,)), [])
        p = souk_admin(self.data_dir, "create-user", "--role", "member", stdin=PASSWORD + "\n")
        self.assertEqual(p.returncode, 2, p.stderr)
        p = souk_admin(self.data_dir, "create-user", "--email", unique_email("t"), "--role",
                       "member", "--tenant", "no-such-campus", stdin=PASSWORD + "\n")
        self.assertEqual(p.returncode, 2, p.stderr)

    def test_usage(self):
        p = souk_admin(self.data_dir)
        self.assertEqual(p.returncode, 2)
        self.assertIn("usage: souk admin", p.stderr)
        p = souk_admin(self.data_dir, "--help")
        self.assertEqual(p.returncode, 0)
        for cmd in ("create-user", "grant-role", "revoke-role", "disable-user", "list-users"):
            self.assertIn(cmd, p.stdout)
        p = souk_admin(self.data_dir, "promote-everyone")
        self.assertEqual(p.returncode, 2)
        self.assertIn("promote-everyone", p.stderr)

    def test_grant_and_revoke_reach_live_sessions(self):
        user = self.api.new_user("cli-roles")
        bystander = self.api.new_user("cli-bystander")
        p = souk_admin(self.data_dir, "grant-role", "--email", user["email"].upper(), "--role",
                       "organizer")
        self.assertEqual(p.returncode, 0, p.stderr)
        took = self.wait_refused(user["access"])
        self.assertLess(took, 3.0)
        self.assertOk(self.api.me(bystander["access"]))
        d = self.assertOk(self.api.login(user["email"]))
        self.assertEqual(sorted(d["user"]["roles"]), ["member", "organizer"])
        self.assertEqual(sorted(jwt_parts(d["access_token"])[1]["roles"]),
                         ["member", "organizer"])
        row = self.assertCliAudit("identity.roles_changed", user["id"])
        self.assertIn('"organizer"', row["details"])
        self.assertEqual(sorted(list_users(self.data_dir)[user["email"]][1]),
                         ["member", "organizer"])

        p = souk_admin(self.data_dir, "revoke-role", "--email", user["email"], "--role",
                       "organizer")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.wait_refused(d["access_token"])
        d = self.assertOk(self.api.login(user["email"]))
        self.assertEqual(d["user"]["roles"], ["member"])
        self.assertEqual(list_users(self.data_dir)[user["email"]][1], ["member"])

        # member cannot be revoked; unknown roles and addresses are usage errors.
        for args in (("revoke-role", "--email", user["email"], "--role", "member"),
                     ("grant-role", "--email", user["email"], "--role", "emperor"),
                     ("grant-role", "--email", unique_email("nobody"), "--role", "seller"),
                     ("grant-role", "--role", "seller")):
            with self.subTest(args=args):
                p = souk_admin(self.data_dir, *args)
                self.assertEqual(p.returncode, 2, (p.stdout, p.stderr))
                self.assertTrue(p.stderr.strip())
        self.assertOk(self.api.me(d["access_token"]))

    def test_list_users(self):
        user = self.api.new_user("cli-list")
        users = list_users(self.data_dir)
        self.assertIn(user["email"], users)
        uid, roles, tenant, disabled = users[user["email"]]
        self.assertEqual(uid, user["id"])
        self.assertEqual(roles, ["member"])
        self.assertEqual(tenant, "default")
        self.assertFalse(disabled)
        self.assertEqual(len(users), db_rows(self.data_dir, "SELECT COUNT(*) AS n FROM users")[0]["n"])

    def test_disable_user_against_the_running_server(self):
        user = self.api.new_user("cli-disable")
        other = self.api.new_user("cli-not-disabled")
        p = souk_admin(self.data_dir, "disable-user", "--email", user["email"])
        self.assertEqual(p.returncode, 0, p.stderr)
        took = self.wait_refused(user["access"])
        self.assertLess(took, 3.0)
        self.assertError(self.api.login(user["email"]), 401, "INVALID_CREDENTIALS")
        self.assertError(self.api.post("/auth/refresh", {"refresh_token": user["refresh"]}), 401,
                         "UNAUTHENTICATED")
        # Still refused a while later (nothing re-enables it), and others are unaffected.
        time.sleep(1.2)
        self.assertError(self.api.me(user["access"]), 401, "UNAUTHENTICATED")
        self.assertOk(self.api.me(other["access"]))
        self.assertTrue(list_users(self.data_dir)[user["email"]][3])
        self.assertCliAudit("identity.user_disabled", user["id"])
        p = souk_admin(self.data_dir, "disable-user", "--email", unique_email("nobody"))
        self.assertEqual(p.returncode, 2, p.stderr)
        p = souk_admin(self.data_dir, "disable-user")
        self.assertEqual(p.returncode, 2, p.stderr)


class AdminCliBeforeFirstStart(unittest.TestCase):

    def test_create_an_admin_on_a_fresh_data_dir_then_serve(self):
        d = tempfile.mkdtemp(prefix="souk-idcli-")
        self.addCleanup(shutil.rmtree, d, True)
        email = unique_email("first-admin")
        p = cli_create_user(d, email, "admin")
        self.assertEqual(p.returncode, 0, p.stderr)
        server = Server(data_dir=d)
        self.addCleanup(server.cleanup)
        server.start()
        api = Api(server)
        r = api.login(email)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(sorted(r.json()["data"]["user"]["roles"]), ["admin", "member"])
        # A disabled account stays disabled across a restart.
        user = api.new_user("restart")
        p = souk_admin(d, "disable-user", "--email", user["email"])
        self.assertEqual(p.returncode, 0, p.stderr)
        server.stop()
        server.start()
        r = api.me(user["access"])
        self.assertEqual(r.status, 401, r)
        server.stop()


if __name__ == "__main__":
    unittest.main()
