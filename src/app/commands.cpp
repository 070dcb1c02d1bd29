#include <sqlite3.h>

#include <unistd.h>
#include <algorithm>

#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>
#include <souk/booking/booking.hpp>
#include <souk/db/database.hpp>
#include <souk/identity/identity.hpp>
#include <souk/payouts/payouts.hpp>

#include "app/control.hpp"
#include "app/runtime.hpp"

namespace souk::app {

namespace {

bool help(const args& a, const char* text) {
    if (!a.has("help")) return false;
    std::puts(text);
    return true;
}

// Copies every page of `from` into `to` with SQLite's online backup API. In WAL mode the source
// is read inside one read transaction, so the copy is a consistent snapshot while writers go on.
void copy_database(sqlite3* from, sqlite3* to) {
    sqlite3_backup* b = sqlite3_backup_init(to, "main", from, "main");
    if (!b) throw std::runtime_error(std::string("backup: ") + sqlite3_errmsg(to));
    int rc = sqlite3_backup_step(b, -1);
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) throw std::runtime_error(std::string("backup: ") + sqlite3_errstr(rc));
}

std::string integrity(db::connection& c) {
    auto& st = c.prepare("PRAGMA integrity_check");
    std::string out = st.step() ? st.text(0) : "no answer";
    st.reset();
    return out;
}

}  // namespace

int cmd_migrate(const args& a) {
    if (help(a,
             "usage: souk migrate status|up [--env E] [--config FILE]\n"
             "status lists the embedded migrations and whether each is applied; up applies "
             "the missing ones in order."))
        return exit_ok;
    if (a.positional.size() != 1 || (a.positional[0] != "status" && a.positional[0] != "up")) {
        std::fputs("souk migrate: expected 'status' or 'up'\n", stderr);
        return exit_usage;
    }
    const bool up = a.positional[0] == "up";
    auto s = load_settings(a, up ? config::data_dir_use::create : config::data_dir_use::require);
    if (!s) return exit_usage;
    const auto path = config::in_data_dir(*s, s->db_path);
    if (!up && !std::filesystem::exists(path)) {
        // Status only looks: an empty in-memory database lists every migration as pending.
        std::fprintf(stderr, "souk migrate: no database at %s yet\n", path.c_str());
        db::connection empty(":memory:", db::open_mode::read_write);
        for (const auto& m : db::migrations_status(empty))
            std::printf("%04d %-40s pending\n", m.version, m.name.c_str());
        return exit_ok;
    }
    db::connection c(path, db::open_mode::read_write, s->synchronous);
    if (up) {
        const int n = db::migrate_up(c);
        std::printf("applied %d migration(s)\n", n);
    }
    for (const auto& m : db::migrations_status(c))
        std::printf("%04d %-40s %s\n", m.version, m.name.c_str(),
                    m.applied ? "applied" : "pending");
    return exit_ok;
}

int cmd_backup(const args& a) {
    if (help(a,
             "usage: souk backup --out FILE\n"
             "An online, consistent copy of the database, safe while the server runs."))
        return exit_ok;
    const std::string out = a.get("out");
    if (out.empty()) {
        std::fputs("souk backup: --out FILE is required\n", stderr);
        return exit_usage;
    }
    auto s = load_settings(a);
    if (!s) return exit_usage;
    const std::string src = config::in_data_dir(*s, s->db_path);
    if (!std::filesystem::exists(src)) {
        std::fprintf(stderr, "souk backup: no database at %s\n", src.c_str());
        return exit_failure;
    }
    const std::string tmp = out + ".partial";
    std::filesystem::remove(tmp);
    {
        db::connection from(src, db::open_mode::read_only);
        db::connection to(tmp, db::open_mode::read_write, "FULL");
        copy_database(from.handle(), to.handle());
        to.exec("PRAGMA journal_mode=DELETE");
        const auto check = integrity(to);
        if (check != "ok") throw std::runtime_error("backup failed its integrity check: " + check);
    }
    std::filesystem::rename(tmp, out);
    std::printf("backup written to %s\n", out.c_str());
    return exit_ok;
}

