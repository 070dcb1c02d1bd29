// souk_bench_writer: durable write jobs per second through the kernel's db::writer, with group
// commit against one transaction per job. Every mode runs on a fresh SQLite file (WAL,
// synchronous=FULL) in a temporary directory on a real disk; a job is one INSERT of a small row.
//   one_per_job      1 thread, write_sync: waits for each commit (one transaction per job)
//   one_per_job_N    N threads, write_sync, batch_jobs_max = 1 (one transaction per job)
//   group_N          N threads, write_sync (group commit; batches of at most N)
//   group_async_N    1 thread, submit() keeping N jobs in flight (as N concurrent HTTP requests
//                    awaiting writer().write do, without N threads to wake)
//   group_async      the same with --window (1024) jobs in flight (batches up to 256)
//
// usage: souk_bench_writer [--duration S] [--rounds N] [--dir DIR] [--submitters N]
//                          [--window N] [--only MODE]
// Each round runs every mode once, back to back, so that the ratios of a round are measured under
// the same conditions (the disk's fsync latency drifts a lot on a shared machine). Prints one JSON
// line per mode and round, then a markdown table of the medians over the rounds and the group /
// one-per-job ratio of each round with their median.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <souk/core/clock.hpp>
#include <souk/db/database.hpp>
#include <souk/log/log.hpp>
#include <string>
#include <thread>
#include <vector>

namespace {

using steady = std::chrono::steady_clock;
namespace fs = std::filesystem;

struct options {
    double duration_s = 5;
    int rounds = 3;
    std::string dir;  // default: a new directory under $TMPDIR or /tmp
    int submitters = 64;
    int window = 1024;  // async mode: jobs in flight
    std::string only;
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(
        stderr,
        "souk_bench_writer: %s\n"
        "usage: souk_bench_writer [--duration S] [--rounds N] [--dir DIR] [--submitters N]\n"
        "         [--window N] [--only MODE]\n"
        "modes: one_per_job one_per_job_N group_N group_async_N group_async\n",
        why);
    std::exit(2);
}

options parse_args(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) usage(("missing value after " + a).c_str());
            return argv[++i];
        };
        if (a == "--duration") {
            o.duration_s = std::stod(next());
        } else if (a == "--rounds") {
            o.rounds = std::stoi(next());
        } else if (a == "--dir") {
            o.dir = next();
        } else if (a == "--submitters") {
            o.submitters = std::stoi(next());
        } else if (a == "--window") {
            o.window = std::stoi(next());
        } else if (a == "--only") {
            o.only = next();
        } else {
            usage(("unknown option " + a).c_str());
        }
    }
    if (o.duration_s <= 0 || o.rounds < 1 || o.submitters < 1 || o.window < 1) usage("bad value");
    return o;
}

// The job: one INSERT of a small row with a unique key, as a durable API write would do.
void insert_row(souk::db::tx& t, std::uint64_t n) {
    t.prepare("INSERT INTO bench_rows (k, v, created_ms) VALUES (?, ?, ?)")
        .bind_all("key-" + std::to_string(n), "value", t.now_ms())
        .run();
}

struct mode_result {
    std::string name;
    std::string how;
    double seconds = 0;
    std::uint64_t jobs = 0;
    std::uint64_t commits = 0;
    std::uint64_t failed = 0;
    double p50_ms = 0, p99_ms = 0;  // submit to commit, per job
    double jobs_per_s() const { return static_cast<double>(jobs) / seconds; }
    double commits_per_s() const { return static_cast<double>(commits) / seconds; }
};

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double percentile(std::vector<float>& v, double q) {
    if (v.empty()) return 0;
    const auto k = static_cast<std::size_t>(std::min<double>(
        static_cast<double>(v.size() - 1), std::ceil(q * static_cast<double>(v.size())) - 1));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return v[k];
}

