// The identity module's public helpers (include/souk/identity/identity.hpp).
#include <souk/core/random.hpp>
#include <souk/identity/identity.hpp>
#include <stdexcept>

#include "passwords.hpp"
#include "users.hpp"

namespace souk::identity {

bool is_known_role(std::string_view role) {
    return role == role_member || role == role_seller || role == role_business ||
           role == role_organizer || role == role_moderator || role == role_admin;
}

http::route_options require_roles(std::vector<std::string> roles, http::route_options base) {
    base.access = http::access::roles;
    base.roles = std::move(roles);
    return base;
}

http::route_options require_user(http::route_options base) {
    base.access = http::access::user;
    return base;
}

bool owns_or_admin(const http::request& req, std::string_view owner_id) {
    if (!req.caller) return false;
    return req.caller->user_id == owner_id || req.caller->has_role(role_admin);
}

tenant_query::tenant_query(db::connection& c, std::string_view tenant_id, std::string_view sql) {
    const auto at = sql.find("{tenant}");
    if (at == std::string_view::npos)
        throw std::logic_error("tenant_query without {tenant}: " + std::string(sql));
    std::string text(sql.substr(0, at));
    text += "tenant_id = ?1";
    text += sql.substr(at + 8);
    stmt_ = &c.prepare(text);
    stmt_->bind(1, tenant_id);
}

std::optional<std::string> email_of(db::connection& c, std::string_view user_id) {
    auto u = find_user_by_id(c, user_id);
    if (!u) return std::nullopt;
    return u->email;
}

std::string ensure_user(db::database& d, std::string_view email, std::string_view display_name,
                        std::string_view password, const std::vector<std::string>& roles) {
    user u;
    u.id = new_id("usr");
    u.tenant_id = "default";
    u.email = std::string(email);
    u.display_name = std::string(display_name);
    u.timezone = "UTC";
    u.password_hash = hash_password(password);
    u.email_verified = true;
    u.created_ms = system_clock().now_ms();
    u.roles = roles;
    auto r = d.writer().write_sync<std::string>([u](db::tx& t) -> result<std::string> {
        if (auto existing = find_user_by_email(t.conn(), u.email)) return existing->id;
        insert_user(t, u);
        return u.id;
    });
    if (!r.ok()) throw std::runtime_error("cannot create user " + std::string(email));
    return *r;
}

}  // namespace souk::identity
