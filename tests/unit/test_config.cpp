#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <souk/config/config.hpp>
#include <string>

#include "support.hpp"

using namespace souk;
using souk::test::temp_dir;

namespace {

// Options that ignore the process environment and keep data_dir inside the test's directory.
config::load_options options(const temp_dir& dir, std::string env = "dev") {
    config::load_options o;
    o.env = std::move(env);
    o.use_environment = false;
    o.overrides.emplace_back("data_dir", dir.file("data"));
    return o;
}

std::string write_file(const temp_dir& dir, const std::string& name, const std::string& text) {
    const std::string path = dir.file(name);
    std::ofstream(path) << text;
    return path;
}

// The error's message for a load that must fail.
std::string failure(const config::load_options& o) {
    auto r = config::load(o);
    REQUIRE_FALSE(r.ok());
    CHECK(r.err().code == "CONFIG");
    return r.err().message;
}

}  // namespace

TEST_CASE("config: the defaults load", "[config]") {
    temp_dir dir;
    auto r = config::load(options(dir));
    REQUIRE(r.ok());
    const config::settings& s = *r;
    CHECK(s.env == "dev");
    CHECK(s.data_dir == dir.file("data"));
    CHECK(std::filesystem::is_directory(s.data_dir));  // created by load
    CHECK(s.server.host == "127.0.0.1");
    CHECK(s.server.http_port == 8080);
    CHECK(s.server.https_port == 8443);
    CHECK(s.server.https);
    CHECK(s.server.http_mode == "serve");
    CHECK(s.server.read_timeout_ms == 10000);
    CHECK(s.server.idle_timeout_ms == 60000);
    CHECK(s.server.tls_cert.empty());
    CHECK(s.db_path == "souk.db");
    CHECK(s.synchronous == "FULL");
    CHECK(s.readers == 2);
    CHECK(s.batch_jobs_max == 256);
    CHECK(s.batch_wait_us_max == 2000);
    CHECK(s.log_level == "info");
    CHECK(s.raw.at("env") == "dev");
    CHECK(s.raw.contains("secrets"));  // module sections stay available

    CHECK(config::in_data_dir(s, s.db_path) == dir.file("data") + "/souk.db");
    CHECK(config::in_data_dir(s, "/abs/file.db") == "/abs/file.db");
}

TEST_CASE("config: the environment's overlay applies", "[config]") {
    temp_dir dir;
    auto t = config::load(options(dir, "test"));
    REQUIRE(t.ok());
    CHECK(t->env == "test");
    CHECK(t->server.read_timeout_ms == 2000);
    CHECK(t->server.idle_timeout_ms == 5000);
    CHECK(t->server.http_port == 8080);  // untouched keys keep their defaults

    auto p = config::load(options(dir, "prod"));
    REQUIRE(p.ok());
    CHECK(p->env == "prod");
    CHECK(p->server.host == "0.0.0.0");
    CHECK(p->server.http_port == 80);
    CHECK(p->server.http_mode == "redirect");
}

TEST_CASE("config: overrides and an extra file apply, in that order", "[config]") {
    temp_dir dir;
    auto o = options(dir, "test");
    o.file = write_file(dir, "extra.json",
                        R"({"server": {"http_port": 9000, "host": "10.0.0.1"},
                            "log": {"level": "debug"}})");
    o.overrides.emplace_back("server.http_port", "9090");
    o.overrides.emplace_back("database.synchronous", "NORMAL");
    auto r = config::load(o);
    REQUIRE(r.ok());
    CHECK(r->server.http_port == 9090);
    CHECK(r->server.host == "10.0.0.1");
    CHECK(r->log_level == "debug");
    CHECK(r->synchronous == "NORMAL");
    CHECK(r->server.read_timeout_ms == 2000);
}

TEST_CASE("config: an unknown key is refused and named", "[config]") {
    temp_dir dir;
    auto o = options(dir);
    o.file = write_file(dir, "extra.json", R"({"server": {"nope": 1}})");
    CHECK(failure(o) == "server.nope: unknown key");

    o.file = write_file(dir, "top.json", R"({"databse": {}})");
    CHECK(failure(o) == "databse: unknown key");

    auto p = options(dir);
    p.overrides.emplace_back("server.nope", "1");
    CHECK(failure(p) == "server.nope: unknown key");

    auto q = options(dir);
    q.overrides.emplace_back("server.http_port.deeper", "1");
    CHECK(failure(q).find("server.http_port.deeper") != std::string::npos);
}

TEST_CASE("config: a value of the wrong type is refused and named", "[config]") {
    temp_dir dir;
    auto o = options(dir);
    o.file = write_file(dir, "extra.json", R"({"server": {"http_port": "eighty"}})");
    CHECK(failure(o) == "server.http_port: wrong type");

    o.file = write_file(dir, "obj.json", R"({"server": 5})");
    CHECK(failure(o) == "server: wrong type");

    o.file = write_file(dir, "float.json", R"({"server": {"threads": 1.5}})");
    CHECK(failure(o) == "server.threads: wrong type");

    auto p = options(dir);
    p.overrides.emplace_back("server.https", "yes");
    CHECK(failure(p) == "server.https: wrong type");

    auto q = options(dir);
    q.overrides.emplace_back("server.http_port", "not a number");
    CHECK(failure(q) == "server.http_port: wrong type");
}