class bench {
  public:
    bench(const options& o, std::string path, souk::db::writer_options w) : opts_(o) {
        souk::db::database_options d;
        d.path = std::move(path);
        d.synchronous = "FULL";
        d.readers = 1;
        d.writer = w;
        db_ = std::make_unique<souk::db::database>(d, clock_);
        // Creates the table and reads the writer connection's synchronous level (2 = FULL).
        auto r = db_->writer().write_sync<std::int64_t>(
            [](souk::db::tx& t) -> souk::result<std::int64_t> {
                t.conn().exec(
                    "CREATE TABLE IF NOT EXISTS bench_rows (id INTEGER PRIMARY KEY, k TEXT NOT "
                    "NULL UNIQUE, v TEXT NOT NULL, created_ms INTEGER NOT NULL)");
                auto& st = t.prepare("PRAGMA synchronous");
                st.step();
                const auto v = st.int64(0);
                st.reset();
                return v;
            });
        if (!r.ok()) throw std::runtime_error("cannot create the bench table");
        if (*r != 2) throw std::runtime_error("the writer is not at synchronous=FULL");
        start_stats_ = db_->writer().stats();
    }

    // `threads` submitters, each waiting for its job's commit before the next (write_sync).
    mode_result run_sync(const std::string& name, const std::string& how, int threads) {
        std::atomic<std::uint64_t> counter{0};
        std::atomic<std::uint64_t> failed{0};
        std::vector<std::vector<float>> lat(static_cast<std::size_t>(threads));
        const auto start = steady::now();
        const auto end = start + std::chrono::duration_cast<steady::duration>(
                                     std::chrono::duration<double>(opts_.duration_s));
        std::vector<std::thread> pool;
        for (int i = 0; i < threads; ++i) {
            pool.emplace_back([&, i] {
                auto& mine = lat[static_cast<std::size_t>(i)];
                mine.reserve(1 << 16);
                while (steady::now() < end) {
                    const std::uint64_t n = counter.fetch_add(1, std::memory_order_relaxed);
                    const auto t0 = steady::now();
                    auto r =
                        db_->writer().write_sync<bool>([n](souk::db::tx& t) -> souk::result<bool> {
                            insert_row(t, n);
                            return true;
                        });
                    const auto t1 = steady::now();
                    if (!r.ok()) failed.fetch_add(1, std::memory_order_relaxed);
                    mine.push_back(std::chrono::duration<float, std::milli>(t1 - t0).count());
                }
            });
        }
        for (auto& t : pool)
            t.join();
        const double seconds = std::chrono::duration<double>(steady::now() - start).count();
        std::vector<float> all;
        for (auto& v : lat)
            all.insert(all.end(), v.begin(), v.end());
        mode_result m = finish(name, how, seconds, failed.load());
        m.p50_ms = percentile(all, 0.50);
        m.p99_ms = percentile(all, 0.99);
        return m;
    }

    // One thread submits jobs without waiting, keeping up to `window` in flight.
    mode_result run_async(const std::string& name, const std::string& how, int window) {
        struct state {
            std::atomic<int> in_flight{0};
            std::atomic<std::uint64_t> failed{0};
            std::vector<float> latency_ms;  // appended on the writer thread only
        } st;
        st.latency_ms.reserve(1 << 20);
        class job final : public souk::db::write_job {
          public:
            job(state& s, std::uint64_t n) : s_(s), n_(n), submitted_(steady::now()) {}
            souk::status run(souk::db::tx& t) override {
                insert_row(t, n_);
                return {};
            }
            void complete(souk::status outcome) override {
                if (!outcome.ok()) s_.failed.fetch_add(1, std::memory_order_relaxed);
                s_.latency_ms.push_back(
                    std::chrono::duration<float, std::milli>(steady::now() - submitted_).count());
                s_.in_flight.fetch_sub(1, std::memory_order_release);
                s_.in_flight.notify_one();
            }

          private:
            state& s_;
            std::uint64_t n_;
            steady::time_point submitted_;
        };
        const auto start = steady::now();
        const auto end = start + std::chrono::duration_cast<steady::duration>(
                                     std::chrono::duration<double>(opts_.duration_s));
        std::uint64_t n = 10'000'000'000ULL;  // distinct from the sync modes' keys
        while (steady::now() < end) {
            for (int cur = st.in_flight.load(std::memory_order_acquire); cur >= window;
                 cur = st.in_flight.load(std::memory_order_acquire))
                st.in_flight.wait(cur);
            st.in_flight.fetch_add(1, std::memory_order_relaxed);
            db_->writer().submit(std::make_unique<job>(st, n++));
        }
        for (int cur = st.in_flight.load(); cur > 0; cur = st.in_flight.load())
            st.in_flight.wait(cur);
        const double seconds = std::chrono::duration<double>(steady::now() - start).count();
        mode_result m = finish(name, how, seconds, st.failed.load());
        m.p50_ms = percentile(st.latency_ms, 0.50);
        m.p99_ms = percentile(st.latency_ms, 0.99);
        return m;
    }

