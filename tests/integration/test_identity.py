"""The identity module over real HTTP, against API.md "Identity": registration (and mass
assignment), e-mail verification through the dev mailbox, login, lockout, refresh rotation and
reuse detection, logout, profile, password change, forged tokens, TOTP MFA, admin roles, BOLA,
rate limiting, and the audit lines they leave.

Python 3 standard library only. Helpers here are reused by test_identity_cli.py.
"""

import base64
import glob
import hashlib
import hmac
import itertools
import json
import os
import re
import shutil
import socket
import sqlite3
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import unittest

from harness import Server, ServerTestCase, child_env, sanitizer_report, souk_bin, wait_until

API = "/api/v1"
PASSWORD = "Tr0ub4dor&3-horse"
USER_AGENT = "souk-identity-tests/1"
_seq = itertools.count(1)


def unique_email(prefix="user"):
    return "%s-%d-%d@example.org" % (prefix, os.getpid(), next(_seq))


# -- encodings, JWTs, TOTP ---------------------------------------------------------------------


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_json(obj):
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_parts(token):
    h, p, s = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(p)), s


def craft_jwt(payload, key, header=None):
    """A JWT signed with HMAC-SHA256 under key (bytes), whatever its header says."""
    head = b64url_json(header if header is not None else {"alg": "HS256", "typ": "JWT"})
    signing_input = head + "." + b64url_json(payload)
    sig = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(sig)


def hotp(key, counter, digits=6):
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF
    return str(value % 10 ** digits).zfill(digits)