int cmd_restore(const args& a) {
    if (help(a,
             "usage: souk restore --from FILE\n"
             "Replaces the database with a backup. Refused while a server runs on the same "
             "data directory."))
        return exit_ok;
    const std::string from = a.get("from");
    if (from.empty()) {
        std::fputs("souk restore: --from FILE is required\n", stderr);
        return exit_usage;
    }
    auto s = load_settings(a);
    if (!s) return exit_usage;
    if (!std::filesystem::exists(from)) {
        std::fprintf(stderr, "souk restore: no such file %s\n", from.c_str());
        return exit_usage;
    }
    const int lock = lock_data_dir(*s);
    if (lock < 0) {
        std::fprintf(stderr, "souk restore: a server is running on %s; stop it first\n",
                     s->data_dir.c_str());
        return exit_failure;
    }
    {
        db::connection src(from, db::open_mode::read_only);
        const auto check = integrity(src);
        if (check != "ok") {
            std::fprintf(stderr, "souk restore: %s failed its integrity check: %s\n", from.c_str(),
                         check.c_str());
            ::close(lock);
            return exit_failure;
        }
        db::connection dst(config::in_data_dir(*s, s->db_path), db::open_mode::read_write,
                           s->synchronous);
        copy_database(src.handle(), dst.handle());
        db::migrate_up(dst);
    }
    ::close(lock);
    std::printf("restored %s from %s\n", config::in_data_dir(*s, s->db_path).c_str(), from.c_str());
    return exit_ok;
}

int cmd_config(const args& a) {
    if (help(a,
             "usage: souk config check [--env E] [--config FILE] [--set key=value]\n"
             "Validates the merged configuration (exit 2 naming the bad key) and prints it "
             "with secrets masked."))
        return exit_ok;
    if (a.positional.size() != 1 || a.positional[0] != "check") {
        std::fputs("souk config: expected 'check'\n", stderr);
        return exit_usage;
    }
    auto s = load_settings(a, config::data_dir_use::inspect);
    if (!s) return exit_usage;
    auto doc = s->raw;
    for (auto& [k, v] : doc["secrets"].as_object())
        if (!v.get_string().empty()) v = "********";
    std::printf("%s\n", boost::json::serialize(doc).c_str());
    return exit_ok;
}

int cmd_routes(const args& a) {
    if (help(a, "usage: souk routes\nPrints every HTTP route as JSON: method, path, access."))
        return exit_ok;
    auto s = load_settings(a);
    if (!s) return exit_usage;
    // Build the runtime against a scratch data directory: routes need the modules, not data.
    const auto scratch =
        std::filesystem::temp_directory_path() / ("souk-routes-" + std::to_string(::getpid()));
    s->data_dir = scratch.string();
    std::filesystem::create_directories(scratch);
    boost::json::array out;
    {
        runtime rt(std::move(*s));
        for (const auto& r : rt.routes().routes()) {
            const char* who = r->options.access == http::access::anyone ? "anyone"
                              : r->options.access == http::access::user ? "user"
                                                                        : "roles";
            boost::json::array roles;
            for (const auto& role : r->options.roles)
                roles.emplace_back(role);
            out.push_back({{"method", http::to_string(r->method)},
                           {"path", r->pattern},
                           {"access", who},
                           {"roles", roles},
                           {"idempotent", r->options.idempotent}});
        }
    }
    std::filesystem::remove_all(scratch);
    std::printf("%s\n", boost::json::serialize(out).c_str());
    return exit_ok;
}

namespace {

// The running server's memory against its database; how many problems (an unanswered question
// counts as one: the check could not be made).
int check_live_server(const config::settings& s) {
    if (const int lock = lock_data_dir(s); lock >= 0) {
        ::close(lock);
        std::puts("live state: no server running");
        return 0;
    }
    std::string error;
    const auto answer =
        ask_control_socket(control_socket_path(s), "check", std::chrono::seconds(60), error);
    if (!answer) {
        std::printf("live state: cannot ask the running server: %s\n", error.c_str());
        return 1;
    }
    boost::system::error_code ec;
    const auto doc = boost::json::parse(*answer, ec);
    const auto* problems =
        !ec && doc.is_object() ? doc.as_object().if_contains("problems") : nullptr;
    if (!problems || !problems->is_array()) {
        std::printf("live state: the server answered %s\n", answer->c_str());
        return 1;
    }
    for (const auto& p : problems->as_array())
        std::printf("live: %s\n", p.is_string() ? p.get_string().c_str() : "?");
    std::printf("live state (memory against the database): %zu problem(s)\n",
                problems->as_array().size());
    return static_cast<int>(problems->as_array().size());
}

}  // namespace

