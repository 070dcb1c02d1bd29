// souk_bench_ledger: ledger transfers per second through the kernel's writer, next to plain
// one-row writes measured in the same round (the ratio is what a noisy machine can compare).
// Each round runs both modes on fresh, fully migrated SQLite files (WAL, synchronous=FULL):
//   row       a job inserts one small row (the writer's own ceiling)
//   transfer  a job posts one sale (3 legs: PSP clearing, a seller's escrow, fees; 1,000
//             sellers), through payouts::ledger::post, with its balance checks
// One thread keeps --window jobs in flight (as concurrent HTTP requests awaiting the writer do).
//
// usage: souk_bench_ledger [--duration S] [--rounds N] [--window N]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <souk/core/clock.hpp>
#include <souk/db/database.hpp>
#include <souk/log/log.hpp>
#include <souk/payouts/ledger.hpp>
#include <string>
#include <vector>

namespace {

using steady = std::chrono::steady_clock;
namespace fs = std::filesystem;
namespace ledger = souk::payouts::ledger;

struct options {
    double duration_s = 5;
    int rounds = 3;
    int window = 512;
};

options parse_args(int argc, char** argv) {
    options o;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i], v = argv[i + 1];
        if (a == "--duration") {
            o.duration_s = std::stod(v);
        } else if (a == "--rounds") {
            o.rounds = std::stoi(v);
        } else if (a == "--window") {
            o.window = std::stoi(v);
        } else {
            std::fprintf(stderr,
                         "usage: souk_bench_ledger [--duration S] [--rounds N] [--window N]\n");
            std::exit(2);
        }
    }
    return o;
}

using job_fn = void (*)(souk::db::tx&, std::uint64_t);

void insert_row(souk::db::tx& t, std::uint64_t n) {
    t.prepare("INSERT INTO bench_rows (k, v, created_ms) VALUES (?, ?, ?)")
        .bind_all("key-" + std::to_string(n), "value", t.now_ms())
        .run();
}

void post_sale(souk::db::tx& t, std::uint64_t n) {
    using ledger::account_kind;
    const std::int64_t amount = 1000 + static_cast<std::int64_t>(n % 9000), fee = amount / 10;
    const auto r = ledger::post(
        t,
        {"sale",
         "pay-" + std::to_string(n),
         "USD",
         {{ledger::platform(account_kind::psp_clearing, "USD"), amount},
          {ledger::seller(account_kind::seller_pending, "usr_" + std::to_string(n % 1000), "USD"),
           -(amount - fee)},
          {ledger::platform(account_kind::fees_revenue, "USD"), -fee}}});
    if (!r.ok()) std::abort();
}

// Jobs per second with `window` in flight, on a fresh database at path.
double run(const options& o, const std::string& path, job_fn fn) {
    souk::system_clock clock;
    souk::db::database db({.path = path, .synchronous = "FULL", .readers = 1}, clock);
    if (!db.writer()
             .write_sync<bool>([](souk::db::tx& t) -> souk::result<bool> {
                 t.conn().exec(
                     "CREATE TABLE bench_rows (id INTEGER PRIMARY KEY, k TEXT NOT NULL UNIQUE, v "
                     "TEXT NOT NULL, created_ms INTEGER NOT NULL)");
                 return true;
             })
             .ok())
        std::abort();
    struct state {
        std::atomic<int> in_flight{0};
        std::atomic<std::uint64_t> failed{0};
    } st;
    class job final : public souk::db::write_job {
      public:
        job(state& s, job_fn fn, std::uint64_t n) : s_(s), fn_(fn), n_(n) {}
        souk::status run(souk::db::tx& t) override {
            fn_(t, n_);
            return {};
        }
        void complete(souk::status outcome) override {
            if (!outcome.ok()) s_.failed.fetch_add(1);
            s_.in_flight.fetch_sub(1, std::memory_order_release);
            s_.in_flight.notify_one();
        }

      private:
        state& s_;
        job_fn fn_;
        std::uint64_t n_;
    };
    const auto before = db.writer().stats().jobs;
    const auto start = steady::now();
    const auto end = start + std::chrono::duration_cast<steady::duration>(
                                 std::chrono::duration<double>(o.duration_s));
    std::uint64_t n = 0;
    while (steady::now() < end) {
        for (int cur = st.in_flight.load(); cur >= o.window; cur = st.in_flight.load())
            st.in_flight.wait(cur);
        st.in_flight.fetch_add(1);
        db.writer().submit(std::make_unique<job>(st, fn, n++));
    }
    for (int cur = st.in_flight.load(); cur > 0; cur = st.in_flight.load())
        st.in_flight.wait(cur);
    const double seconds = std::chrono::duration<double>(steady::now() - start).count();
    if (st.failed.load() != 0) std::abort();
    return static_cast<double>(db.writer().stats().jobs - before) / seconds;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
    const options o = parse_args(argc, argv);
    souk::log::set_output(stderr);
    souk::log::set_level(souk::log::level::warn);
    std::string tmpl = "/tmp/souk_bench_ledger.XXXXXX";
    if (!mkdtemp(tmpl.data())) return 1;
    const fs::path dir = tmpl;
    std::vector<double> rows, transfers, ratios;
    for (int round = 1; round <= o.rounds; ++round) {
        const double r =
            run(o, (dir / ("rows" + std::to_string(round) + ".db")).string(), insert_row);
        const double t =
            run(o, (dir / ("ledger" + std::to_string(round) + ".db")).string(), post_sale);
        rows.push_back(r);
        transfers.push_back(t);
        ratios.push_back(t / r);
        std::printf("{\"round\":%d,\"rows_per_s\":%.0f,\"transfers_per_s\":%.0f,\"ratio\":%.3f}\n",
                    round, r, t, t / r);
        std::fflush(stdout);
    }
    fs::remove_all(dir);
    std::printf(
        "\n| mode | median per second |\n|---|---|\n| one-row write jobs | %.0f |\n"
        "| ledger sale transfers (3 legs) | %.0f |\n| transfers / rows (median of rounds) "
        "| %.3f |\n",
        median(rows), median(transfers), median(ratios));
}
