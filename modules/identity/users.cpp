#include "users.hpp"

#include <boost/json.hpp>
#include <souk/core/clock.hpp>
#include <souk/core/random.hpp>

#include "crypto.hpp"

namespace souk::identity {

namespace {

constexpr const char* user_columns =
    "id, tenant_id, email, display_name, bio, avatar_url, timezone, password_hash, "
    "email_verified, disabled, not_before_ms, mfa_secret, mfa_enabled, mfa_last_step, created_ms";

user read_user(db::statement& st) {
    user u;
    u.id = st.text(0);
    u.tenant_id = st.text(1);
    u.email = st.text(2);
    u.display_name = st.text(3);
    u.bio = st.text(4);
    u.avatar_url = st.text(5);
    u.timezone = st.text(6);
    u.password_hash = st.text(7);
    u.email_verified = st.int64(8) != 0;
    u.disabled = st.int64(9) != 0;
    u.not_before_ms = st.int64(10);
    u.mfa_secret = st.optional_text(11);
    u.mfa_enabled = st.int64(12) != 0;
    u.mfa_last_step = st.int64(13);
    u.created_ms = st.int64(14);
    return u;
}

std::optional<user> find_user(db::connection& c, const std::string& where, std::string_view key) {
    auto& st = c.prepare(std::string("SELECT ") + user_columns + " FROM users WHERE " + where);
    st.bind(1, key);
    std::optional<user> out;
    if (st.step()) out = read_user(st);
    st.reset();
    if (out) out->roles = load_roles(c, out->id);
    return out;
}

}  // namespace

boost::json::object to_json(const user& u) {
    boost::json::array roles;
    for (const auto& r : u.roles)
        roles.emplace_back(r);
    return {{"id", u.id},
            {"email", u.email},
            {"display_name", u.display_name},
            {"bio", u.bio},
            {"avatar_url", u.avatar_url},
            {"timezone", u.timezone},
            {"roles", std::move(roles)},
            {"tenant", u.tenant_id},
            {"email_verified", u.email_verified},
            {"mfa_enabled", u.mfa_enabled},
            {"disabled", u.disabled},
            {"created_at", format_rfc3339(sys_time(std::chrono::milliseconds(u.created_ms)))}};
}

std::optional<user> find_user_by_email(db::connection& c, std::string_view email) {
    return find_user(c, "email = ?", email);
}

std::optional<user> find_user_by_id(db::connection& c, std::string_view id) {
    return find_user(c, "id = ?", id);
}

std::optional<tenant> find_tenant(db::connection& c, std::string_view id_or_slug) {
    auto& st = c.prepare("SELECT id, slug, name, settings FROM tenants WHERE id = ?1 OR slug = ?1");
    st.bind(1, id_or_slug);
    std::optional<tenant> out;
    if (st.step()) {
        tenant t{st.text(0), st.text(1), st.text(2), {}};
        boost::system::error_code ec;
        auto settings = boost::json::parse(st.text_view(3), ec);
        if (!ec && settings.is_object()) {
            if (auto* d = settings.get_object().if_contains("allowed_email_domains");
                d && d->is_array()) {
                for (const auto& v : d->get_array())
                    if (v.is_string()) t.allowed_email_domains.emplace_back(v.get_string());
            }
        }
        out = std::move(t);
    }
    st.reset();
    return out;
}

std::vector<std::string> load_roles(db::connection& c, std::string_view user_id) {
    auto& st = c.prepare("SELECT role FROM user_roles WHERE user_id = ? ORDER BY role");
    st.bind(1, user_id);
    std::vector<std::string> out;
    while (st.step())
        out.push_back(st.text(0));
    st.reset();
    return out;
}

std::vector<user> list_users(db::connection& c, std::string_view q, std::int64_t limit,
                             std::int64_t offset, std::int64_t& total) {
    const std::string pattern = "%" + std::string(q) + "%";
    auto& count =
        c.prepare("SELECT COUNT(*) FROM users WHERE email LIKE ?1 OR display_name LIKE ?1");
    count.bind(1, pattern);
    count.step();
    total = count.int64(0);
    count.reset();
    auto& st = c.prepare(std::string("SELECT ") + user_columns +
                         " FROM users WHERE email LIKE ?1 OR display_name LIKE ?1 ORDER BY "
                         "created_ms, id LIMIT ?2 OFFSET ?3");
    st.bind_all(pattern, limit, offset);
    std::vector<user> out;
    while (st.step())
        out.push_back(read_user(st));
    st.reset();
    for (auto& u : out)
        u.roles = load_roles(c, u.id);
    return out;
}

void insert_user(db::tx& t, const user& u) {
    t.prepare(
         "INSERT INTO users (id, tenant_id, email, display_name, password_hash, email_verified, "
         "created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        .bind_all(u.id, u.tenant_id, u.email, u.display_name, u.password_hash,
                  std::int64_t{u.email_verified}, u.created_ms, u.created_ms)
        .run();
    for (const auto& r : u.roles)
        t.prepare("INSERT INTO user_roles (user_id, role) VALUES (?, ?)").bind_all(u.id, r).run();
}

void set_roles(db::tx& t, std::string_view user_id, const std::vector<std::string>& add,
               const std::vector<std::string>& remove) {
    for (const auto& r : add)
        t.prepare("INSERT OR IGNORE INTO user_roles (user_id, role) VALUES (?, ?)")
            .bind_all(user_id, r)
            .run();
    for (const auto& r : remove)
        t.prepare("DELETE FROM user_roles WHERE user_id = ? AND role = ?")
            .bind_all(user_id, r)
            .run();
}

std::int64_t cut_off_sessions(db::tx& t, std::string_view user_id) {
    // Tokens issued up to and including this millisecond (by earlier writer jobs) die; later
    // jobs issue at the new instant or after it (identity_module.cpp, issue_instant).
    const auto now = t.now_ms();
    const auto not_before = now + 1;
    t.prepare("UPDATE users SET not_before_ms = ?1, updated_ms = ?2 WHERE id = ?3")
        .bind_all(not_before, now, user_id)
        .run();
    return not_before;
}

void revoke_refresh_tokens(db::tx& t, std::string_view user_id) {
    t.prepare("UPDATE refresh_tokens SET revoked_ms = ? WHERE user_id = ? AND revoked_ms IS NULL")
        .bind_all(t.now_ms(), user_id)
        .run();
}

refresh_grant issue_refresh_token(db::tx& t, std::string_view user_id, std::string_view family,
                                  std::int64_t expires_ms) {
    refresh_grant g{new_opaque_token(), expires_ms};
    t.prepare(
         "INSERT INTO refresh_tokens (token_hash, user_id, family_id, created_ms, expires_ms) "
         "VALUES (?, ?, ?, ?, ?)")
        .bind_all(sha256_hex(g.token), user_id, family, t.now_ms(), expires_ms)
        .run();
    return g;
}

std::string issue_email_token(db::tx& t, std::string_view user_id, std::string_view purpose,
                              std::int64_t ttl_ms) {
    const std::string token = new_opaque_token();
    t.prepare(
         "INSERT INTO email_tokens (token_hash, user_id, purpose, created_ms, expires_ms) VALUES "
         "(?, ?, ?, ?, ?)")
        .bind_all(sha256_hex(token), user_id, purpose, t.now_ms(), t.now_ms() + ttl_ms)
        .run();
    return token;
}

}  // namespace souk::identity