int cmd_check(const args& a) {
    if (help(a,
             "usage: souk check\nVerifies the database: SQLite integrity and the kernel's "
             "invariants; and while a server runs on the data directory, what it keeps in memory "
             "against the database (asked through data_dir/souk.ctl). Exit 1 on any violation."))
        return exit_ok;
    auto s = load_settings(a, config::data_dir_use::require);
    if (!s) return exit_usage;
    const auto path = config::in_data_dir(*s, s->db_path);
    if (!std::filesystem::exists(path)) {
        std::fprintf(stderr, "souk check: no database at %s\n", path.c_str());
        return exit_failure;
    }
    db::connection c(path, db::open_mode::read_only);
    // One snapshot for every check below, though a server may be writing.
    c.exec("BEGIN");
    int problems = 0;
    const auto ic = integrity(c);
    std::printf("integrity_check: %s\n", ic.c_str());
    if (ic != "ok") ++problems;
    auto& fk = c.prepare("PRAGMA foreign_key_check");
    int fk_rows = 0;
    while (fk.step())
        ++fk_rows;
    fk.reset();
    std::printf("foreign_key_check: %d violation(s)\n", fk_rows);
    problems += fk_rows;
    const auto seats = booking::check_invariants(c, system_clock().now_ms());
    for (const auto& p : seats)
        std::printf("booking: %s\n", p.c_str());
    std::printf("booking seats: %zu problem(s)\n", seats.size());
    problems += static_cast<int>(seats.size());
    const auto money = payouts::check_invariants(c);
    for (const auto& p : money)
        std::printf("money: %s\n", p.c_str());
    std::printf("money: %zu problem(s)\n", money.size());
    problems += static_cast<int>(money.size());
    c.exec("COMMIT");
    problems += check_live_server(*s);
    std::puts(problems == 0 ? "check: ok" : "check: FAILED");
    return problems == 0 ? exit_ok : exit_failure;
}

}  // namespace souk::app

namespace souk::app {

int cmd_admin(int argc, char** argv) {
    // Configuration options are ours; everything else belongs to the admin command.
    std::vector<std::string> rest;
    args config_args;
    for (int i = 2; i < argc; ++i) {
        const std::string s = argv[i];
        if ((s == "--env" || s == "--config" || s == "--set") && i + 1 < argc) {
            config_args.options.emplace_back(s.substr(2), argv[++i]);
        } else {
            rest.push_back(s);
        }
    }
    if (rest.empty() || std::find(rest.begin(), rest.end(), "--help") != rest.end())
        return identity::admin_cli(rest, config::settings{});
    auto s = load_settings(config_args);
    if (!s) return exit_usage;
    return identity::admin_cli(rest, *s);
}

}  // namespace souk::app

namespace souk::app {

int cmd_ticket(int argc, char** argv) {
    std::vector<std::string> rest;
    args config_args;
    for (int i = 2; i < argc; ++i) {
        const std::string s = argv[i];
        if ((s == "--env" || s == "--config" || s == "--set") && i + 1 < argc) {
            config_args.options.emplace_back(s.substr(2), argv[++i]);
        } else {
            rest.push_back(s);
        }
    }
    // Help needs no configuration (and must not create a data directory).
    if (rest.empty() || std::find(rest.begin(), rest.end(), "--help") != rest.end())
        return booking::ticket_cli(rest, config::settings{}, {});
    auto s = load_settings(config_args);
    if (!s) return exit_usage;
    return booking::ticket_cli(rest, *s, load_secrets(*s).ticket_key);
}

}  // namespace souk::app
