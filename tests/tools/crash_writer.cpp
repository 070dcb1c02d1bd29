// souk_crash_writer DB_PATH [THREADS] — the child of the crash-safety test. Opens (or reopens,
// going on after the highest id) a db::database at DB_PATH with synchronous=FULL and, from THREADS
// threads, submits small write jobs forever. After each job the writer has acknowledged (committed)
// it prints "ack <id>"; every 17th job fails on purpose (SQL error inside the job) and prints "nack
// <id>". Each line is flushed before the next job, so whatever the parent reads was acknowledged.
// The parent kills this process with SIGKILL at a random moment and checks the file.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <souk/core/clock.hpp>
#include <souk/db/database.hpp>
#include <string>
#include <thread>
#include <vector>

namespace {

std::mutex out_mu;

void say(const char* what, std::int64_t id) {
    std::lock_guard lock(out_mu);
    std::printf("%s %lld\n", what, static_cast<long long>(id));
    std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fputs("usage: souk_crash_writer DB_PATH [THREADS]\n", stderr);
        return 2;
    }
    const int threads = argc > 2 ? std::atoi(argv[2]) : 4;
    souk::system_clock clk;
    souk::db::database_options opts;
    opts.path = argv[1];
    opts.synchronous = "FULL";
    opts.readers = 1;
    souk::db::database db(opts, clk);

    // A file left by an earlier (killed) run goes on after its highest id.
    auto made =
        db.writer().write_sync<std::int64_t>([](souk::db::tx& t) -> souk::result<std::int64_t> {
            t.conn().exec(
                "CREATE TABLE IF NOT EXISTS crash_jobs (id INTEGER PRIMARY KEY, thread INTEGER NOT "
                "NULL, payload TEXT NOT NULL)");
            t.conn().exec(
                "CREATE TABLE IF NOT EXISTS crash_totals (id INTEGER PRIMARY KEY CHECK (id = 1), "
                "jobs INTEGER NOT NULL)");
            t.conn().exec("INSERT OR IGNORE INTO crash_totals (id, jobs) VALUES (1, 0)");
            auto& st = t.prepare("SELECT COALESCE(MAX(id), 0) FROM crash_jobs");
            st.step();
            const std::int64_t last = st.int64(0);
            st.reset();
            return last;
        });
    if (!made.ok()) {
        std::fprintf(stderr, "crash_writer: cannot create tables: %s\n",
                     made.err().message.c_str());
        return 1;
    }
    std::printf("ready\n");
    std::fflush(stdout);

    std::atomic<std::int64_t> next{*made + 1};
    std::vector<std::thread> pool;
    for (int n = 0; n < threads; ++n) {
        pool.emplace_back([&db, &next, n] {
            for (;;) {
                const std::int64_t id = next++;
                const bool fail = id % 17 == 0;
                // Job sizes vary so that commits span one or several pages.
                const std::string payload(static_cast<std::size_t>(16 + (id * 7919) % 1500), 'p');
                auto r = db.writer().write_sync<bool>(
                    [id, n, fail, payload](souk::db::tx& t) -> souk::result<bool> {
                        t.prepare("INSERT INTO crash_jobs (id, thread, payload) VALUES (?, ?, ?)")
                            .bind_all(id, n, payload)
                            .run();
                        t.prepare("UPDATE crash_totals SET jobs = jobs + 1 WHERE id = 1").run();
                        // After both statements, so a failed job must roll back both.
                        if (fail) t.prepare("INSERT INTO no_such_table VALUES (1)").run();
                        return true;
                    });
                say(r.ok() ? "ack" : "nack", id);
            }
        });
    }
    for (auto& t : pool)
        t.join();
    return 0;
}
