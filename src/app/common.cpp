#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <souk/core/random.hpp>
#include <souk/log/log.hpp>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "app/cli.hpp"

namespace souk::app {

bool args::has(std::string_view name) const {
    for (const auto& [k, v] : options)
        if (k == name) return true;
    return false;
}

std::string args::get(std::string_view name, std::string fallback) const {
    for (const auto& [k, v] : options)
        if (k == name) return v;
    return fallback;
}

std::vector<std::string> args::all(std::string_view name) const {
    std::vector<std::string> out;
    for (const auto& [k, v] : options)
        if (k == name) out.push_back(v);
    return out;
}

args parse_args(int argc, char** argv, int first, const std::vector<std::string>& flags) {
    args a;
    for (int i = first; i < argc; ++i) {
        std::string s = argv[i];
        if (s == "-h") s = "--help";
        if (s.rfind("--", 0) != 0) {
            a.positional.push_back(s);
            continue;
        }
        std::string name = s.substr(2), value;
        if (auto eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
        } else if (std::find(flags.begin(), flags.end(), name) == flags.end()) {
            if (i + 1 >= argc) throw std::invalid_argument("--" + name + " needs a value");
            value = argv[++i];
        }
        a.options.emplace_back(name, value);
    }
    return a;
}

std::optional<config::settings> load_settings(const args& a, config::data_dir_use data_dir) {
    config::load_options o;
    o.data_dir = data_dir;
    o.env = a.get("env");
    o.file = a.get("config");
    for (const auto& kv : a.all("set")) {
        const auto eq = kv.find('=');
        if (eq == std::string::npos) {
            std::fprintf(stderr, "souk: --set %s: expected key.path=value\n", kv.c_str());
            return std::nullopt;
        }
        o.overrides.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    }
    auto s = config::load(o);
    if (!s.ok()) {
        std::fprintf(stderr, "souk: configuration error: %s\n", s.err().message.c_str());
        return std::nullopt;
    }
    log::set_level(log::parse_level(s->log_level));
    return std::move(*s);
}

souk::secrets load_secrets(const config::settings& s) {
    const auto path = std::filesystem::path(s.data_dir) / "secrets.json";
    boost::json::object stored;
    if (std::filesystem::exists(path)) {
        std::ifstream in(path);
        std::stringstream ss;
        ss << in.rdbuf();
        boost::system::error_code ec;
        auto v = boost::json::parse(ss.str(), ec);
        if (ec || !v.is_object()) throw std::runtime_error("unreadable " + path.string());
        stored = std::move(v.get_object());
    }
    bool changed = false;
    const auto& configured = s.raw.at("secrets").get_object();
    auto pick = [&](std::string_view key) {
        const auto& c = configured.at(key).get_string();
        if (!c.empty()) return std::string(c);
        if (auto* v = stored.if_contains(key); v && v->is_string() && !v->get_string().empty())
            return std::string(v->get_string());
        stored[key] = random_hex(32);
        changed = true;
        return std::string(stored[key].get_string());
    };
    souk::secrets out{pick("token_key"), pick("webhook_secret"), pick("ticket_key")};
    if (changed) {
        const auto tmp = path.string() + ".tmp";
        const mode_t old = umask(077);
        {
            std::ofstream o(tmp, std::ios::trunc);
            o << boost::json::serialize(stored);
        }
        umask(old);
        std::filesystem::rename(tmp, path);
    }
    return out;
}

int lock_data_dir(const config::settings& s) {
    const auto path = (std::filesystem::path(s.data_dir) / "souk.lock").string();
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("cannot open " + path);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

db::database_options database_options(const config::settings& s) {
    db::database_options o;
    o.path = config::in_data_dir(s, s.db_path);
    o.synchronous = s.synchronous;
    o.readers = static_cast<std::size_t>(s.readers);
    o.writer.batch_jobs_max = static_cast<std::size_t>(s.batch_jobs_max);
    o.writer.batch_wait_us_max = s.batch_wait_us_max;
    o.writer.hold_open_while_syncing = s.hold_batch_while_syncing;
    o.writer.sync_on_writer_below_us = s.sync_on_writer_below_us;
    o.wal_frames_in_one_write = s.wal_frames_in_one_write;
    if (s.wal_fsync_delay_us > 0)  // each WAL fsync takes this much longer: a slow disk
        o.writer.before_sync = [delay = std::chrono::microseconds(s.wal_fsync_delay_us)] {
            std::this_thread::sleep_for(delay);
        };
    return o;
}

}  // namespace souk::app
