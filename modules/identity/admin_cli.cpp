// `souk admin ...`: account administration from the shell. It writes through its own writer on
// the same SQLite file (WAL lets it run beside a live server); the server picks up cut-offs
// within a second (identity_module::poll_loop).
#include <cstdio>
#include <iostream>
#include <souk/core/random.hpp>
#include <souk/db/database.hpp>
#include <souk/identity/identity.hpp>

#include "passwords.hpp"
#include "users.hpp"

namespace souk::identity {

namespace {

constexpr int exit_ok = 0, exit_failure = 1, exit_usage = 2;

constexpr const char* usage =
    "usage: souk admin <command> [options]\n"
    "  create-user --email E --role R [--name N] [--tenant T]   password read from stdin\n"
    "  grant-role --email E --role R\n"
    "  revoke-role --email E --role R\n"
    "  disable-user --email E\n"
    "  list-users\n";

std::string option(const std::vector<std::string>& argv, std::string_view name) {
    for (std::size_t i = 0; i + 1 < argv.size(); ++i)
        if (argv[i] == name) return argv[i + 1];
    return {};
}

std::string lower(std::string s) {
    for (auto& c : s)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

db::audit_entry cli_audit(std::string action, std::string entity) {
    db::audit_entry e;
    e.actor_id = "cli";
    e.action = std::move(action);
    e.entity_type = "user";
    e.entity_id = std::move(entity);
    return e;
}

int report(const status& s) {
    if (s.ok()) return exit_ok;
    std::fprintf(stderr, "souk admin: %s\n", s.err().message.c_str());
    return s.err().status == 422 || s.err().status == 404 ? exit_usage : exit_failure;
}

int create_user(db::database& d, const std::vector<std::string>& argv) {
    const std::string email = lower(option(argv, "--email"));
    const std::string role = option(argv, "--role");
    const std::string name = option(argv, "--name");
    const std::string tenant_key = option(argv, "--tenant");
    if (email.empty() || (!role.empty() && !is_known_role(role))) {
        std::fputs("souk admin create-user: --email and a known --role are required\n", stderr);
        return exit_usage;
    }
    std::string password;
    std::getline(std::cin, password);
    if (!password.empty() && password.back() == '\r') password.pop_back();
    if (auto problem = password_problem(password)) {
        std::fprintf(stderr, "souk admin create-user: password %s\n", problem->c_str());
        return exit_usage;
    }
    user u;
    u.id = new_id("usr");
    u.email = email;
    u.display_name = name.empty() ? email.substr(0, email.find('@')) : name;
    u.password_hash = hash_password(password);
    u.email_verified = true;  // vouched for by the operator
    u.timezone = "UTC";
    u.created_ms = system_clock().now_ms();
    u.roles = {std::string(role_member)};
    if (!role.empty() && role != role_member) u.roles.push_back(role);
    const std::string tkey = tenant_key.empty() ? "default" : tenant_key;
    auto r =
        d.writer().write_sync<std::string>([u, tkey](db::tx& t) mutable -> result<std::string> {
            auto ten = find_tenant(t.conn(), tkey);
            if (!ten) return error::validation("tenant", "no such tenant");
            u.tenant_id = ten->id;
            if (find_user_by_email(t.conn(), u.email))
                return error::conflict("CONFLICT", "e-mail already registered");
            insert_user(t, u);
            t.audit(cli_audit("identity.user_created", u.id));
            return u.id;
        });
    if (!r.ok()) return report(r.err());
    std::printf("%s\n", r->c_str());
    return exit_ok;
}

int change_role(db::database& d, const std::vector<std::string>& argv, bool grant) {
    const std::string email = lower(option(argv, "--email"));
    const std::string role = option(argv, "--role");
    if (email.empty() || !is_known_role(role) || (!grant && role == role_member)) {
        std::fputs("souk admin: --email and a known --role are required (member stays)\n", stderr);
        return exit_usage;
    }
    auto r = d.writer().write_sync<bool>([email, role, grant](db::tx& t) -> result<bool> {
        auto u = find_user_by_email(t.conn(), email);
        if (!u) return error::not_found("no user with that e-mail");
        if (grant)
            set_roles(t, u->id, {role}, {});
        else
            set_roles(t, u->id, {}, {role});
        cut_off_sessions(t, u->id);
        auto a = cli_audit("identity.roles_changed", u->id);
        a.details[grant ? "add" : "remove"] = boost::json::array{boost::json::value(role)};
        t.audit(a);
        return true;
    });
    return report(r.ok() ? status{} : status{r.err()});
}

int disable_user(db::database& d, const std::vector<std::string>& argv) {
    const std::string email = lower(option(argv, "--email"));
    if (email.empty()) {
        std::fputs("souk admin disable-user: --email is required\n", stderr);
        return exit_usage;
    }
    auto r = d.writer().write_sync<bool>([email](db::tx& t) -> result<bool> {
        auto u = find_user_by_email(t.conn(), email);
        if (!u) return error::not_found("no user with that e-mail");
        t.prepare("UPDATE users SET disabled = 1 WHERE id = ?").bind(1, u->id).run();
        revoke_refresh_tokens(t, u->id);
        cut_off_sessions(t, u->id);
        t.audit(cli_audit("identity.user_disabled", u->id));
        return true;
    });
    return report(r.ok() ? status{} : status{r.err()});
}

int list(db::database& d) {
    auto r = d.read_sync<std::vector<user>>([](db::connection& c) -> result<std::vector<user>> {
        std::int64_t total = 0;
        return list_users(c, "", 100000, 0, total);
    });
    if (!r.ok()) return report(r.err());
    for (const auto& u : *r) {
        std::string roles;
        for (const auto& x : u.roles)
            roles += (roles.empty() ? "" : ",") + x;
        std::printf("%s\t%s\t%s\t%s%s\n", u.id.c_str(), u.email.c_str(), roles.c_str(),
                    u.tenant_id.c_str(), u.disabled ? "\tdisabled" : "");
    }
    return exit_ok;
}

}  // namespace

int admin_cli(const std::vector<std::string>& argv, const config::settings& s) {
    if (argv.empty() || argv[0] == "--help" || argv[0] == "-h") {
        std::fputs(usage, argv.empty() ? stderr : stdout);
        return argv.empty() ? exit_usage : exit_ok;
    }
    for (const auto& a : argv) {
        if (a == "--help") {
            std::fputs(usage, stdout);
            return exit_ok;
        }
    }
    db::database_options o;
    o.path = config::in_data_dir(s, s.db_path);
    o.synchronous = s.synchronous;
    o.readers = 1;
    system_clock clk;
    db::database d(o, clk);
    const std::string& cmd = argv[0];
    if (cmd == "create-user") return create_user(d, argv);
    if (cmd == "grant-role") return change_role(d, argv, true);
    if (cmd == "revoke-role") return change_role(d, argv, false);
    if (cmd == "disable-user") return disable_user(d, argv);
    if (cmd == "list-users") return list(d);
    std::fprintf(stderr, "souk admin: unknown command '%s'\n%s", cmd.c_str(), usage);
    return exit_usage;
}

}  // namespace souk::identity
