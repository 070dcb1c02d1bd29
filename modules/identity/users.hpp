#pragma once
// SQL access to the identity tables. Reads take a connection from the read pool; writes run
// inside the writer's transaction (db::tx).
#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <souk/db/writer.hpp>
#include <string>
#include <vector>

namespace souk::identity {

struct user {
    std::string id;
    std::string tenant_id;
    std::string email;
    std::string display_name;
    std::string bio;
    std::string avatar_url;
    std::string timezone;
    std::string password_hash;
    bool email_verified = false;
    bool disabled = false;
    std::int64_t not_before_ms = 0;
    std::optional<std::string> mfa_secret;
    bool mfa_enabled = false;
    std::int64_t mfa_last_step = 0;
    std::int64_t created_ms = 0;
    std::vector<std::string> roles;
};

struct tenant {
    std::string id;
    std::string slug;
    std::string name;
    std::vector<std::string> allowed_email_domains;
};

boost::json::object to_json(const user& u);

std::optional<user> find_user_by_email(db::connection& c, std::string_view email);
std::optional<user> find_user_by_id(db::connection& c, std::string_view id);
std::optional<tenant> find_tenant(db::connection& c, std::string_view id_or_slug);
std::vector<std::string> load_roles(db::connection& c, std::string_view user_id);
std::vector<user> list_users(db::connection& c, std::string_view q, std::int64_t limit,
                             std::int64_t offset, std::int64_t& total);

void insert_user(db::tx& t, const user& u);
void set_roles(db::tx& t, std::string_view user_id, const std::vector<std::string>& add,
               const std::vector<std::string>& remove);
// Access tokens issued up to now die; returns the new "not before" instant (now + 1 ms).
std::int64_t cut_off_sessions(db::tx& t, std::string_view user_id);
void revoke_refresh_tokens(db::tx& t, std::string_view user_id);

struct refresh_grant {
    std::string token;  // the opaque value, returned to the client once
    std::int64_t expires_ms;
};
refresh_grant issue_refresh_token(db::tx& t, std::string_view user_id, std::string_view family,
                                  std::int64_t expires_ms);
std::string issue_email_token(db::tx& t, std::string_view user_id, std::string_view purpose,
                              std::int64_t ttl_ms);

}  // namespace souk::identity
