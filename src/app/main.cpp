#include <cstdio>
#include <cstring>
#include <string>

#include <souk/log/log.hpp>

#include "app/cli.hpp"

namespace {

constexpr const char* usage = R"(souk — one binary for the whole Souk platform

usage: souk <command> [options]

commands:
  serve              run the server (HTTP and HTTPS)
  migrate status|up  show or apply database migrations
  backup --out FILE  online, consistent copy of the database
  restore --from F   bring a backup back (refused while a server runs)
  config check       validate the configuration and print it
  routes             list the HTTP routes as JSON
  check              verify the database's invariants
  demo               add the demo users and events (idempotent)
  ticket verify      check a ticket in at the door (--code CODE)
  admin ...          accounts: create-user, grant-role, revoke-role, disable-user, list-users
  version            print the version

Every command takes --help. Configuration: --env dev|test|staging|prod, --config FILE,
--set key.path=value, and SOUK_* environment variables (SOUK_SERVER__HTTP_PORT=8081).
Exit codes: 0 ok, 1 failure, 2 usage or configuration error.
)";

}  // namespace

int main(int argc, char** argv) {
    using namespace souk::app;
    if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ||
        std::strcmp(argv[1], "help") == 0) {
        std::fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? exit_usage : exit_ok;
    }
    const std::string cmd = argv[1];
    try {
        if (cmd == "version" || cmd == "--version") {
            std::printf("souk %s\n", SOUK_VERSION);
            return exit_ok;
        }
        if (cmd != "serve") souk::log::set_output(stderr);
        if (cmd == "serve") return cmd_serve(parse_args(argc, argv, 2, {"help", "demo"}));
        if (cmd == "migrate") return cmd_migrate(parse_args(argc, argv, 2, {"help"}));
        if (cmd == "backup") return cmd_backup(parse_args(argc, argv, 2, {"help"}));
        if (cmd == "restore") return cmd_restore(parse_args(argc, argv, 2, {"help"}));
        if (cmd == "config") return cmd_config(parse_args(argc, argv, 2, {"help"}));
        if (cmd == "routes") return cmd_routes(parse_args(argc, argv, 2, {"help"}));
        if (cmd == "check") return cmd_check(parse_args(argc, argv, 2, {"help"}));
        if (cmd == "admin") return cmd_admin(argc, argv);
        if (cmd == "ticket") return cmd_ticket(argc, argv);
        if (cmd == "demo") return cmd_demo(parse_args(argc, argv, 2, {"help"}));
    } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "souk %s: %s\n", cmd.c_str(), e.what());
        return exit_usage;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "souk %s: %s\n", cmd.c_str(), e.what());
        return exit_failure;
    }
    std::fprintf(stderr, "souk: unknown command '%s' (see souk --help)\n", cmd.c_str());
    return exit_usage;
}
