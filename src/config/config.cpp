#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <souk/config/config.hpp>
#include <souk/embedded.hpp>
#include <sstream>

extern char** environ;

namespace souk::config {

namespace {

namespace json = boost::json;

error config_error(const std::string& key, const std::string& problem) {
    error e{2, "CONFIG", key + ": " + problem};
    e.details["key"] = key;
    return e;
}

std::string_view embedded_file(std::string_view name) {
    for (const auto& f : embedded::config_files())
        if (f.path == name) return f.bytes;
    return {};
}

// `over` may replace `base`: an integer may stand where a number is expected, but a fraction
// never stands for an integer (get_int would read a double as garbage).
bool same_kind(const json::value& base, const json::value& over) {
    auto integer = [](const json::value& v) { return v.is_int64() || v.is_uint64(); };
    if (integer(base) && integer(over)) return true;
    if (base.is_double() && over.is_number()) return true;
    return base.kind() == over.kind();
}

// Overlays `over` onto `base`; every key must already exist in `base` with the same type.
status merge(json::object& base, const json::object& over, const std::string& prefix) {
    for (const auto& [k, v] : over) {
        const std::string key = prefix.empty() ? std::string(k) : prefix + "." + std::string(k);
        auto* cur = base.if_contains(k);
        if (!cur) return config_error(key, "unknown key");
        if (!same_kind(*cur, v)) return config_error(key, "wrong type");
        if (v.is_object()) {
            if (auto s = merge(cur->get_object(), v.get_object(), key); !s.ok()) return s;
        } else {
            *cur = v;
        }
    }
    return {};
}

result<json::object> parse_object(std::string_view text, const std::string& origin) {
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    if (ec || !v.is_object()) return config_error(origin, "not a JSON object");
    return std::move(v.get_object());
}

// Sets one dotted key from a string; the value is read as JSON when the key is not a string.
status set_path(json::object& root, const std::string& dotted, const std::string& text) {
    json::object* obj = &root;
    std::size_t start = 0;
    for (;;) {
        const auto dot = dotted.find('.', start);
        const std::string part =
            dotted.substr(start, dot == std::string::npos ? dotted.npos : dot - start);
        auto* v = obj->if_contains(part);
        if (!v) return config_error(dotted, "unknown key");
        if (dot == std::string::npos) {
            if (v->is_string()) {
                *v = text;
                return {};
            }
            boost::system::error_code ec;
            auto parsed = json::parse(text, ec);
            if (ec || !same_kind(*v, parsed)) return config_error(dotted, "wrong type");
            *v = parsed;
            return {};
        }
        if (!v->is_object()) return config_error(dotted, "unknown key");
        obj = &v->get_object();
        start = dot + 1;
    }
}

// SOUK_SERVER__HTTP_PORT -> server.http_port
std::string env_key(std::string_view name) {
    std::string out;
    for (std::size_t i = 0; i < name.size(); ++i) {
        if (name[i] == '_' && i + 1 < name.size() && name[i + 1] == '_') {
            out += '.';
            ++i;
        } else {
            out += static_cast<char>(std::tolower(static_cast<unsigned char>(name[i])));
        }
    }
    return out;
}

// Saturates instead of truncating, so that 4294975376 fails the range checks rather than
// quietly becoming port 8080.
int get_int(const json::object& o, std::string_view k) {
    const auto& v = o.at(k);
    constexpr std::int64_t lo = std::numeric_limits<int>::min();
    constexpr std::int64_t hi = std::numeric_limits<int>::max();
    if (v.is_uint64())
        return static_cast<int>(std::min(v.get_uint64(), static_cast<std::uint64_t>(hi)));
    return static_cast<int>(std::clamp(v.get_int64(), lo, hi));
}

bool within(std::int64_t v, std::int64_t lo, std::int64_t hi) {
    return v >= lo && v <= hi;
}

// A writable directory, or one that can be made: made and removed again (with the parents it
// needed), so that a check leaves nothing behind and a permission problem still shows.
bool could_be_data_dir(const std::filesystem::path& dir) {
    std::error_code ec;
    if (std::filesystem::is_directory(dir, ec)) return access(dir.c_str(), W_OK) == 0;
    std::filesystem::path existing = dir;
    while (!existing.empty() && !std::filesystem::exists(existing, ec))
        existing = existing.parent_path();
    std::filesystem::create_directories(dir, ec);
    const bool made = !ec && access(dir.c_str(), W_OK) == 0;
    for (auto p = dir; !p.empty() && p != existing && p != p.parent_path(); p = p.parent_path())
        std::filesystem::remove(p, ec);
    return made;
}

result<settings> extract(json::object doc, data_dir_use data_dir) {
    settings s;
    s.env = std::string(doc.at("env").get_string());
    if (s.env != "dev" && s.env != "test" && s.env != "staging" && s.env != "prod")
        return config_error("env", "must be dev, test, staging or prod");
    s.data_dir = std::string(doc.at("data_dir").get_string());
    if (s.data_dir.empty()) return config_error("data_dir", "must not be empty");
    const auto& srv = doc.at("server").get_object();
    auto& o = s.server;
    o.host = std::string(srv.at("host").get_string());
    o.http_port = get_int(srv, "http_port");
    o.https_port = get_int(srv, "https_port");
    o.https = srv.at("https").get_bool();
    o.http_mode = std::string(srv.at("http_mode").get_string());
    o.public_url = std::string(srv.at("public_url").get_string());
    o.threads = get_int(srv, "threads");
    o.cpu_scheduling = std::string(srv.at("cpu_scheduling").get_string());
    o.max_connections = get_int(srv, "max_connections");
    o.self_check_seconds = get_int(srv, "self_check_seconds");
    o.header_limit_bytes = get_int(srv, "header_limit_bytes");
    o.body_limit_bytes = get_int(srv, "body_limit_bytes");
    o.read_timeout_ms = get_int(srv, "read_timeout_ms");
    o.idle_timeout_ms = get_int(srv, "idle_timeout_ms");
    o.tls_cert = std::string(srv.at("tls_cert").get_string());
    o.tls_key = std::string(srv.at("tls_key").get_string());
    o.static_dir = std::string(srv.at("static_dir").get_string());
    if (o.host.empty()) return config_error("server.host", "must not be empty");
    if (!within(o.http_port, 0, 65535)) return config_error("server.http_port", "must be 0..65535");
    if (!within(o.https_port, 0, 65535))
        return config_error("server.https_port", "must be 0..65535");
    if (o.http_mode != "serve" && o.http_mode != "redirect")
        return config_error("server.http_mode", "must be serve or redirect");
    if (o.http_mode == "redirect" && !o.https)
        return config_error("server.http_mode", "redirect needs server.https");
    if (!within(o.threads, 0, 256)) return config_error("server.threads", "must be 0..256");
    if (o.cpu_scheduling != "batch" && o.cpu_scheduling != "normal")
        return config_error("server.cpu_scheduling", "must be batch or normal");
    if (!within(o.max_connections, 1, 1'000'000))
        return config_error("server.max_connections", "must be 1..1000000");
    if (!within(o.self_check_seconds, 0, 86'400))
        return config_error("server.self_check_seconds", "must be 0..86400");
    if (!within(o.header_limit_bytes, 1024, 1 << 20))
        return config_error("server.header_limit_bytes", "must be 1024..1048576");
    if (!within(o.body_limit_bytes, 1024, 64 << 20))
        return config_error("server.body_limit_bytes", "must be 1024..67108864");
    if (!within(o.read_timeout_ms, 50, 600'000))
        return config_error("server.read_timeout_ms", "must be 50..600000");
    if (!within(o.idle_timeout_ms, 50, 3'600'000))
        return config_error("server.idle_timeout_ms", "must be 50..3600000");
    if (o.tls_cert.empty() != o.tls_key.empty())
        return config_error(o.tls_cert.empty() ? "server.tls_cert" : "server.tls_key",
                            "tls_cert and tls_key go together");
    for (const auto& [key, path] :
         {std::pair{"server.tls_cert", o.tls_cert}, std::pair{"server.tls_key", o.tls_key},
          std::pair{"server.static_dir", o.static_dir}}) {
        if (!path.empty() && !std::filesystem::exists(path))
            return config_error(key, "no such file or directory: " + path);
    }
    const auto& db = doc.at("database").get_object();
    s.db_path = std::string(db.at("path").get_string());
    s.synchronous = std::string(db.at("synchronous").get_string());
    s.readers = get_int(db, "readers");
    s.batch_jobs_max = get_int(db, "batch_jobs_max");
    s.batch_wait_us_max = get_int(db, "batch_wait_us_max");
    s.hold_batch_while_syncing = db.at("hold_batch_while_syncing").get_bool();
    s.sync_on_writer_below_us = get_int(db, "sync_on_writer_below_us");
    s.wal_frames_in_one_write = db.at("wal_frames_in_one_write").get_bool();
    if (s.db_path.empty()) return config_error("database.path", "must not be empty");
    if (s.synchronous != "FULL" && s.synchronous != "NORMAL" && s.synchronous != "EXTRA" &&
        s.synchronous != "OFF")
        return config_error("database.synchronous", "must be FULL, EXTRA, NORMAL or OFF");
    if (!within(s.readers, 1, 64)) return config_error("database.readers", "must be 1..64");
    if (!within(s.batch_jobs_max, 1, 65536))
        return config_error("database.batch_jobs_max", "must be 1..65536");
    if (!within(s.batch_wait_us_max, 0, 1'000'000))
        return config_error("database.batch_wait_us_max", "must be 0..1000000");
    if (!within(s.sync_on_writer_below_us, 0, 1'000'000))
        return config_error("database.sync_on_writer_below_us", "must be 0..1000000");
    const auto& lg = doc.at("log").get_object();
    s.log_level = std::string(lg.at("level").get_string());
    s.log_requests = lg.at("requests").get_bool();
    if (s.log_level != "debug" && s.log_level != "info" && s.log_level != "warn" &&
        s.log_level != "error")
        return config_error("log.level", "must be debug, info, warn or error");
    const auto& mail = doc.at("mail").get_object();
    const auto transport = mail.at("transport").get_string();
    if (transport != "mailbox" && transport != "smtp")
        return config_error("mail.transport", "must be mailbox or smtp");
    if (transport == "smtp" && mail.at("smtp_host").get_string().empty())
        return config_error("mail.smtp_host", "required when mail.transport is smtp");
    if (!within(get_int(mail, "smtp_port"), 1, 65535))
        return config_error("mail.smtp_port", "must be 1..65535");
    for (const auto& [cls, v] : doc.at("rate_limits").get_object()) {
        const std::string key = "rate_limits." + std::string(cls);
        if (!v.is_object()) return config_error(key, "must be {per_second, burst}");
        const auto* rate = v.get_object().if_contains("per_second");
        const auto* burst = v.get_object().if_contains("burst");
        if (!rate || !rate->is_number() || rate->to_number<double>() <= 0)
            return config_error(key + ".per_second", "must be a number above 0");
        if (!burst || !burst->is_number() || burst->to_number<double>() < 1)
            return config_error(key + ".burst", "must be at least 1");
    }
    if (!within(get_int(doc.at("booking").get_object(), "cancel_cutoff_hours"), 0, 8784))
        return config_error("booking.cancel_cutoff_hours", "must be 0..8784");
    if (!within(get_int(doc.at("booking").get_object(), "owner_index_seconds"), 1, 3600))
        return config_error("booking.owner_index_seconds", "must be 1..3600");
    const auto& pay = doc.at("payments").get_object();
    if (!within(get_int(pay, "default_fee_bps"), 0, 10'000))
        return config_error("payments.default_fee_bps", "must be 0..10000");
    const auto release = pay.at("escrow_release").get_string();
    if (release != "after_show_end" && release != "on_payment")
        return config_error("payments.escrow_release", "must be after_show_end or on_payment");
    if (!within(get_int(pay, "escrow_release_delay_seconds"), 0, 366 * 86400))
        return config_error("payments.escrow_release_delay_seconds", "must be 0..31622400");
    for (const auto& old : pay.at("previous_webhook_secrets").get_array())
        if (!old.is_string() || old.get_string().size() < 16)
            return config_error("payments.previous_webhook_secrets",
                                "must be strings of 16 characters or more");
    const auto& psp = pay.at("psp").get_object();
    const auto base = psp.at("base_url").get_string();
    if (!base.empty() && !base.starts_with("https://") && !base.starts_with("http://"))
        return config_error("payments.psp.base_url", "must be empty (the simulator) or a URL");
    if (!within(get_int(psp, "late_success_seconds"), 0, 3600))
        return config_error("payments.psp.late_success_seconds", "must be 0..3600");
    // Delays the tests inject: 0 anywhere but in the test environment.
    const auto& testing = doc.at("testing").get_object();
    for (const auto& [key, max] :
         {std::pair{"bus_delivery_delay_ms", 10'000}, std::pair{"wal_fsync_delay_us", 1'000'000},
          std::pair{"clock_offset_seconds", 400 * 86'400}}) {
        const int delay = get_int(testing, key);
        if (!within(delay, 0, max) || (delay != 0 && s.env != "test"))
            return config_error(std::string("testing.") + key,
                                "must be 0 (0.." + std::to_string(max) + " in test)");
    }
    s.wal_fsync_delay_us = get_int(testing, "wal_fsync_delay_us");
    s.clock_offset_seconds = get_int(testing, "clock_offset_seconds");
    // The data directory must exist (made here unless only asked to look) and be writable.
    std::error_code ec;
    switch (data_dir) {
        case data_dir_use::require:
            if (!std::filesystem::is_directory(s.data_dir, ec))
                return config_error("data_dir", "no such directory: " + s.data_dir);
            break;
        case data_dir_use::inspect:
            if (!could_be_data_dir(s.data_dir))
                return config_error("data_dir", "cannot create or write " + s.data_dir);
            break;
        case data_dir_use::create:
            std::filesystem::create_directories(s.data_dir, ec);
            if (ec || access(s.data_dir.c_str(), W_OK) != 0)
                return config_error("data_dir", "cannot create or write " + s.data_dir);
            break;
    }
    s.raw = std::move(doc);
    return s;
}

}  // namespace

result<settings> load(const load_options& opts) {
    auto base = parse_object(embedded_file("default.json"), "default.json");
    if (!base.ok()) return std::move(base).err();
    json::object doc = std::move(*base);

    std::string env = opts.env;
    if (env.empty() && opts.use_environment) {
        if (const char* e = std::getenv("SOUK_ENV")) env = e;
    }
    if (env.empty()) env = "dev";
    const auto overlay_text = embedded_file(env + ".json");
    if (overlay_text.empty())
        return config_error("env", "no overlay for environment '" + env + "'");
    auto overlay = parse_object(overlay_text, env + ".json");
    if (!overlay.ok()) return std::move(overlay).err();
    if (auto s = merge(doc, *overlay, ""); !s.ok()) return std::move(s).err();

    std::string file = opts.file;
    if (file.empty() && opts.use_environment) {
        if (const char* f = std::getenv("SOUK_CONFIG")) file = f;
    }
    if (!file.empty()) {
        std::ifstream in(file);
        if (!in) return config_error("config", "cannot read " + file);
        std::stringstream ss;
        ss << in.rdbuf();
        auto extra = parse_object(ss.str(), file);
        if (!extra.ok()) return std::move(extra).err();
        if (auto s = merge(doc, *extra, ""); !s.ok()) return std::move(s).err();
    }
    if (opts.use_environment) {
        for (char** e = environ; *e; ++e) {
            std::string_view kv(*e);
            if (kv.substr(0, 5) != "SOUK_") continue;
            const auto eq = kv.find('=');
            const auto name = kv.substr(5, eq - 5);
            if (name == "ENV" || name == "CONFIG") continue;
            if (auto s = set_path(doc, env_key(name), std::string(kv.substr(eq + 1))); !s.ok()) {
                auto err = std::move(s).err();
                err.message = "SOUK_" + std::string(name) + " (" + err.message + ")";
                return err;
            }
        }
    }
    for (const auto& [k, v] : opts.overrides) {
        if (auto s = set_path(doc, k, v); !s.ok()) return std::move(s).err();
    }
    doc["env"] = env;
    return extract(std::move(doc), opts.data_dir);
}

std::string in_data_dir(const settings& s, const std::string& p) {
    if (!p.empty() && p.front() == '/') return p;
    return (std::filesystem::path(s.data_dir) / p).string();
}

}  // namespace souk::config
