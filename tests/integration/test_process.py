"""The server process as the kernel sees it: the scheduling policy of its threads
(server.cpu_scheduling, docs/decisions/0019)."""

import os
import unittest

from harness import Server


def thread_policies(pid):
    """{thread name: set of scheduling policies} of every thread of pid."""
    policies = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                name = f.read().strip()
            policy = os.sched_getscheduler(int(tid))
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that ended meanwhile
        policies.setdefault(name, set()).add(policy)
    return policies


class CpuScheduling(unittest.TestCase):

    def threads_of(self, sets=None):
        server = Server(sets=sets)
        self.addCleanup(server.cleanup)
        server.start()
        self.assertEqual(server.get("/health").status, 200)  # it serves under that policy
        return thread_policies(server.proc.pid)

    def test_every_thread_runs_as_batch_work_by_default(self):
        policies = self.threads_of()
        for name in ("souk", "souk-writer", "souk-wal-sync", "souk-checkpoint"):
            self.assertIn(name, policies)
        self.assertEqual({p for s in policies.values() for p in s}, {os.SCHED_BATCH}, policies)

    def test_normal_keeps_the_default_policy(self):
        policies = self.threads_of({"server.cpu_scheduling": "normal"})
        self.assertIn("souk-writer", policies)
        self.assertEqual({p for s in policies.values() for p in s}, {os.SCHED_OTHER}, policies)


if __name__ == "__main__":
    unittest.main()