  private:
    mode_result finish(const std::string& name, const std::string& how, double seconds,
                       std::uint64_t failed) {
        const auto s = db_->writer().stats();
        mode_result m;
        m.name = name;
        m.how = how;
        m.seconds = seconds;
        m.jobs = s.jobs - start_stats_.jobs;
        m.commits = s.commits - start_stats_.commits;
        m.failed = failed;
        start_stats_ = s;
        return m;
    }

    const options& opts_;
    souk::system_clock clock_;
    std::unique_ptr<souk::db::database> db_;
    souk::db::writer_stats start_stats_;
};

}  // namespace

int main(int argc, char** argv) {
    const options o = parse_args(argc, argv);
    souk::log::set_output(stderr);
    souk::log::set_level(souk::log::level::warn);

    fs::path dir;
    bool own_dir = false;
    if (o.dir.empty()) {
        const char* base = std::getenv("TMPDIR");
        std::string tmpl = std::string(base && *base ? base : "/tmp") + "/souk_bench_writer.XXXXXX";
        if (!mkdtemp(tmpl.data())) {
            std::perror("mkdtemp");
            return 1;
        }
        dir = tmpl;
        own_dir = true;
    } else {
        dir = o.dir;
        fs::create_directories(dir);
    }

    souk::db::writer_options defaults;  // batch_jobs_max 256, batch_wait_us_max 2000
    souk::db::writer_options single = defaults;
    single.batch_jobs_max = 1;

    struct plan {
        std::string name;
        std::string how;
        souk::db::writer_options w;
        int threads;  // 0: async
        int window = 0;
    };
    const std::string n = std::to_string(o.submitters);
    std::vector<plan> plans{
        {"one_per_job", "1 submitter, write_sync (waits for each commit)", defaults, 1},
        {"one_per_job_" + n, n + " submitters, write_sync, batch_jobs_max=1", single, o.submitters},
        {"group_" + n, n + " submitters, write_sync, batch_jobs_max=256", defaults, o.submitters},
        {"group_async_" + n, "1 thread, submit() with " + n + " in flight, batch_jobs_max=256",
         defaults, 0, o.submitters},
        {"group_async",
         "1 thread, submit() with " + std::to_string(o.window) + " in flight, batch_jobs_max=256",
         defaults, 0, o.window},
    };
    if (!o.only.empty()) {
        std::erase_if(plans, [&](const plan& p) { return p.name != o.only; });
        if (plans.empty()) usage("no such mode");
    }

    // results[mode][round]
    std::vector<std::vector<mode_result>> results(plans.size());
    for (int round = 1; round <= o.rounds; ++round) {
        for (std::size_t i = 0; i < plans.size(); ++i) {
            const auto& p = plans[i];
            const auto path =
                (dir / ("bench_r" + std::to_string(round) + "_" + p.name + ".db")).string();
            mode_result m;
            {
                bench b(o, path, p.w);
                m = p.threads > 0 ? b.run_sync(p.name, p.how, p.threads)
                                  : b.run_async(p.name, p.how, p.window);
            }
            std::error_code ec;
            for (const char* suffix : {"", "-wal", "-shm"})
                fs::remove(path + suffix, ec);
            std::printf(
                "{\"round\":%d,\"mode\":\"%s\",\"seconds\":%.3f,\"jobs\":%llu,\"commits\":%llu,"
                "\"failed\":%llu,\"jobs_per_s\":%.1f,\"commits_per_s\":%.1f,"
                "\"jobs_per_commit\":%.2f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
                "\"synchronous\":\"FULL\"}\n",
                round, m.name.c_str(), m.seconds, static_cast<unsigned long long>(m.jobs),
                static_cast<unsigned long long>(m.commits),
                static_cast<unsigned long long>(m.failed), m.jobs_per_s(), m.commits_per_s(),
                m.commits ? static_cast<double>(m.jobs) / static_cast<double>(m.commits) : 0.0,
                m.p50_ms, m.p99_ms);
            std::fflush(stdout);
            results[i].push_back(m);
        }
    }

    auto med = [](const std::vector<mode_result>& rs, auto f) {
        std::vector<double> v;
        for (const auto& r : rs)
            v.push_back(f(r));
        return median(v);
    };
    std::printf("\n| mode | how | jobs/s | commits/s | jobs/commit | p50 / p99 ms per job |\n");
    std::printf("|---|---|---:|---:|---:|---|\n");
    for (std::size_t i = 0; i < plans.size(); ++i) {
        const auto& rs = results[i];
        const double jobs = med(rs, [](const mode_result& r) { return r.jobs_per_s(); });
        const double commits = med(rs, [](const mode_result& r) { return r.commits_per_s(); });
        const double per = med(rs, [](const mode_result& r) {
            return r.commits ? static_cast<double>(r.jobs) / static_cast<double>(r.commits) : 0.0;
        });
        const double p50 = med(rs, [](const mode_result& r) { return r.p50_ms; });
        const double p99 = med(rs, [](const mode_result& r) { return r.p99_ms; });
        std::printf("| %s | %s | %.0f | %.0f | %.1f | %.3f / %.3f |\n", plans[i].name.c_str(),
                    plans[i].how.c_str(), jobs, commits, per, p50, p99);
    }
    std::printf("\n(medians over %d round%s of %.0f s per mode)\n", o.rounds,
                o.rounds > 1 ? "s" : "", o.duration_s);

    // Ratios against one transaction per job, each measured within one round.
    std::size_t base = plans.size();
    for (std::size_t i = 0; i < plans.size(); ++i)
        if (plans[i].name == "one_per_job") base = i;
    if (base < plans.size()) {
        std::printf("\n| ratio to one_per_job | per round | median | target >= 20x |\n");
        std::printf("|---|---|---:|---|\n");
        for (std::size_t i = 0; i < plans.size(); ++i) {
            if (i == base) continue;
            std::vector<double> ratios;
            std::string per_round;
            for (int r = 0; r < o.rounds; ++r) {
                const double b = results[base][static_cast<std::size_t>(r)].jobs_per_s();
                const double x = results[i][static_cast<std::size_t>(r)].jobs_per_s();
                ratios.push_back(b > 0 ? x / b : 0);
                char buf[32];
                std::snprintf(buf, sizeof buf, "%s%.1fx", r ? ", " : "", ratios.back());
                per_round += buf;
            }
            const double m = median(ratios);
            const bool group = plans[i].name.rfind("group", 0) == 0;
            std::printf("| %s | %s | %.1fx | %s |\n", plans[i].name.c_str(), per_round.c_str(), m,
                        group ? (m >= 20 ? "met" : "MISSED") : "n/a");
        }
    }
    if (own_dir) {
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
    return 0;
}
