#pragma once
// The identity module's public face: who is calling, roles, ownership, tenant scoping, and the
// module factory. Other modules include this header, never modules/identity/.
#include <memory>
#include <optional>
#include <souk/config/config.hpp>
#include <souk/db/connection.hpp>
#include <souk/db/database.hpp>
#include <souk/http/request.hpp>
#include <souk/kernel.hpp>
#include <string>
#include <vector>

namespace souk::identity {

inline constexpr std::string_view role_member = "member";
inline constexpr std::string_view role_seller = "seller";
inline constexpr std::string_view role_business = "business";
inline constexpr std::string_view role_organizer = "organizer";
inline constexpr std::string_view role_moderator = "moderator";
inline constexpr std::string_view role_admin = "admin";
bool is_known_role(std::string_view role);

// Route declarations read better with these: {.access = http::access::roles, .roles = ...}.
http::route_options require_roles(std::vector<std::string> roles, http::route_options base = {});
http::route_options require_user(http::route_options base = {});

// Ownership: the caller owns the object, or is an admin. Others get 404 (not 403) so that
// existence is not leaked.
bool owns_or_admin(const http::request& req, std::string_view owner_id);

// Tenant scoping for tenant-owned tables. The SQL names the condition with {tenant}, which
// becomes "tenant_id = ?1" bound to the caller's tenant; other parameters start at ?2.
// A query without {tenant} is a programmer error (std::logic_error), so no module can forget.
class tenant_query {
  public:
    tenant_query(db::connection& c, std::string_view tenant_id, std::string_view sql_with_tenant);
    db::statement& stmt() { return *stmt_; }
    static constexpr int first_param = 2;

  private:
    db::statement* stmt_;
};

std::unique_ptr<module> make_module(context& ctx);

// A user's e-mail address (for staff screens that name accounts); nullopt for an unknown id.
std::optional<std::string> email_of(db::connection& c, std::string_view user_id);

// Creates a verified account unless the e-mail is taken (demo data); returns the user's id.
std::string ensure_user(db::database& d, std::string_view email, std::string_view display_name,
                        std::string_view password, const std::vector<std::string>& roles);

// `souk admin ...` subcommands; returns the process exit code.
int admin_cli(const std::vector<std::string>& argv, const config::settings& s);

}  // namespace souk::identity
