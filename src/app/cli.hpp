#pragma once
// The souk command line: subcommands, their options, and the shared start-up pieces.
#include <atomic>
#include <optional>
#include <souk/config/config.hpp>
#include <souk/kernel.hpp>
#include <string>
#include <vector>

namespace souk::app {

constexpr int exit_ok = 0;
constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

struct args {
    std::vector<std::string> positional;
    std::vector<std::pair<std::string, std::string>> options;  // --name value / --name=value
    bool has(std::string_view name) const;
    std::string get(std::string_view name, std::string fallback = {}) const;
    std::vector<std::string> all(std::string_view name) const;
};

// Flags that take no value.
args parse_args(int argc, char** argv, int first, const std::vector<std::string>& flags);

// Loads configuration from --env, --config and --set key=value; prints the problem and
// returns nullopt (exit 2) when it is invalid.
// data_dir: what to do with the data directory (config::data_dir_use).
std::optional<config::settings> load_settings(
    const args& a, config::data_dir_use data_dir = config::data_dir_use::create);

// Secrets from configuration, else from data_dir/secrets.json, generated on first use.
souk::secrets load_secrets(const config::settings& s);

// An exclusive lock on data_dir/souk.lock held while a server runs; -1 when another holds it.
int lock_data_dir(const config::settings& s);

db::database_options database_options(const config::settings& s);

int cmd_serve(const args& a);
int cmd_migrate(const args& a);
int cmd_backup(const args& a);
int cmd_restore(const args& a);
int cmd_config(const args& a);
int cmd_routes(const args& a);
int cmd_check(const args& a);
int cmd_demo(const args& a);
void seed_demo(const config::settings& s, std::FILE* out);
// `souk admin <command> [--env E] [--config F] [--set k=v] ...`: the identity module's CLI.
int cmd_admin(int argc, char** argv);
// `souk ticket verify --code CODE`: the booking module's door check-in.
int cmd_ticket(int argc, char** argv);

// The modules linked into this binary, built in order (src/app/modules.cpp).
std::vector<std::unique_ptr<module>> build_modules(context& ctx);
// The kernel's own routes: /health, /ready, /metrics, /api/v1/openapi.json.
struct ops_state {
    db::database& db;
    bus::bus& bus;
    sched::scheduler& scheduler;
    std::atomic<bool> ready{false};
};
void register_ops_routes(http::router& r, ops_state& st);

}  // namespace souk::app
