"""The per-user index of bookings is written behind them (docs/decisions/0012): until a pass
writes an entry it lives in memory, and a SIGKILL loses that memory. These tests hold the pass
off (an hour between passes) so that everything goes through the memory and the recovery
paths: the owner's list and the idempotent replay see every booking before any pass, after a
SIGKILL and restart, and after a graceful stop, which writes the index out and marks it clean."""

import unittest

import sqlite3

from booking_support import (booking_server, db_path, event_with_members, query, souk_check,
                             start, unique)
from harness import wait_until

PER_MEMBER = 5


def owners_rows(data_dir):
    return set(query(data_dir, "SELECT user_id, idem_key, booking_id FROM booking_owners"))


def mark(data_dir):
    return query(data_dir, "SELECT indexed_through_ms, clean FROM booking_owners_mark")[0]


class OwnerIndexTest(unittest.TestCase):

    def setUp(self):
        self.server = booking_server(hold_seconds=600,
                                     extra={"booking.owner_index_seconds": "3600"})
        self.addCleanup(self.server.cleanup)
        self.show_id, self.zone_id, self.members = event_with_members(
            self.server, ("Floor", 0, 1000), members=2)
        # {member index: [(key, booking id, 201 body)]}
        self.made = {i: [] for i in range(len(self.members))}
        for i, m in enumerate(self.members):
            for _ in range(PER_MEMBER):
                key = unique("own")
                r = m.reserve(self.show_id, self.zone_id, 1, key=key)
                self.assertEqual(r.status, 201, r)
                self.made[i].append((key, r.json()["data"]["id"], r.body))

    def assert_owners_see_their_bookings(self, when):
        for i, m in enumerate(self.members):
            mine = {b for _, b, _ in self.made[i]}
            r = m.get("/bookings?per_page=100")
            self.assertEqual(r.status, 200, r)
            listed = [b["id"] for b in r.json()["data"]]
            self.assertEqual(set(listed), mine, "%s: member %d's list" % (when, i))
            self.assertEqual(r.json()["meta"]["total"], PER_MEMBER, when)
            pending = m.get("/bookings/pending?per_page=100")
            self.assertEqual({b["id"] for b in pending.json()["data"]}, mine, when)
            # The first key again: the same booking, byte for byte, and no second effect.
            key, _, body = self.made[i][0]
            again = m.reserve(self.show_id, self.zone_id, 1, key=key)
            self.assertEqual((again.status, again.body), (201, body), when)
            self.assertEqual(again.header("Idempotent-Replayed"), "true", when)
            # The same key with another body is refused.
            other = m.reserve(self.show_id, self.zone_id, 2, key=key)
            self.assertEqual(other.status, 422, "%s: %r" % (when, other))

    def all_made(self):
        return {(m.user_id, key, b) for i, m in enumerate(self.members)
                for key, b, _ in self.made[i]}

    def test_memory_then_sigkill_recovery_then_clean_stop(self):
        # No pass has run: the entries are in memory only, and the lists see them.
        self.assertEqual(owners_rows(self.server.data_dir) & self.all_made(), set())
        self.assert_owners_see_their_bookings("before any pass")

        self.server.kill()
        self.assertEqual(mark(self.server.data_dir)[1], 0, "a running server's index is unclean")
        code, out = souk_check(self.server.data_dir)
        self.assertEqual(code, 0, "recent bookings may wait for the recovery:\n" + out)
        start(self.server)
        # Start-up wrote the lost entries again from the bookings themselves.
        self.assertLessEqual(self.all_made(), owners_rows(self.server.data_dir))
        self.assertTrue(any('"msg":"owner index recovered"' in line
                            for line in self.server.stdout_lines), "recovery is logged")
        self.assert_owners_see_their_bookings("after SIGKILL and restart")

        # New bookings after the restart are in memory again; a graceful stop writes them.
        extra = unique("own")
        r = self.members[0].reserve(self.show_id, self.zone_id, 1, key=extra)
        self.assertEqual(r.status, 201, r)
        self.made[0].append((extra, r.json()["data"]["id"], r.body))
        self.server.stop()
        self.assertLessEqual(self.all_made(), owners_rows(self.server.data_dir))
        self.assertEqual(mark(self.server.data_dir)[1], 1, "a graceful stop leaves it clean")
        # Every booking is indexed, under its owner and key, and nothing else is.
        rows = query(self.server.data_dir,
                     "SELECT user_id, COALESCE(idem_key, ''), id FROM bookings")
        self.assertEqual(set(rows), owners_rows(self.server.data_dir))

        start(self.server)
        self.assertFalse(any('"msg":"owner index recovered"' in line
                             for line in self.server.stdout_lines),
                         "after a clean stop there is nothing to recover")
        self.assertEqual(len(self.made[0]), PER_MEMBER + 1)
        r = self.members[0].get("/bookings?per_page=100")
        self.assertEqual({b["id"] for b in r.json()["data"]}, {b for _, b, _ in self.made[0]})
        self.server.stop()

        # `souk check` holds the index to what it promises: clean means complete and right.
        code, out = souk_check(self.server.data_dir)
        self.assertEqual(code, 0, out)
        c = sqlite3.connect(db_path(self.server.data_dir))
        with c:
            c.execute("DELETE FROM booking_owners WHERE booking_id = ?", (self.made[1][0][1],))
            c.execute("INSERT INTO booking_owners (user_id, idem_key, booking_id) "
                      "VALUES (?, 'nokey', 'bkg_none')",
                      (self.members[1].user_id,))
        c.close()
        code, out = souk_check(self.server.data_dir)
        self.assertNotEqual(code, 0, out)
        self.assertIn("1 bookings are not indexed", out)
        self.assertIn("1 entries name no booking", out)


class OwnerIndexPassTest(unittest.TestCase):

    def test_the_pass_writes_entries_and_moves_the_mark(self):
        server = booking_server(hold_seconds=600, extra={"booking.owner_index_seconds": "1"})
        self.addCleanup(server.cleanup)
        show_id, zone_id, (m,) = event_with_members(server, ("Floor", 0, 100))
        before = mark(server.data_dir)[0]
        key = unique("own")
        r = m.reserve(show_id, zone_id, 1, key=key)
        self.assertEqual(r.status, 201, r)
        entry = (m.user_id, key, r.json()["data"]["id"])
        wait_until(lambda: entry in owners_rows(server.data_dir), 10,
                   what="the pass to write the entry")
        wait_until(lambda: mark(server.data_dir)[0] > before, 10, what="the mark to move")
        self.assertEqual(mark(server.data_dir)[1], 0)
        server.stop()


if __name__ == "__main__":
    unittest.main()