def totp(secret_b32, step_offset=0, at=None):
    key = base64.b32decode(secret_b32.upper() + "=" * (-len(secret_b32) % 8))
    step = int((time.time() if at is None else at) // 30) + step_offset
    return hotp(key, step)


class TotpSelfTest(unittest.TestCase):
    """The Python TOTP the tests compute codes with is itself right (RFC 6238 Appendix B)."""

    def test_rfc6238_vectors(self):
        key = b"12345678901234567890"
        for t, code in ((59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"),
                        (1234567890, "89005924"), (2000000000, "69279037"),
                        (20000000000, "65353130")):
            self.assertEqual(hotp(key, t // 30, 8), code)


# -- an API client -----------------------------------------------------------------------------


class Api:
    """JSON calls against one server; every call a fresh connection."""

    def __init__(self, server):
        self.server = server

    def call(self, method, path, body=None, token=None, headers=None, raw_body=None):
        h = {"User-Agent": USER_AGENT}
        if token:
            h["Authorization"] = "Bearer " + token
        if body is not None or raw_body is not None:
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        data = raw_body if raw_body is not None else (
            json.dumps(body) if body is not None else None)
        return self.server.request(method, API + path, body=data, headers=h)

    def post(self, path, body=None, token=None, **kw):
        return self.call("POST", path, body if body is not None else {}, token, **kw)

    def me(self, token):
        return self.call("GET", "/auth/me", token=token)

    def register(self, email=None, password=PASSWORD, display_name="Ana Tester", **extra):
        body = {"email": email or unique_email(), "password": password,
                "display_name": display_name}
        body.update(extra)
        return self.post("/auth/register", body)

    def login(self, email, password=PASSWORD, code=None):
        body = {"email": email, "password": password}
        if code is not None:
            body["totp"] = code
        return self.post("/auth/login", body)

    def new_user(self, prefix="user", password=PASSWORD):
        """Registers and logs in; returns dict(id, email, password, access, refresh)."""
        email = unique_email(prefix)
        r = self.register(email, password)
        assert r.status == 201, r
        uid = r.json()["data"]["id"]
        r = self.login(email, password)
        assert r.status == 200, r
        d = r.json()["data"]
        return {"id": uid, "email": email, "password": password,
                "access": d["access_token"], "refresh": d["refresh_token"]}


def secrets_of(data_dir):
    with open(os.path.join(data_dir, "secrets.json")) as f:
        return json.load(f)


def db_connect(data_dir):
    c = sqlite3.connect(os.path.join(data_dir, "souk.db"), timeout=10)
    c.row_factory = sqlite3.Row
    return c


def db_rows(data_dir, sql, args=()):
    c = db_connect(data_dir)
    try:
        return [dict(r) for r in c.execute(sql, args).fetchall()]
    finally:
        c.close()


def audit_rows(data_dir, action, entity_id=None):
    sql = "SELECT * FROM audit_log WHERE action = ?"
    args = [action]
    if entity_id is not None:
        sql += " AND entity_id = ?"
        args.append(entity_id)
    return db_rows(data_dir, sql + " ORDER BY at_ms", args)


def mailbox_messages(data_dir, to):
    """The .eml files of the dev mailbox addressed to `to`, oldest first, as text."""
    out = []
    for path in sorted(glob.glob(os.path.join(data_dir, "mailbox", "*.eml"))):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if re.search(r"^To: %s\r?$" % re.escape(to), text, re.M):
            out.append(text)
    return out


def mailed_token(data_dir, to, purpose_path, timeout=10.0):
    """Waits for a mail to `to` whose link goes to purpose_path; returns (token, mail text)."""
    def find():
        for text in reversed(mailbox_messages(data_dir, to)):
            m = re.search(re.escape(purpose_path) + r"\?token=([A-Za-z0-9_\-]+)", text)
            if m:
                return m.group(1), text
        return None
    return wait_until(find, timeout=timeout, what="a %s mail to %s" % (purpose_path, to))


class IdentityCase(ServerTestCase):
    """One server per class, an Api on it, and assertion helpers."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.api = Api(cls.server)

    @property
    def data_dir(self):
        return self.server.data_dir

    def assertError(self, r, status, code):
        self.assertEqual(r.status, status, r)
        doc = r.json()
        self.assertIs(doc["success"], False, doc)
        self.assertEqual(doc["error"]["code"], code, doc)
        self.assertTrue(doc["error"].get("message"), doc)
        self.assertTrue(doc.get("request_id"), doc)
        if status == 429:
            self.assertTrue(r.header("Retry-After"), "429 without Retry-After")
            self.assertGreaterEqual(int(r.header("Retry-After")), 1)
        return doc

    def assertOk(self, r, status=200):
        self.assertEqual(r.status, status, r)
        doc = r.json()
        self.assertIs(doc["success"], True, doc)
        return doc["data"]

    def assertFields(self, r, *fields):
        doc = self.assertError(r, 422, "VALIDATION_FAILED")
        got = doc["error"]["details"]["fields"]
        for f in fields:
            self.assertIn(f, got, doc)
            self.assertIsInstance(got[f], str)
        return got

    def assertDead(self, access_token):
        self.assertError(self.api.me(access_token), 401, "UNAUTHENTICATED")

    def assertAudit(self, action, entity_id, actor, **details):
        """A row for the action on the entity, by actor (None: anonymous), from 127.0.0.1."""
        rows = wait_until(lambda: audit_rows(self.data_dir, action, entity_id), timeout=5,
                          what="audit line %s for %s" % (action, entity_id))
        row = rows[-1]
        self.assertEqual(row["entity_type"], "user", row)
        self.assertEqual(row["actor_id"], actor, row)
        self.assertEqual(row["ip"], "127.0.0.1", row)
        self.assertEqual(row["user_agent"], USER_AGENT, row)
        self.assertGreater(row["at_ms"], 0)
        got = json.loads(row["details"])
        for k, v in details.items():
            self.assertEqual(got.get(k), v, row)
        return row

    def enable_mfa(self, user):
        """setup + enable with the current code; returns (secret, recovery codes)."""
        d = self.assertOk(self.api.post("/auth/mfa/setup", token=user["access"]))
        secret = d["secret"]
        d = self.assertOk(self.api.post("/auth/mfa/enable", {"code": totp(secret)},
                                        token=user["access"]))
        self.assertIs(d["mfa_enabled"], True)
        return secret, d["recovery_codes"]


# -- registration ------------------------------------------------------------------------------


class Registration(IdentityCase):

    def test_register_201_never_returns_the_password(self):
        email = unique_email("Reg").replace("reg", "ReG")
        r = self.api.register(email, display_name="Ana")
        u = self.assertOk(r, 201)
        self.assertEqual(r.header("Content-Type").split(";")[0], "application/json")
        self.assertEqual(u["email"], email.lower())
        self.assertEqual(u["display_name"], "Ana")
        self.assertEqual(u["roles"], ["member"])
        self.assertEqual(u["tenant"], "default")
        self.assertIs(u["email_verified"], False)
        self.assertRegex(u["created_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
        self.assertRegex(u["id"], r"^[A-Za-z0-9_\-]{10,}$")
        for k in ("password", "password_hash", "mfa_secret"):
            self.assertNotIn(k, u)
        self.assertNotIn(PASSWORD.encode(), r.body)
        self.assertNotIn(b"argon2", r.body)
        # The database keeps an argon2id hash, never the password.
        row = db_rows(self.data_dir, "SELECT password_hash FROM users WHERE id = ?", (u["id"],))[0]
        self.assertTrue(row["password_hash"].startswith("$argon2id$v=19$m=19456,t=2,p=1$"))
        self.assertNotIn(PASSWORD, row["password_hash"])
        self.assertAudit("identity.registered", u["id"], u["id"])

    def test_register_ignores_fields_the_caller_may_not_set(self):
        r = self.api.register(roles=["admin", "moderator"], role="admin", email_verified=True,
                              id="usr_chosen", disabled=False, mfa_enabled=True,
                              created_at="2000-01-01T00:00:00Z", not_before_ms=0,
                              password_hash="$argon2id$fake")
        u = self.assertOk(r, 201)
        self.assertEqual(u["roles"], ["member"])
        self.assertIs(u["email_verified"], False)
        self.assertNotEqual(u["id"], "usr_chosen")
        self.assertIs(u["mfa_enabled"], False)
        self.assertFalse(u["created_at"].startswith("2000"))
        rows = db_rows(self.data_dir, "SELECT role FROM user_roles WHERE user_id = ?", (u["id"],))
        self.assertEqual([x["role"] for x in rows], ["member"])
        # And the password given is the one that works.
        self.assertOk(self.api.login(u["email"]))

    def test_duplicate_email_is_409_case_insensitively(self):
        email = unique_email("dup")
        self.assertOk(self.api.register(email), 201)
        for variant in (email, email.upper(), email.capitalize()):
            with self.subTest(variant=variant):
                self.assertError(self.api.register(variant), 409, "CONFLICT")
        self.assertEqual(len(db_rows(self.data_dir, "SELECT id FROM users WHERE email = ?",
                                     (email,))), 1)

    def test_validation_failures_are_422_with_fields(self):
        cases = [
            ({"email": "not-an-email"}, ["email"]),
            ({"email": "a@b"}, ["email"]),
            ({"email": "two@@example.org"}, ["email"]),
            ({"email": "sp ace@example.org"}, ["email"]),
            ({"password": "Zq8#kLp2!"}, ["password"]),              # 9 characters
            ({"password": "Password12"}, ["password"]),             # on the common list
            ({"password": "QWERTYUIOP"}, ["password"]),             # likewise, any case
            ({"password": "kX7" * 43}, ["password"]),               # 129 characters
            ({"password": "\u00e9" * 9}, ["password"]),             # 9 characters, 18 bytes
            ({"display_name": ""}, ["display_name"]),
            ({"email": "bad", "password": "short"}, ["email", "password"]),
            ({"tenant": "no-such-campus"}, ["tenant"]),
        ]
        for override, fields in cases:
            with self.subTest(override=override):
                body = {"email": unique_email("val"), "password": PASSWORD,
                        "display_name": "Val"}
                body.update(override)
                got = self.assertFields(self.api.post("/auth/register", body), *fields)
                if override.get("password") == "Password12":
                    self.assertIn("common", got["password"])
        missing = self.api.post("/auth/register", {"password": PASSWORD})
        self.assertFields(missing, "email", "display_name")
        wrong_type = self.api.post("/auth/register", {"email": 7, "password": PASSWORD,
                                                      "display_name": "x"})
        self.assertFields(wrong_type, "email")
        # Ten multibyte characters are a valid password.
        self.assertOk(self.api.register(password="\u00e9\u00e8\u00ea\u00eb\u00e0\u00e2"
                                                 "\u00e4\u00f4\u00f6\u00fc"), 201)

    def test_malformed_and_non_json_bodies(self):
        r = self.api.call("POST", "/auth/register", raw_body="{\"email\": ")
        self.assertError(r, 400, "MALFORMED_JSON")
        r = self.api.call("POST", "/auth/login", raw_body="[1, 2")
        self.assertError(r, 400, "MALFORMED_JSON")
        r = self.api.call("POST", "/auth/register", raw_body="email=a@b.org",
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertError(r, 415, "UNSUPPORTED_MEDIA_TYPE")

    def test_tenant_domain_policy(self):
        c = db_connect(self.data_dir)
        try:
            with c:
                c.execute("INSERT OR IGNORE INTO tenants (id, slug, name, settings, created_ms) "
                          "VALUES ('ten_campus', 'campus', 'Campus', "
                          "'{\"allowed_email_domains\": [\".edu\"]}', 0)")
        finally:
            c.close()
        for bad in ("ana@gmail.com", "ana@mail.notedu", "ana@uni.edu.evil.com", "ana@edu.com"):
            with self.subTest(email=bad):
                r = self.api.register(bad, tenant="campus")
                doc = self.assertError(r, 422, "DOMAIN_NOT_ALLOWED")
                self.assertEqual(doc["error"]["details"].get("allowed_domains"), [".edu"])
        self.assertEqual(db_rows(self.data_dir, "SELECT id FROM users WHERE email = 'ana@gmail.com'"),
                         [])
        email = "student-%d@cs.uni.EDU" % next(_seq)
        u = self.assertOk(self.api.register(email, tenant="campus"), 201)
        self.assertEqual(u["tenant"], "ten_campus")
        # By id as well as by slug; the tenant travels in the token.
        u2 = self.assertOk(self.api.register("s-%d@uni.edu" % next(_seq), tenant="ten_campus"),
                           201)
        self.assertEqual(u2["tenant"], "ten_campus")
        d = self.assertOk(self.api.login(email))
        _, claims, _ = jwt_parts(d["access_token"])
        self.assertEqual(claims["tenant"], "ten_campus")
        # The default tenant has no policy.
        self.assertOk(self.api.register(unique_email("gm").replace("example.org", "gmail.com")),
                      201)
        # The tenant cannot be changed after creation.
        self.assertOk(self.api.call("PUT", "/auth/me", {"tenant": "default"},
                                    token=d["access_token"]))
        self.assertEqual(self.assertOk(self.api.me(d["access_token"]))["tenant"], "ten_campus")


# -- e-mail verification -----------------------------------------------------------------------


class EmailVerification(IdentityCase):

    def test_verification_mail_and_token(self):
        email = unique_email("verify")
        u = self.assertOk(self.api.register(email, display_name="Vera"), 201)
        token, mail = mailed_token(self.data_dir, email, "/verify-email")
        self.assertIn("Subject: ", mail)
        self.assertIn("Content-Type: text/plain; charset=utf-8", mail)
        self.assertRegex(mail, r"(?m)^From: .+$")
        self.assertRegex(mail, r"(?m)^Message-ID: <.+>\r?$")
        self.assertRegex(mail, r"(?m)^Date: \w{3}, \d\d \w{3} \d{4} ")
        self.assertNotIn(PASSWORD, mail)
        # Only the hash of the token is stored.
        rows = db_rows(self.data_dir, "SELECT token_hash FROM email_tokens WHERE user_id = ?",
                       (u["id"],))
        self.assertEqual(len(rows), 1)
        self.assertNotEqual(rows[0]["token_hash"], token)
        self.assertEqual(rows[0]["token_hash"], hashlib.sha256(token.encode()).hexdigest())

        d = self.assertOk(self.api.login(email))
        self.assertIs(self.assertOk(self.api.me(d["access_token"]))["email_verified"], False)
        self.assertOk(self.api.post("/auth/verify-email", {"token": token}))
        self.assertIs(self.assertOk(self.api.me(d["access_token"]))["email_verified"], True)
        self.assertAudit("identity.email_verified", u["id"], u["id"])
        # Single use.
        self.assertFields(self.api.post("/auth/verify-email", {"token": token}), "token")

    def test_expired_verification_token_is_refused(self):
        email = unique_email("verify-late")
        u = self.assertOk(self.api.register(email), 201)
        token, _ = mailed_token(self.data_dir, email, "/verify-email")
        c = db_connect(self.data_dir)
        try:
            with c:
                c.execute("UPDATE email_tokens SET expires_ms = ? WHERE user_id = ?",
                          (int(time.time() * 1000) - 1000, u["id"]))
        finally:
            c.close()
        self.assertFields(self.api.post("/auth/verify-email", {"token": token}), "token")
        rows = db_rows(self.data_dir, "SELECT email_verified FROM users WHERE id = ?", (u["id"],))
        self.assertEqual(rows[0]["email_verified"], 0)

    def test_bad_tokens_are_refused(self):
        for t in ("nope", "A" * 43, "", None):
            with self.subTest(token=t):
                body = {} if t is None else {"token": t}
                self.assertFields(self.api.post("/auth/verify-email", body), "token")

    def test_reset_password_by_mail(self):
        user = self.api.new_user("reset")
        r = self.api.post("/auth/password/forgot", {"email": user["email"].upper()})
        self.assertEqual(self.assertOk(r), {"sent": True})
        # Unknown addresses get the same answer.
        r2 = self.api.post("/auth/password/forgot", {"email": unique_email("ghost")})
        self.assertEqual(self.assertOk(r2), {"sent": True})
        token, _ = mailed_token(self.data_dir, user["email"], "/reset-password")
        new_pw = "a brand new passphrase"
        self.assertFields(self.api.post("/auth/password/reset",
                                        {"token": token, "new_password": "password12"}),
                          "new_password")
        d = self.assertOk(self.api.post("/auth/password/reset",
                                        {"token": token, "new_password": new_pw}))
        self.assertOk(self.api.me(d["access_token"]))
        self.assertDead(user["access"])
        self.assertFields(self.api.post("/auth/password/reset",
                                        {"token": token, "new_password": new_pw + "!"}), "token")
        self.assertError(self.api.login(user["email"]), 401, "INVALID_CREDENTIALS")
        self.assertOk(self.api.login(user["email"], new_pw))


# -- sessions ----------------------------------------------------------------------------------


class Sessions(IdentityCase):

    def test_login_answer(self):
        email = unique_email("login")
        u = self.assertOk(self.api.register(email), 201)
        before = time.time()
        d = self.assertOk(self.api.login(email.upper()))
        self.assertEqual(d["token_type"], "Bearer")
        self.assertEqual(d["expires_in"], 900)
        self.assertEqual(d["user"]["id"], u["id"])
        self.assertEqual(d["user"]["email"], email)
        self.assertNotIn("password_hash", d["user"])
        self.assertGreaterEqual(len(b64url_decode(d["refresh_token"])), 32)  # 256 bits
        header, claims, _ = jwt_parts(d["access_token"])
        self.assertEqual(header["alg"], "HS256")
        self.assertEqual(claims["sub"], u["id"])
        self.assertEqual(claims["tenant"], "default")
        self.assertEqual(claims["roles"], ["member"])
        self.assertEqual(claims["iss"], "souk")
        self.assertEqual(claims["aud"], "souk-api")
        self.assertEqual(claims["typ"], "access")
        self.assertAlmostEqual(claims["iat"], before, delta=30)
        self.assertAlmostEqual(claims["exp"] - claims["iat"], 900, delta=2)
        # Only the refresh token's hash is stored.
        rows = db_rows(self.data_dir, "SELECT token_hash FROM refresh_tokens WHERE user_id = ?",
                       (u["id"],))
        self.assertEqual([r["token_hash"] for r in rows],
                         [hashlib.sha256(d["refresh_token"].encode()).hexdigest()])
        me = self.assertOk(self.api.me(d["access_token"]))
        self.assertEqual(me["id"], u["id"])
        self.assertAudit("identity.login", u["id"], u["id"])

    def test_wrong_password_and_unknown_email_answer_alike(self):
        email = unique_email("alike")
        u = self.assertOk(self.api.register(email), 201)
        known_t, unknown_t = [], []
        for _ in range(2):
            t0 = time.monotonic()
            known = self.api.login(email, "wrong password 123")
            known_t.append(time.monotonic() - t0)
            t0 = time.monotonic()
            unknown = self.api.login(unique_email("nobody"), PASSWORD)
            unknown_t.append(time.monotonic() - t0)
            a = self.assertError(known, 401, "INVALID_CREDENTIALS")
            b = self.assertError(unknown, 401, "INVALID_CREDENTIALS")
            del a["request_id"], b["request_id"]
            self.assertEqual(a, b)
            self.assertEqual(sorted(k.lower() for k, _ in known.headers
                                    if k.lower() not in ("date", "x-request-id")),
                             sorted(k.lower() for k, _ in unknown.headers
                                    if k.lower() not in ("date", "x-request-id")))
        # Unknown addresses pay for a hash too (loosely: not ten times faster).
        self.assertGreater(min(unknown_t), min(known_t) / 10, (known_t, unknown_t))
        row = self.assertAudit("identity.login_failed", u["id"], None, email=email)
        self.assertIsNone(row["actor_id"])
        self.assertTrue(audit_rows(self.data_dir, "identity.login_failed"))

    def test_lockout_after_five_failures(self):
        email = unique_email("lock")
        self.assertOk(self.api.register(email), 201)
        for i in range(5):
            self.assertError(self.api.login(email, "wrong password %d" % i), 401,
                             "INVALID_CREDENTIALS")
        locked = self.api.login(email)  # even the right password
        doc = self.assertError(locked, 429, "ACCOUNT_LOCKED")
        self.assertGreater(int(locked.header("Retry-After")), 800)
        self.assertLessEqual(int(locked.header("Retry-After")), 900)
        # Upper case is the same account.
        self.assertError(self.api.login(email.upper()), 429, "ACCOUNT_LOCKED")
        # Unknown addresses lock alike, with the same answer.
        ghost = unique_email("ghost")
        for i in range(5):
            self.assertError(self.api.login(ghost, "wrong password %d" % i), 401,
                             "INVALID_CREDENTIALS")
        ghost_locked = self.api.login(ghost)
        doc2 = self.assertError(ghost_locked, 429, "ACCOUNT_LOCKED")
        del doc["request_id"], doc2["request_id"]
        self.assertEqual(doc, doc2)
        # Other accounts are not affected.
        self.api.new_user("unlocked")

    def test_parallel_guesses_cannot_outrun_the_lockout(self):
        email = unique_email("parallel")
        self.assertOk(self.api.register(email), 201)
        results = []

        def guess(i):
            r = self.api.login(email, "wrong password %d" % i)
            results.append((r.status, r.json()["error"]["code"], r.header("Retry-After")))

        threads = [threading.Thread(target=guess, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        self.assertEqual(len(results), 12, results)
        checked = [r for r in results if r[1] == "INVALID_CREDENTIALS"]
        refused = [r for r in results if r[1] == "ACCOUNT_LOCKED"]
        self.assertEqual(len(checked) + len(refused), 12, results)
        # Only five passwords were ever compared; the others were turned away.
        self.assertLessEqual(len(checked), 5, results)
        for status, _, retry_after in refused:
            self.assertEqual(status, 429)
            self.assertTrue(retry_after)
        # And the account is locked now, even for the right password (at most a moment after
        # the last guess was checked).
        wait_until(lambda: self.api.login(email).status == 429, timeout=5, what="the lock")

    def test_refresh_rotates_and_reuse_revokes_the_family(self):
        user = self.api.new_user("rot")
        a1, r1 = user["access"], user["refresh"]
        d = self.assertOk(self.api.post("/auth/refresh", {"refresh_token": r1}))
        a2, r2 = d["access_token"], d["refresh_token"]
        self.assertNotEqual(r2, r1)
        self.assertEqual(d["token_type"], "Bearer")
        self.assertEqual(d["expires_in"], 900)
        self.assertEqual(d["user"]["id"], user["id"])
        d = self.assertOk(self.api.post("/auth/refresh", {"refresh_token": r2}))
        a3, r3 = d["access_token"], d["refresh_token"]
        for a in (a1, a2, a3):
            self.assertOk(self.api.me(a))
        # A second session of the same user, in another family.
        other = self.assertOk(self.api.login(user["email"]))
        # r1 was rotated: presenting it is theft. 401, and the whole family dies...
        self.assertError(self.api.post("/auth/refresh", {"refresh_token": r1}), 401,
                         "UNAUTHENTICATED")
        self.assertAudit("identity.refresh_reuse", user["id"], None)
        self.assertError(self.api.post("/auth/refresh", {"refresh_token": r3}), 401,
                         "UNAUTHENTICATED")
        # ...and every access token of the user issued before that moment stops working.
        for a in (a1, a2, a3, other["access_token"]):
            self.assertDead(a)
        # A fresh login works again.
        d = self.assertOk(self.api.login(user["email"]))
        self.assertOk(self.api.me(d["access_token"]))
        fam = db_rows(self.data_dir, "SELECT COUNT(*) AS n FROM refresh_tokens WHERE user_id = ? "
                      "AND revoked_ms IS NULL AND rotated_ms IS NULL", (user["id"],))
        self.assertEqual(fam[0]["n"], 2)  # the other session's family and the new login

    def test_refresh_lifetime_is_absolute(self):
        user = self.api.new_user("lifetime")
        d = self.assertOk(self.api.post("/auth/refresh", {"refresh_token": user["refresh"]}))
        d = self.assertOk(self.api.post("/auth/refresh", {"refresh_token": d["refresh_token"]}))
        rows = db_rows(self.data_dir, "SELECT created_ms, expires_ms, family_id FROM "
                       "refresh_tokens WHERE user_id = ? ORDER BY created_ms", (user["id"],))
        self.assertEqual(len(rows), 3)
        self.assertEqual(len({r["family_id"] for r in rows}), 1)
        # Rotation does not extend the family: every token dies 7 days after the first.
        self.assertEqual({r["expires_ms"] for r in rows},
                         {rows[0]["created_ms"] + 7 * 24 * 3600 * 1000})
        # Once that instant has passed, the live token is refused.
        c = db_connect(self.data_dir)
        try:
            with c:
                c.execute("UPDATE refresh_tokens SET expires_ms = ? WHERE user_id = ?",
                          (int(time.time() * 1000) - 1000, user["id"]))
        finally:
            c.close()
        self.assertError(self.api.post("/auth/refresh", {"refresh_token": d["refresh_token"]}),
                         401, "UNAUTHENTICATED")

    def test_refresh_refuses_garbage(self):
        for t in ("nope", "A" * 43, b64url(os.urandom(32))):
            with self.subTest(token=t):
                self.assertError(self.api.post("/auth/refresh", {"refresh_token": t}), 401,
                                 "UNAUTHENTICATED")
        self.assertFields(self.api.post("/auth/refresh", {}), "refresh_token")
        user = self.api.new_user("acc-as-ref")
        # An access token is no refresh token (too long to be one: 422, or 401).
        r = self.api.post("/auth/refresh", {"refresh_token": user["access"]})
        self.assertIn(r.status, (401, 422), r)
        self.assertIs(r.json()["success"], False)

    def test_logout(self):
        user = self.api.new_user("logout")
        self.assertError(self.api.post("/auth/logout", {"refresh_token": user["refresh"]}), 401,
                         "UNAUTHENTICATED")
        self.assertOk(self.api.post("/auth/logout", {"refresh_token": user["refresh"]},
                                    token=user["access"]))
        self.assertError(self.api.post("/auth/refresh", {"refresh_token": user["refresh"]}), 401,
                         "UNAUTHENTICATED")
        self.assertAudit("identity.logout", user["id"], user["id"])

    def test_over_https(self):
        email = unique_email("tls")
        body = json.dumps({"email": email, "password": PASSWORD, "display_name": "Tls"})
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        r = self.server.request("POST", API + "/auth/register", body=body, headers=headers,
                                secure=True)
        self.assertOk(r, 201)
        r = self.server.request("POST", API + "/auth/login", headers=headers, secure=True,
                                body=json.dumps({"email": email, "password": PASSWORD}))
        d = self.assertOk(r)
        self.assertTrue(r.header("Strict-Transport-Security"))
        self.assertEqual(r.header("Cache-Control"), "no-store")  # tokens are never cached
        r = self.server.request("GET", API + "/auth/me", secure=True,
                                headers={"Authorization": "Bearer " + d["access_token"]})
        self.assertEqual(self.assertOk(r)["email"], email)

    def test_me_needs_a_token(self):
        self.assertError(self.api.call("GET", "/auth/me"), 401, "UNAUTHENTICATED")
        self.assertError(self.api.call("GET", "/auth/me", headers={"Authorization": "Basic Zm9v"}),
                         401, "UNAUTHENTICATED")
        self.assertError(self.api.call("GET", "/auth/me", headers={"Authorization": "Bearer"}),
                         401, "UNAUTHENTICATED")


# -- profile and password ----------------------------------------------------------------------


class Profile(IdentityCase):

    def test_only_four_fields_are_writable(self):
        user = self.api.new_user("prof")
        before = self.assertOk(self.api.me(user["access"]))
        r = self.api.call("PUT", "/auth/me", {
            "display_name": "New Name", "bio": "Hello \u263a", "avatar_url": "https://x.org/a.png",
            "timezone": "Europe/Paris",
            "roles": ["admin"], "email": "hijack@example.org", "email_verified": True,
            "tenant": "other", "id": "usr_other", "disabled": True, "mfa_enabled": True,
            "created_at": "2000-01-01T00:00:00Z", "password": "x" * 20,
        }, token=user["access"])
        after = self.assertOk(r)
        self.assertEqual(after["display_name"], "New Name")
        self.assertEqual(after["bio"], "Hello \u263a")
        self.assertEqual(after["avatar_url"], "https://x.org/a.png")
        self.assertEqual(after["timezone"], "Europe/Paris")
        for k in ("id", "email", "roles", "tenant", "email_verified", "created_at",
                  "mfa_enabled", "disabled"):
            self.assertEqual(after[k], before[k], k)
        self.assertEqual(self.assertOk(self.api.me(user["access"])), after)
        # The token still works (nothing security-relevant changed) and so does the password.
        self.assertOk(self.api.login(user["email"]))
        # A partial update leaves the rest alone.
        after2 = self.assertOk(self.api.call("PUT", "/auth/me", {"bio": "b2"},
                                             token=user["access"]))
        self.assertEqual(after2["display_name"], "New Name")
        self.assertEqual(after2["bio"], "b2")

    def test_profile_validation(self):
        user = self.api.new_user("profval")
        self.assertFields(self.api.call("PUT", "/auth/me", {"display_name": ""},
                                        token=user["access"]), "display_name")
        self.assertFields(self.api.call("PUT", "/auth/me", {"avatar_url": "javascript:alert(1)"},
                                        token=user["access"]), "avatar_url")
        self.assertFields(self.api.call("PUT", "/auth/me", {"display_name": "x" * 101},
                                        token=user["access"]), "display_name")
        self.assertError(self.api.call("PUT", "/auth/me", {"bio": "x"}), 401, "UNAUTHENTICATED")

    def test_password_change(self):
        user = self.api.new_user("pwchange")
        other = self.assertOk(self.api.login(user["email"]))  # another device
        new_pw = "another good passphrase"
        self.assertFields(self.api.post("/auth/password", {"current_password": "wrong wrong 1",
                                                           "new_password": new_pw},
                                        token=user["access"]), "current_password")
        self.assertFields(self.api.post("/auth/password", {"current_password": PASSWORD,
                                                           "new_password": "Password12"},
                                        token=user["access"]), "new_password")
        self.assertFields(self.api.post("/auth/password", {"current_password": PASSWORD,
                                                           "new_password": "short"},
                                        token=user["access"]), "new_password")
        self.assertError(self.api.post("/auth/password", {"current_password": PASSWORD,
                                                          "new_password": new_pw}),
                         401, "UNAUTHENTICATED")
        d = self.assertOk(self.api.post("/auth/password", {"current_password": PASSWORD,
                                                           "new_password": new_pw},
                                        token=user["access"]))
        self.assertEqual(d["token_type"], "Bearer")
        self.assertNotEqual(d["refresh_token"], user["refresh"])
        # The fresh pair works.
        self.assertOk(self.api.me(d["access_token"]))
        fresh = self.assertOk(self.api.post("/auth/refresh", {"refresh_token": d["refresh_token"]}))
        self.assertOk(self.api.me(fresh["access_token"]))
        # Tokens from before the change do not.
        self.assertDead(user["access"])
        self.assertDead(other["access_token"])
        self.assertAudit("identity.password_changed", user["id"], user["id"])
        self.assertError(self.api.post("/auth/refresh", {"refresh_token": user["refresh"]}), 401,
                         "UNAUTHENTICATED")
        self.assertError(self.api.post("/auth/refresh", {"refresh_token": other["refresh_token"]}),
                         401, "UNAUTHENTICATED")
        self.assertError(self.api.login(user["email"]), 401, "INVALID_CREDENTIALS")
        self.assertOk(self.api.login(user["email"], new_pw))


# -- forged tokens -----------------------------------------------------------------------------


class ForgedTokens(IdentityCase):

    def test_forgeries_are_401(self):
        user = self.api.new_user("forge")
        key = secrets_of(self.data_dir)["token_key"].encode()
        _, claims, _ = jwt_parts(user["access"])
        header_b64, payload_b64, sig = user["access"].split(".")

        # Sanity: a token crafted with the real key and fair claims is accepted, so the
        # refusals below are about what was changed.
        fair = dict(claims, iat=time.time())
        self.assertOk(self.api.me(craft_jwt(fair, key)))

        def refused(token, code="UNAUTHENTICATED", what=""):
            with self.subTest(what=what):
                self.assertError(self.api.me(token), 401, code)

        none_head = b64url_json({"alg": "none", "typ": "JWT"})
        refused(none_head + "." + payload_b64 + ".", what="alg none, empty signature")
        refused(none_head + "." + payload_b64, what="alg none, two parts")
        refused(craft_jwt(fair, key, {"alg": "none"}), what="alg none with a valid HMAC")
        refused(craft_jwt(fair, key, {"alg": "HS512", "typ": "JWT"}), what="alg HS512")
        tampered = dict(claims, roles=["member", "admin"])
        refused(header_b64 + "." + b64url_json(tampered) + "." + sig, what="roles added")
        refused(header_b64 + "." + b64url_json(dict(claims, sub="usr_someone_else")) + "." + sig,
                what="sub changed")
        refused(craft_jwt(dict(fair, aud="another-api"), key), what="wrong aud")
        refused(craft_jwt(dict(fair, iss="evil"), key), what="wrong iss")
        refused(craft_jwt(dict(fair, typ="refresh"), key), what="typ refresh")
        refused(craft_jwt({k: v for k, v in fair.items() if k != "exp"}, key), what="no exp")
        refused(craft_jwt(fair, b"not the key"), what="wrong key")
        refused(craft_jwt(dict(fair, exp=int(time.time()) - 60, iat=time.time() - 1000), key),
                code="TOKEN_EXPIRED", what="expired")
        refused(craft_jwt(dict(fair, exp=int(time.time()) - 60), b"not the key"),
                what="expired and forged")
        refused(user["refresh"], what="refresh token as access token")
        refused("a.b.c", what="garbage")
        refused(user["access"] + "x", what="signature extended")
        # Forged admin claims get 401 on admin routes, not 403 (and not 200).
        forged_admin = header_b64 + "." + b64url_json(dict(claims, roles=["member", "admin"],
                                                           mfa=True)) + "." + sig
        r = self.api.call("GET", "/admin/users", token=forged_admin)
        self.assertError(r, 401, "UNAUTHENTICATED")

    def test_moving_iat_past_a_cut_off_needs_the_key(self):
        # Role changes and password changes cut tokens off by iat: a token's iat cannot be
        # moved forward without the key.
        user = self.api.new_user("iat")
        self.assertOk(self.api.post("/auth/password", {"current_password": PASSWORD,
                                                       "new_password": "fresh passphrase 1"},
                                    token=user["access"]))
        header_b64, payload_b64, sig = user["access"].split(".")
        claims = json.loads(b64url_decode(payload_b64))
        moved = dict(claims, iat=time.time() + 10)
        self.assertDead(header_b64 + "." + b64url_json(moved) + "." + sig)


# -- MFA ---------------------------------------------------------------------------------------


class Mfa(IdentityCase):

    def test_totp_setup_enable_login(self):
        user = self.api.new_user("mfa")
        self.assertError(self.api.post("/auth/mfa/enable", {"code": "123456"},
                                       token=user["access"]), 409, "INVALID_STATE")
        d = self.assertOk(self.api.post("/auth/mfa/setup", token=user["access"]))
        secret, uri = d["secret"], d["otpauth_uri"]
        self.assertTrue(uri.startswith("otpauth://totp/"), uri)
        self.assertIn("secret=" + secret, uri)
        self.assertIn("issuer=Souk", uri)
        self.assertGreaterEqual(len(base64.b32decode(secret + "=" * (-len(secret) % 8))), 20)
        # A wrong code does not enable it.
        wrong = "%06d" % ((int(totp(secret)) + 1) % 10 ** 6)
        self.assertFields(self.api.post("/auth/mfa/enable", {"code": wrong},
                                        token=user["access"]), "code")
        self.assertFields(self.api.post("/auth/mfa/enable", {"code": "12345"},
                                        token=user["access"]), "code")
        self.assertIs(self.assertOk(self.api.me(user["access"]))["mfa_enabled"], False)
        self.assertOk(self.api.login(user["email"]))  # still no code needed

        d = self.assertOk(self.api.post("/auth/mfa/enable", {"code": totp(secret)},
                                        token=user["access"]))
        codes = d["recovery_codes"]
        self.assertEqual(len(codes), 10)
        self.assertEqual(len(set(codes)), 10)
        self.assertAudit("identity.mfa_enabled", user["id"], user["id"])
        self.assertIs(self.assertOk(self.api.me(user["access"]))["mfa_enabled"], True)
        self.assertError(self.api.post("/auth/mfa/setup", token=user["access"]), 409, "CONFLICT")
        # Recovery codes are stored hashed.
        stored = db_rows(self.data_dir, "SELECT code_hash FROM mfa_recovery_codes WHERE user_id = ?",
                         (user["id"],))
        self.assertEqual(len(stored), 10)
        self.assertFalse({r["code_hash"] for r in stored} & set(codes))

        # The password alone is not enough any more.
        self.assertError(self.api.login(user["email"]), 401, "MFA_REQUIRED")
        self.assertError(self.api.login(user["email"], code=""), 401, "MFA_REQUIRED")
        # Wrong password with a code: still INVALID_CREDENTIALS (no hint which was wrong).
        self.assertError(self.api.login(user["email"], "wrong password 1", code=totp(secret, 1)),
                         401, "INVALID_CREDENTIALS")
        # The next step's code (the one used to enable is spent).
        code = totp(secret, 1)
        d = self.assertOk(self.api.login(user["email"], code=code))
        _, claims, _ = jwt_parts(d["access_token"])
        self.assertIs(claims.get("mfa"), True)
        self.assertOk(self.api.me(d["access_token"]))
        # Single use: the same code again is refused.
        self.assertError(self.api.login(user["email"], code=code), 401, "INVALID_CREDENTIALS")
        self.assertError(self.api.login(user["email"], code=totp(secret)), 401,
                         "INVALID_CREDENTIALS")
        # A recovery code works once, in any case and without its dash.
        self.assertOk(self.api.login(user["email"], code=codes[0]))
        self.assertError(self.api.login(user["email"], code=codes[0]), 401, "INVALID_CREDENTIALS")
        self.assertOk(self.api.login(user["email"], code=codes[1].replace("-", "").upper()))
        # Disabling needs a code too (a recovery code here; the TOTP steps are spent).
        self.assertFields(self.api.post("/auth/mfa/disable", {"code": "000000"},
                                        token=d["access_token"]), "code")
        self.assertOk(self.api.post("/auth/mfa/disable", {"code": codes[2]},
                                    token=d["access_token"]))
        self.assertAudit("identity.mfa_disabled", user["id"], user["id"])
        self.assertOk(self.api.login(user["email"]))
        self.assertError(self.api.post("/auth/mfa/disable", {"code": codes[3]},
                                       token=d["access_token"]), 409, "INVALID_STATE")

    def test_password_reset_does_not_skip_the_second_factor(self):
        # Whoever reads the mailbox can choose a new password, but a session still needs the
        # authenticator: a reset must not hand out tokens for an account with MFA on.
        user = self.api.new_user("mfa-reset")
        secret, _ = self.enable_mfa(user)
        self.assertOk(self.api.post("/auth/password/forgot", {"email": user["email"]}))
        token, _ = mailed_token(self.data_dir, user["email"], "/reset-password")
        new_pw = "mailbox thief passphrase"
        r = self.api.post("/auth/password/reset", {"token": token, "new_password": new_pw})
        d = self.assertOk(r)
        self.assertNotIn("access_token", d, d)
        self.assertNotIn("refresh_token", d, d)
        # The reset itself happened: old sessions are gone, the new password needs the code.
        self.assertDead(user["access"])
        self.assertError(self.api.login(user["email"], new_pw), 401, "MFA_REQUIRED")
        self.assertOk(self.api.login(user["email"], new_pw, code=totp(secret, 1)))

    def test_wrong_codes_count_towards_the_lockout(self):
        # With the password known, the six digits are all that is left: guessing them must
        # lock the account like guessing passwords does.
        user = self.api.new_user("mfa-brute")
        secret, _ = self.enable_mfa(user)
        valid = {totp(secret, k) for k in (-1, 0, 1, 2)}
        guesses = [g for g in ("000000", "111111", "222222", "333333", "444444", "555555",
                               "666666") if g not in valid][:5]
        for g in guesses:
            self.assertError(self.api.login(user["email"], code=g), 401, "INVALID_CREDENTIALS")
        self.assertError(self.api.login(user["email"], code=totp(secret, 1)), 429,
                         "ACCOUNT_LOCKED")


# -- administration, roles, BOLA ---------------------------------------------------------------


def souk_admin(data_dir, *args, stdin=""):
    """`souk admin <args> --env test` on data_dir; returns CompletedProcess (text)."""
    cmd = [souk_bin(), "admin"] + list(args) + ["--env", "test", "--set", "data_dir=" + data_dir]
    p = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, env=child_env(), timeout=60)
    rep = sanitizer_report(p.stderr)
    if rep:
        raise AssertionError("sanitizer report from souk admin %s: %s\n%s" % (args, rep, p.stderr))
    return p


def cli_create_user(data_dir, email, role, password=PASSWORD, extra=()):
    return souk_admin(data_dir, "create-user", "--email", email, "--role", role, *extra,
                      stdin=password + "\n")


class Admin(IdentityCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.admin_email = unique_email("admin")
        p = cli_create_user(cls.server.data_dir, cls.admin_email, "admin")
        if p.returncode != 0:
            cls.server.cleanup()
            raise AssertionError("create-user failed: %s %s" % (p.stdout, p.stderr))
        cls.admin_id = p.stdout.strip()
        cls.admin_mfa_token = None

    def admin_token(self):
        """An access token of the admin from a session opened with TOTP (made once)."""
        cls = type(self)
        if cls.admin_mfa_token is None:
            d = self.assertOk(self.api.login(cls.admin_email))
            admin = {"access": d["access_token"]}
            cls.admin_plain_refresh = d["refresh_token"]  # a session opened without MFA
            secret, _ = self.enable_mfa(admin)
            d = self.assertOk(self.api.login(cls.admin_email, code=totp(secret, 1)))
            cls.admin_mfa_token = d["access_token"]
            cls.admin_mfa_refresh = d["refresh_token"]
        return cls.admin_mfa_token

    def test_a_roles_need_an_mfa_session(self):
        # (Named _a_ to run before the other tests switch the admin's MFA on.)
        member = self.api.new_user("m-nomfa")
        d = self.assertOk(self.api.login(self.admin_email))
        self.assertIn("admin", d["user"]["roles"])
        self.assertIs(d["user"]["email_verified"], True)
        plain = d["access_token"]
        self.assertError(self.api.post("/admin/users/%s/roles" % member["id"],
                                       {"add": ["organizer"]}, token=plain), 403, "FORBIDDEN")
        self.assertError(self.api.call("GET", "/admin/users", token=plain), 403, "FORBIDDEN")
        self.assertOk(self.api.me(plain))
        self.assertOk(self.api.me(member["access"]))  # nothing happened to the member

    def test_b_grant_role_cuts_the_members_sessions(self):
        member = self.api.new_user("m-grant")
        bystander = self.api.new_user("m-bystander")
        token = self.admin_token()
        r = self.api.post("/admin/users/%s/roles" % member["id"], {"add": ["organizer"]},
                          token=token)
        u = self.assertOk(r)
        self.assertEqual(sorted(u["roles"]), ["member", "organizer"])
        # The member's existing access token stops working at once; others' do not.
        self.assertDead(member["access"])
        self.assertOk(self.api.me(bystander["access"]))
        self.assertOk(self.api.me(token))
        # The refresh token still works and carries the new role.
        d = self.assertOk(self.api.post("/auth/refresh", {"refresh_token": member["refresh"]}))
        self.assertEqual(sorted(jwt_parts(d["access_token"])[1]["roles"]), ["member", "organizer"])
        self.assertAudit("identity.roles_changed", member["id"], self.admin_id,
                         add=["organizer"], remove=[])
        # Remove it again.
        u = self.assertOk(self.api.post("/admin/users/%s/roles" % member["id"],
                                        {"remove": ["organizer"]}, token=token))
        self.assertEqual(u["roles"], ["member"])
        self.assertDead(d["access_token"])

    def test_c_role_route_errors(self):
        member = self.api.new_user("m-errors")
        token = self.admin_token()
        self.assertError(self.api.post("/admin/users/usr_does_not_exist/roles",
                                       {"add": ["seller"]}, token=token), 404, "NOT_FOUND")
        self.assertFields(self.api.post("/admin/users/%s/roles" % member["id"],
                                        {"add": ["emperor"]}, token=token), "add")
        self.assertFields(self.api.post("/admin/users/%s/roles" % member["id"],
                                        {"remove": ["member"]}, token=token), "remove")
        self.assertFields(self.api.post("/admin/users/%s/roles" % member["id"],
                                        {"add": "seller"}, token=token), "add")
        self.assertError(self.api.post("/admin/users/%s/roles" % member["id"],
                                       {"add": ["seller"]}), 401, "UNAUTHENTICATED")
        # Nothing changed, and the member's session is intact.
        self.assertEqual(self.assertOk(self.api.me(member["access"]))["roles"], ["member"])
        lst = self.api.call("GET", "/admin/users?per_page=2&q=m-errors", token=token)
        self.assertEqual(lst.status, 200, lst)
        doc = lst.json()
        self.assertEqual(doc["meta"]["per_page"], 2)
        self.assertEqual(doc["meta"]["total"], 1)
        self.assertEqual(doc["data"][0]["id"], member["id"])
        # Absurd paging is clamped or refused, never a crash.
        for query in ("page=9223372036854775807&per_page=100", "page=-5&per_page=0",
                      "page=abc&per_page=1e9", "page=99999999999999999999999"):
            with self.subTest(query=query):
                r = self.api.call("GET", "/admin/users?" + query, token=token)
                self.assertIn(r.status, (200, 422), r)
                if r.status == 200:
                    self.assertLessEqual(len(r.json()["data"]), 100)
        self.assertEqual(self.server.get("/health").status, 200)

    def test_d_members_get_403_on_admin_routes(self):
        a = self.api.new_user("bola-a")
        b = self.api.new_user("bola-b")
        for method, path, body in (
                ("POST", "/admin/users/%s/roles" % b["id"], {"add": ["admin"]}),
                ("POST", "/admin/users/%s/roles" % a["id"], {"add": ["admin"]}),
                ("POST", "/admin/users/%s/disable" % b["id"], {}),
                ("GET", "/admin/users", None)):
            with self.subTest(method=method, path=path):
                self.assertError(self.api.call(method, path, body, token=a["access"]), 403,
                                 "FORBIDDEN")
        # /auth/me is always the caller, whatever the body says.
        u = self.assertOk(self.api.call("PUT", "/auth/me", {"id": b["id"], "display_name": "A!",
                                                            "email": b["email"]},
                                        token=a["access"]))
        self.assertEqual(u["id"], a["id"])
        self.assertEqual(u["email"], a["email"])
        mb = self.assertOk(self.api.me(b["access"]))
        self.assertEqual(mb["display_name"], "Ana Tester")
        self.assertEqual(mb["roles"], ["member"])
        # Logging out with someone else's refresh token does not end their session.
        self.assertOk(self.api.post("/auth/logout", {"refresh_token": b["refresh"]},
                                    token=a["access"]))
        self.assertOk(self.api.post("/auth/refresh", {"refresh_token": b["refresh"]}))
        self.assertOk(self.api.me(b["access"]))

    def test_e_admin_disables_an_account(self):
        member = self.api.new_user("m-disable")
        token = self.admin_token()
        u = self.assertOk(self.api.post("/admin/users/%s/disable" % member["id"], {}, token=token))
        self.assertIs(u["disabled"], True)
        self.assertDead(member["access"])
        self.assertError(self.api.login(member["email"]), 401, "INVALID_CREDENTIALS")
        self.assertError(self.api.post("/auth/refresh", {"refresh_token": member["refresh"]}),
                         401, "UNAUTHENTICATED")
        self.assertError(self.api.post("/admin/users/usr_nobody/disable", {}, token=token), 404,
                         "NOT_FOUND")


    def test_f_refresh_keeps_what_the_session_was_opened_with(self):
        self.admin_token()
        cls = type(self)
        # The MFA session's refresh gives an access token that still has the admin's powers
        # (else every admin would lose them every 15 minutes)...
        d = self.assertOk(self.api.post("/auth/refresh", {"refresh_token": cls.admin_mfa_refresh}))
        cls.admin_mfa_refresh = d["refresh_token"]
        self.assertIs(jwt_parts(d["access_token"])[1].get("mfa"), True)
        r = self.api.call("GET", "/admin/users", token=d["access_token"])
        self.assertEqual(r.status, 200, r)
        # ...while a session opened with the password alone does not gain them by refreshing.
        d = self.assertOk(self.api.post("/auth/refresh",
                                        {"refresh_token": cls.admin_plain_refresh}))
        self.assertIs(jwt_parts(d["access_token"])[1].get("mfa"), False)
        self.assertError(self.api.call("GET", "/admin/users", token=d["access_token"]), 403,
                         "FORBIDDEN")

    def test_g_a_role_revoked_during_a_login_is_not_in_any_live_token(self):
        # The login checks the password (tens of milliseconds) between reading the account and
        # signing the token; a revocation landing in between must still win.
        member = self.api.new_user("m-race")
        token = self.admin_token()
        roles_path = "/admin/users/%s/roles" % member["id"]
        for delay_ms in (0, 10, 20, 30, 40, 50, 60, 80):
            with self.subTest(delay_ms=delay_ms):
                self.assertOk(self.api.post(roles_path, {"add": ["seller"]}, token=token))
                got = {}
                t = threading.Thread(target=lambda: got.update(r=self.api.login(member["email"])))
                t.start()
                time.sleep(delay_ms / 1000.0)
                self.assertOk(self.api.post(roles_path, {"remove": ["seller"]}, token=token))
                t.join(timeout=30)
                d = self.assertOk(got["r"])
                access = d["access_token"]
                if self.api.me(access).status == 200:
                    self.assertNotIn("seller", jwt_parts(access)[1]["roles"])
                # And a login now sees the revocation.
                fresh = self.assertOk(self.api.login(member["email"]))
                self.assertEqual(fresh["user"]["roles"], ["member"])

    def test_h_password_change_keeps_the_second_factor_of_the_session(self):
        email = unique_email("admin2")
        p = cli_create_user(self.data_dir, email, "admin")
        self.assertEqual(p.returncode, 0, p.stderr)
        d = self.assertOk(self.api.login(email))
        secret, _ = self.enable_mfa({"access": d["access_token"]})
        d = self.assertOk(self.api.login(email, code=totp(secret, 1)))
        new_pw = "the admin's new passphrase"
        d2 = self.assertOk(self.api.post("/auth/password", {"current_password": PASSWORD,
                                                            "new_password": new_pw},
                                         token=d["access_token"]))
        self.assertDead(d["access_token"])
        # The caller proved both factors for this session: the fresh pair keeps its powers...
        r = self.api.call("GET", "/admin/users", token=d2["access_token"])
        self.assertEqual(r.status, 200, r)
        d3 = self.assertOk(self.api.post("/auth/refresh", {"refresh_token": d2["refresh_token"]}))
        r = self.api.call("GET", "/admin/users", token=d3["access_token"])
        self.assertEqual(r.status, 200, r)
        # ...and a member's password change gives no staff powers, of course.
        member = self.api.new_user("m-pw")
        d4 = self.assertOk(self.api.post("/auth/password", {"current_password": PASSWORD,
                                                            "new_password": new_pw},
                                         token=member["access"]))
        self.assertIs(jwt_parts(d4["access_token"])[1].get("mfa"), False)


# -- mail over SMTP with STARTTLS ---------------------------------------------------------------


class FakeSmtp:
    """A one-connection-at-a-time SMTP server on 127.0.0.1 that records what it is told.

    With offer_starttls it advertises STARTTLS and upgrades with the given certificate."""

    def __init__(self, certfile, keyfile, offer_starttls=True):
        self.offer_starttls = offer_starttls
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(certfile, keyfile)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.messages = []   # dicts: tls, auth, mail_from, rcpt, data
        self.commands = []   # (tls, command line) for every line received
        self._tls_conns = []
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def stop(self):
        self.stopping = True
        self.thread.join(timeout=5)
        self.sock.close()
        for c in self._tls_conns:
            c.close()

    def _serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            try:
                conn.settimeout(5)
                self._session(conn)
            except (OSError, ssl.SSLError, ValueError):
                pass
            finally:
                conn.close()

    def _session(self, conn):
        try:
            self._converse(conn)
        finally:
            conn.close()

    def _converse(self, conn):
        f = conn.makefile("rb")
        tls = False
        current = {}

        def send(text):
            conn.sendall(text.encode())

        send("220 fake.smtp ESMTP\r\n")
        while True:
            line = f.readline()
            if not line:
                return
            cmd = line.decode("utf-8", "replace").rstrip("\r\n")
            self.commands.append((tls, cmd))
            verb = cmd.split(" ", 1)[0].upper()
            if verb == "EHLO":
                caps = ["fake.smtp", "AUTH PLAIN"]
                if self.offer_starttls and not tls:
                    caps.insert(1, "STARTTLS")
                send("".join("250-%s\r\n" % c for c in caps[:-1]) + "250 %s\r\n" % caps[-1])
            elif verb == "STARTTLS" and self.offer_starttls and not tls:
                send("220 go ahead\r\n")
                conn = self.ctx.wrap_socket(conn, server_side=True)
                f = conn.makefile("rb")
                tls = True
                self._tls_conns.append(conn)
            elif verb == "AUTH":
                current["auth"] = base64.b64decode(cmd.split(" ")[2])
                send("235 ok\r\n")
            elif verb == "MAIL":
                current["mail_from"] = cmd[len("MAIL FROM:"):]
                current["tls"] = tls
                send("250 ok\r\n")
            elif verb == "RCPT":
                current["rcpt"] = cmd[len("RCPT TO:"):]
                send("250 ok\r\n")
            elif verb == "DATA":
                send("354 end with .\r\n")
                data = b""
                while not data.endswith(b"\r\n.\r\n"):
                    chunk = f.readline()
                    if not chunk:
                        return
                    data += chunk
                current["data"] = data.decode("utf-8", "replace")
                self.messages.append(dict(current))
                send("250 queued\r\n")
            elif verb == "QUIT":
                send("221 bye\r\n")
                return
            else:
                send("502 not implemented\r\n")


class SmtpMail(IdentityCase):
    """mail.transport = smtp: the verification mail goes out over STARTTLS with AUTH PLAIN,
    verified against the server's certificate, and never in clear text."""

    offer_starttls = True

    @classmethod
    def setUpClass(cls):
        # A first start makes the self-signed certificate (CN localhost); the mail client trusts
        # it through SSL_CERT_FILE.
        cls.dir = tempfile.mkdtemp(prefix="souk-smtp-")
        first = Server(data_dir=cls.dir)
        try:
            first.start()
            first.stop()
        finally:
            first.kill()
        cert = os.path.join(cls.dir, "tls", "cert.pem")
        cls.smtp = FakeSmtp(cert, os.path.join(cls.dir, "tls", "key.pem"),
                            offer_starttls=cls.offer_starttls)
        cls.server = Server(data_dir=cls.dir, env={"SSL_CERT_FILE": cert}, sets={
            "mail.transport": "smtp", "mail.smtp_host": "localhost",
            "mail.smtp_port": str(cls.smtp.port), "mail.smtp_starttls": "true",
            "mail.smtp_user": "relay-user", "mail.smtp_password": "relay-secret",
            "mail.smtp_timeout_ms": "3000"})
        try:
            cls.server.start()
        except Exception:
            cls.smtp.stop()
            shutil.rmtree(cls.dir, ignore_errors=True)
            raise
        cls.api = Api(cls.server)

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.smtp.stop()
            shutil.rmtree(cls.dir, ignore_errors=True)

    def test_verification_mail_over_starttls(self):
        email = unique_email("smtp")
        self.assertOk(self.api.register(email), 201)
        msg = wait_until(lambda: next((m for m in self.smtp.messages
                                       if m.get("rcpt") == "<%s>" % email), None),
                         timeout=10, what="the mail at the fake SMTP server")
        self.assertTrue(msg["tls"], "MAIL FROM sent before STARTTLS")
        self.assertEqual(msg["auth"], b"\0relay-user\0relay-secret")
        self.assertEqual(msg["mail_from"], "<no-reply@souk.local>")
        # Nothing but EHLO and STARTTLS in clear text: the credentials went over TLS.
        clear = {c.split(" ")[0].upper() for tls, c in self.smtp.commands if not tls}
        self.assertLessEqual(clear, {"EHLO", "STARTTLS"}, self.smtp.commands)
        data = msg["data"]
        self.assertIn("To: %s\r\n" % email, data)
        self.assertTrue(data.endswith("\r\n.\r\n"))
        m = re.search(r"/verify-email\?token=([A-Za-z0-9_\-]+)", data)
        self.assertTrue(m, data)
        self.assertOk(self.api.post("/auth/verify-email", {"token": m.group(1)}))
        # The mailbox transport was not used.
        self.assertEqual(mailbox_messages(self.data_dir, email), [])


class SmtpWithoutStarttls(SmtpMail):
    """A relay that does not offer STARTTLS gets nothing: no downgrade to clear text."""

    offer_starttls = False

    # Replaces the inherited test of the same name.
    def test_verification_mail_over_starttls(self):
        email = unique_email("smtp-plain")
        self.assertOk(self.api.register(email), 201)
        # The client connects (EHLO) but stops there; give it a few tries.
        wait_until(lambda: any(c.startswith("EHLO") for _, c in self.smtp.commands), timeout=10,
                   what="a connection to the fake SMTP server")
        time.sleep(0.5)
        verbs = {c.split(" ")[0].upper() for _, c in self.smtp.commands}
        self.assertEqual(verbs - {"EHLO", "QUIT"}, set(), self.smtp.commands)
        self.assertEqual(self.smtp.messages, [])


# -- rate limiting -----------------------------------------------------------------------------


class RateLimit(IdentityCase):
    server_sets = {"rate_limits.auth.burst": "3", "rate_limits.auth.per_second": "0.1"}

    def test_auth_routes_answer_429_when_the_bucket_is_empty(self):
        answers = [self.api.post("/auth/verify-email", {"token": "x"}) for _ in range(3)]
        for i, r in enumerate(answers):
            self.assertEqual(r.status, 422, r)
            self.assertEqual(r.header("X-RateLimit-Limit"), "3")
            self.assertEqual(r.header("X-RateLimit-Remaining"), str(2 - i))
            self.assertTrue(r.header("X-RateLimit-Reset"))
        r = self.api.post("/auth/login", {"email": "a@b.org", "password": PASSWORD})
        self.assertError(r, 429, "RATE_LIMITED")
        self.assertLessEqual(int(r.header("Retry-After")), 10)
        self.assertEqual(r.header("X-RateLimit-Remaining"), "0")
        self.assertError(self.api.register(), 429, "RATE_LIMITED")
        # Only /auth/* is limited.
        self.assertEqual(self.server.get("/health").status, 200)
        self.assertError(self.api.call("GET", "/auth/me"), 401, "UNAUTHENTICATED")


if __name__ == "__main__":
    unittest.main()
