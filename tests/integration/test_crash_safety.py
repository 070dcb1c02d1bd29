"""Crash safety of the group-committing writer: a child (tests/tools/crash_writer.cpp) writes
jobs from several threads at synchronous=FULL and prints each acknowledgment; the parent
SIGKILLs it at a random moment and reopens the file: every acknowledged job is there, no
failed job is, each job is atomic, and PRAGMA integrity_check is ok."""

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
import unittest

from harness import ROOT, child_env, sanitizer_report

ROUNDS = 5


def crash_writer():
    p = os.environ.get("CRASH_WRITER")
    if p:
        return p
    for cand in ("build/integ/tests/tools/souk_crash_writer", "build/asan/tests/tools/souk_crash_writer"):
        c = os.path.join(ROOT, cand)
        if os.path.exists(c):
            return c
    raise unittest.SkipTest("no souk_crash_writer: set CRASH_WRITER")


class CrashSafety(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="souk-crash-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.proc = None
        self.addCleanup(self.kill_child)

    def kill_child(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            for f in (self.proc.stdout, self.proc.stderr):
                if f and not f.closed:
                    f.close()

    def run_round(self, rnd, seed, db, resume):
        rng = random.Random(seed)
        threads = rng.choice((2, 4, 8))
        self.proc = subprocess.Popen([crash_writer(), db, str(threads)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=child_env())
        acked, nacked = set(), set()
        lines = []
        done = threading.Event()
        ready = threading.Event()

        def reader():
            for raw in iter(self.proc.stdout.readline, b""):
                line = raw.decode().strip()
                if line == "ready":
                    ready.set()
                    continue
                what, _, n = line.partition(" ")
                if what == "ack":
                    acked.add(int(n))
                elif what == "nack":
                    nacked.add(int(n))
                elif not line.startswith("{"):  # JSON lines are the kernel's log

                    lines.append(line)
            done.set()

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        self.assertTrue(ready.wait(30), "crash_writer did not start: %s" %
                        (self.proc.poll() and self.proc.stderr.read().decode()))
        # Let it run for a random while (at least some acknowledgments), then kill it.
        target = rng.randint(50, 1500)
        delay = rng.uniform(0.05, 0.8)
        deadline = time.monotonic() + 30
        t0 = time.monotonic()
        while (len(acked) < target or time.monotonic() - t0 < delay) and time.monotonic() < deadline:
            time.sleep(0.005)
        # And a random extra sub-millisecond jitter so the kill lands mid-commit now and then.
        time.sleep(rng.random() / 1000)
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.assertTrue(done.wait(10))
        t.join(5)
        err = self.proc.stderr.read().decode("utf-8", "replace")
        self.proc.stdout.close()
        self.proc.stderr.close()
        self.assertIsNone(sanitizer_report(err), err)
        self.assertEqual(self.proc.returncode, -signal.SIGKILL)
        self.assertEqual(lines, [], "unexpected output")
        self.assertGreater(len(acked), 0, "nothing acknowledged before the kill")

        c = sqlite3.connect(db)
        try:
            self.assertEqual(c.execute("PRAGMA integrity_check").fetchall(), [("ok",)])
            present = {i for (i,) in c.execute("SELECT id FROM crash_jobs")}
            (total,), = c.execute("SELECT jobs FROM crash_totals").fetchall()
            journal, = c.execute("PRAGMA journal_mode").fetchone()
        finally:
            c.close()
        lost = (acked | resume) - present
        self.assertEqual(lost, set(), "round %d (seed %d): %d acknowledged job(s) lost, e.g. %s" % (
            rnd, seed, len(lost), sorted(lost)[:10]))
        self.assertEqual(nacked & present, set(), "failed jobs were committed")
        self.assertTrue(all(i % 17 == 0 for i in nacked))
        self.assertTrue(all(i % 17 != 0 for i in present), "a job meant to fail is present")
        # Each job is atomic: its row and its counter increment commit together.
        self.assertEqual(total, len(present))
        self.assertEqual(journal.lower(), "wal")
        return present, len(acked)

    def test_sigkill_at_random_moments(self):
        master = int(os.environ.get("CRASH_SEED", random.randrange(1 << 30)))
        print("\ncrash safety master seed: %d (set CRASH_SEED to replay)" % master, flush=True)
        present = set()
        db = None
        for rnd in range(ROUNDS):
            seed = master + rnd
            # Even rounds start a fresh file; odd rounds reopen the file the previous round's
            # kill left behind (WAL recovery), write on, and are killed again.
            fresh = rnd % 2 == 0
            if fresh:
                db = os.path.join(self.dir, "round-%d.db" % rnd)
            resume = set() if fresh else present
            with self.subTest(round=rnd, seed=seed, fresh=fresh):
                present, n = self.run_round(rnd, seed, db, resume)
                print("round %d seed %d (%s): %d acknowledged, %d rows after the kill" % (
                    rnd, seed, "fresh" if fresh else "reopened", n, len(present)), flush=True)


if __name__ == "__main__":
    unittest.main()