TEST_CASE("config: an out-of-range port is refused and named", "[config]") {
    temp_dir dir;
    for (const char* port : {"70000", "65536", "-1", "4294975376", "18446744073709551615"}) {
        INFO(port);
        auto o = options(dir);
        o.overrides.emplace_back("server.http_port", port);
        CHECK(failure(o).find("server.http_port") != std::string::npos);
    }
    auto o = options(dir);
    o.file = write_file(dir, "extra.json", R"({"server": {"https_port": 70000}})");
    CHECK(failure(o).find("server.https_port") != std::string::npos);

    auto ok = options(dir);
    ok.overrides.emplace_back("server.http_port", "0");  // 0: an ephemeral port
    CHECK(config::load(ok).ok());
}

TEST_CASE("config: other value checks name their key", "[config]") {
    temp_dir dir;
    struct bad {
        const char* key;
        const char* value;
    };
    for (const bad& b :
         {bad{"server.http_mode", "mirror"}, bad{"server.threads", "999"},
          bad{"server.cpu_scheduling", "fast"}, bad{"database.synchronous", "SOMETIMES"},
          bad{"database.readers", "0"}, bad{"log.level", "loud"}, bad{"server.host", ""},
          bad{"database.batch_jobs_max", "0"}, bad{"database.sync_on_writer_below_us", "-1"},
          bad{"testing.wal_fsync_delay_us", "1000"}, bad{"testing.clock_offset_seconds", "60"},
          bad{"server.self_check_seconds", "-1"}}) {
        INFO(b.key << " = " << b.value);
        auto o = options(dir);
        o.overrides.emplace_back(b.key, b.value);
        CHECK(failure(o).rfind(b.key, 0) == 0);
    }
}

TEST_CASE("config: an unknown environment name is refused", "[config]") {
    temp_dir dir;
    for (const char* env : {"production", "nope", "../default", "DEV"}) {
        INFO(env);
        const std::string message = failure(options(dir, env));
        CHECK(message.rfind("env:", 0) == 0);
    }
}

TEST_CASE("config: tls_cert and tls_key go together", "[config]") {
    temp_dir dir;
    const std::string pem = write_file(dir, "cert.pem", "not really a certificate");

    auto cert_only = options(dir);
    cert_only.overrides.emplace_back("server.tls_cert", pem);
    CHECK(failure(cert_only).find("server.tls_key") != std::string::npos);

    auto key_only = options(dir);
    key_only.overrides.emplace_back("server.tls_key", pem);
    CHECK(failure(key_only).find("server.tls_cert") != std::string::npos);

    auto both = options(dir);
    both.overrides.emplace_back("server.tls_cert", pem);
    both.overrides.emplace_back("server.tls_key", pem);
    CHECK(config::load(both).ok());

    auto missing = options(dir);
    missing.overrides.emplace_back("server.tls_cert", dir.file("absent.pem"));
    missing.overrides.emplace_back("server.tls_key", pem);
    CHECK(failure(missing).find("server.tls_cert") != std::string::npos);
}

TEST_CASE("config: an unreadable or malformed extra file is refused", "[config]") {
    temp_dir dir;
    auto o = options(dir);
    o.file = dir.file("absent.json");
    CHECK(failure(o).find("cannot read") != std::string::npos);

    o.file = write_file(dir, "bad.json", "{ not json");
    CHECK(failure(o).find("not a JSON object") != std::string::npos);

    o.file = write_file(dir, "array.json", "[1, 2]");
    CHECK(failure(o).find("not a JSON object") != std::string::npos);
}

TEST_CASE("config: SOUK_* variables apply only with use_environment", "[config]") {
    temp_dir dir;
    REQUIRE(::setenv("SOUK_SERVER__HTTP_PORT", "8181", 1) == 0);
    auto without = config::load(options(dir));
    auto o = options(dir);
    o.use_environment = true;
    auto with = config::load(o);
    REQUIRE(::setenv("SOUK_SERVER__NOPE", "1", 1) == 0);
    auto unknown = config::load(o);
    ::unsetenv("SOUK_SERVER__HTTP_PORT");
    ::unsetenv("SOUK_SERVER__NOPE");

    REQUIRE(without.ok());
    CHECK(without->server.http_port == 8080);
    REQUIRE(with.ok());
    CHECK(with->server.http_port == 8181);
    REQUIRE_FALSE(unknown.ok());
    CHECK(unknown.err().message == "SOUK_SERVER__NOPE (server.nope: unknown key)");
}
