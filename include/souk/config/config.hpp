#pragma once
// Configuration: config/default.json, the environment's overlay, an optional file, then
// SOUK_* environment variables (SOUK_SERVER__HTTP_PORT=8081; "__" separates levels).
// Every key must exist in default.json with the same type; anything else is refused.
#include <boost/json/object.hpp>
#include <cstdint>
#include <souk/core/result.hpp>
#include <string>
#include <vector>

namespace souk::config {

struct server_settings {
    std::string host = "127.0.0.1";
    int http_port = 8080;
    int https_port = 8443;
    bool https = true;
    std::string http_mode = "serve";  // "serve" or "redirect"
    std::string public_url;           // printed at start and used in links; derived when empty
    int threads = 0;                  // 0: one per core
    // "batch": every thread of the server runs under SCHED_BATCH, so that waking one does not
    // preempt the thread that woke it (docs/decisions/0019); "normal": the default policy.
    std::string cpu_scheduling = "batch";
    int max_connections = 10000;
    // Every so often the running server compares what its modules keep in memory with the
    // database (module::check_live), as `souk check` asks it to; 0: only when asked.
    int self_check_seconds = 300;
    int header_limit_bytes = 16 * 1024;
    int body_limit_bytes = 1 << 20;
    int read_timeout_ms = 10000;
    int idle_timeout_ms = 60000;
    std::string tls_cert;
    std::string tls_key;
    std::string static_dir;  // serve the SPA from disk instead of the embedded bundle
};

struct settings {
    std::string env = "dev";
    std::string data_dir = "./var";
    server_settings server;
    std::string db_path;  // resolved against data_dir
    std::string synchronous = "FULL";
    int readers = 2;
    int batch_jobs_max = 256;
    int batch_wait_us_max = 2000;
    bool hold_batch_while_syncing = true;
    int sync_on_writer_below_us = 1000;   // db::writer_options::sync_on_writer_below_us
    bool wal_frames_in_one_write = true;  // db/wal_vfs.hpp
    int wal_fsync_delay_us = 0;  // testing.wal_fsync_delay_us: a slow disk, simulated (test env)
    // testing.clock_offset_seconds: the server's clock runs this much ahead (test env)
    int clock_offset_seconds = 0;
    bool log_requests = true;
    std::string log_level = "info";
    boost::json::object raw;  // the merged document, for module sections
};

// What loading does with data_dir.
enum class data_dir_use {
    create,   // serve and the commands that write: made if missing
    require,  // commands that read what is there (`souk check`): missing is an error
    inspect,  // `souk config check`: it must exist or be creatable; nothing is left behind
};

// Problems name the offending key, e.g. "server.http_port: must be 0..65535".
struct load_options {
    std::string env;   // overrides SOUK_ENV; empty: SOUK_ENV or "dev"
    std::string file;  // extra overlay file
    std::vector<std::pair<std::string, std::string>> overrides;  // key path -> JSON or string
    bool use_environment = true;
    data_dir_use data_dir = data_dir_use::create;
};

result<settings> load(const load_options& o);

// Resolves a path against data_dir unless absolute.
std::string in_data_dir(const settings& s, const std::string& p);

}  // namespace souk::config
