// The identity module: registration, e-mail verification, sessions (access + rotating refresh
// tokens), profile, passwords, TOTP MFA, roles, lockout, audit. Routes per API.md "Identity".
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <souk/core/random.hpp>
#include <souk/http/audit.hpp>
#include <souk/http/json.hpp>
#include <souk/identity/identity.hpp>
#include <souk/log/log.hpp>

#include "crypto.hpp"
#include "passwords.hpp"
#include "sessions.hpp"
#include "tokens.hpp"
#include "totp.hpp"
#include "users.hpp"

namespace souk::identity {

namespace {

namespace asio = boost::asio;
using asio::awaitable;
using http::request;
using http::response;

constexpr std::int64_t verify_token_ttl_ms = 48LL * 3600 * 1000;
constexpr std::int64_t reset_token_ttl_ms = 3600LL * 1000;
constexpr int recovery_codes_count = 10;
constexpr std::string_view refresh_cookie_name = "souk_refresh";
// A refresh-token family remembers whether its session was opened with a second factor in the
// prefix of its (internal) id, so that rotation hands out access tokens of the same strength.
constexpr std::string_view family_prefix = "fam";
constexpr std::string_view mfa_family_prefix = "fmf";

std::string new_family(bool mfa) {
    return new_id(mfa ? mfa_family_prefix : family_prefix);
}
bool is_mfa_family(std::string_view family) {
    return family.size() > mfa_family_prefix.size() && family.starts_with(mfa_family_prefix) &&
           family[mfa_family_prefix.size()] == '_';
}

std::string lower(std::string s) {
    for (auto& c : s)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

bool valid_email(std::string_view e) {
    const auto at = e.find('@');
    if (at == std::string_view::npos || at == 0 || at != e.rfind('@') || e.size() > 254)
        return false;
    const auto domain = e.substr(at + 1);
    const auto dot = domain.find('.');
    if (dot == std::string_view::npos || dot == 0 || domain.back() == '.') return false;
    for (unsigned char c : e)
        if (c <= ' ' || c == '<' || c == '>' || c == '"' || c == ',' || c == ';' || c == '\\')
            return false;
    return true;
}

// ".edu" matches any domain ending in .edu; "example.edu" matches it and its subdomains.
bool domain_allowed(const tenant& t, std::string_view email) {
    if (t.allowed_email_domains.empty()) return true;
    const std::string domain = lower(std::string(email.substr(email.find('@') + 1)));
    for (const auto& rule : t.allowed_email_domains) {
        const std::string r = lower(rule);
        if (r.empty()) continue;
        if (r.front() == '.') {
            if (domain.size() > r.size() && domain.ends_with(r)) return true;
        } else if (domain == r || domain.ends_with("." + r)) {
            return true;
        }
    }
    return false;
}

std::string normalize_recovery_code(std::string_view code) {
    std::string out;
    for (char c : code)
        if (c != '-' && c != ' ')
            out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

http::route_options auth_route(http::route_options o = {}) {
    o.rate_class = "auth";
    return o;
}

// Identity's audit lines are about users; `actor` names who acted when no one is logged in yet.
db::audit_entry user_audit(const request& req, std::string action, std::string entity_id,
                           std::string actor = {}) {
    auto e = http::audit_of(req, std::move(action), "user", std::move(entity_id));
    if (!actor.empty()) e.actor_id = std::move(actor);
    return e;
}

response fail(const request& req, error e) {
    return response::fail(e, req.request_id);
}

error invalid_credentials() {
    return {401, "INVALID_CREDENTIALS", "e-mail or password is wrong"};
}

struct session {
    user u;  // as read inside the writer job that issued the session
    refresh_grant refresh;
    std::int64_t issued_ms = 0;  // the access token's iat
};

// The iat of a session issued inside a writer job: now, and never before the account's "not
// before" instant (a cut-off in this same millisecond came before this job). Taken inside the
// job, so that a cut-off committed after it is later than the token, whenever it is signed.
std::int64_t issue_instant(const db::tx& t, const user& current) {
    return std::max(t.now_ms(), current.not_before_ms);
}

enum class refresh_kind { rotated, reused, invalid };
struct refresh_outcome {
    refresh_kind kind = refresh_kind::invalid;
    session s;
    bool mfa = false;  // the family's session was opened with a second factor
    std::int64_t cutoff_ms = 0;
};

class identity_module final : public module {
  public:
    explicit identity_module(context& ctx)
        : ctx_(ctx),
          lockout_(static_cast<int>(setting("lockout_failures")),
                   setting("lockout_window_seconds") * 1000),
          poll_timer_(ctx.executors.front()) {
        const auto& cfg = ctx.cfg.raw.at("identity").get_object();
        tokens_.key = ctx.secrets.token_key;
        tokens_.issuer = std::string(cfg.at("issuer").get_string());
        tokens_.audience = std::string(cfg.at("audience").get_string());
        tokens_.lifetime_s = setting("access_token_seconds");
        refresh_lifetime_ms_ = setting("refresh_token_days") * 24 * 3600 * 1000;
        require_mfa_for_staff_ = cfg.at("require_mfa_for_staff").get_bool();
        public_url_ = std::string(cfg.at("public_url").get_string());
        // A real hash, so unknown e-mails cost the same time as known ones.
        dummy_hash_ = hash_password(random_hex(16));
        ctx.router.set_authenticator([this](const request& r) { return authenticate(r); });
        add_routes();
        ctx.bus.subscribe("identity.user_registered", "identity.verification_mail",
                          [this](const bus::event& e) { return send_email_token(e, "verify"); });
        ctx.bus.subscribe("identity.password_reset_requested", "identity.reset_mail",
                          [this](const bus::event& e) { return send_email_token(e, "reset"); });
    }

    std::string_view name() const override { return "identity"; }

    awaitable<void> ready() override {
        co_await poll_cutoffs(0);
        asio::co_spawn(poll_timer_.get_executor(), poll_loop(), asio::detached);
    }

    void stop() override {
        stopped_ = true;
        poll_timer_.cancel();
    }

  private:
    std::int64_t setting(std::string_view key) const {
        return ctx_.cfg.raw.at("identity").get_object().at(key).to_number<std::int64_t>();
    }

    void add_routes() {
        auto& r = ctx_.router;
        auto bind = [this](awaitable<response> (identity_module::*fn)(request&)) {
            return [this, fn](request& req) { return (this->*fn)(req); };
        };
        r.post("/api/v1/auth/register", auth_route({.summary = "Create an account"}),
               bind(&identity_module::register_user));
        r.post("/api/v1/auth/verify-email", auth_route({.summary = "Confirm an e-mail address"}),
               bind(&identity_module::verify_email));
        r.post("/api/v1/auth/login", auth_route({.summary = "Open a session"}),
               bind(&identity_module::login));
        r.post("/api/v1/auth/refresh", auth_route({.summary = "Rotate the refresh token"}),
               bind(&identity_module::refresh));
        r.post("/api/v1/auth/logout", auth_route(require_user({.summary = "Close a session"})),
               bind(&identity_module::logout));
        // Every /auth/* route has a bucket: "session" is roomier than "auth" (which guards
        // password checks) because apps read the profile often.
        r.get("/api/v1/auth/me",
              require_user({.rate_class = "session", .summary = "The caller's profile"}),
              bind(&identity_module::me));
        r.put("/api/v1/auth/me",
              require_user({.rate_class = "session", .summary = "Update the caller's profile"}),
              bind(&identity_module::update_me));
        r.post("/api/v1/auth/password", auth_route(require_user({.summary = "Change password"})),
               bind(&identity_module::change_password));
        r.post("/api/v1/auth/password/forgot", auth_route({.summary = "Mail a reset link"}),
               bind(&identity_module::forgot_password));
        r.post("/api/v1/auth/password/reset", auth_route({.summary = "Reset with a mailed token"}),
               bind(&identity_module::reset_password));
        r.post("/api/v1/auth/mfa/setup", auth_route(require_user({.summary = "Start TOTP setup"})),
               bind(&identity_module::mfa_setup));
        r.post("/api/v1/auth/mfa/enable", auth_route(require_user({.summary = "Turn TOTP on"})),
               bind(&identity_module::mfa_enable));
        r.post("/api/v1/auth/mfa/disable", auth_route(require_user({.summary = "Turn TOTP off"})),
               bind(&identity_module::mfa_disable));
        r.get("/api/v1/admin/users", require_roles({"admin"}, {.summary = "List users"}),
              bind(&identity_module::admin_list_users));
        r.post("/api/v1/admin/users/{id}/roles",
               require_roles({"admin"}, {.summary = "Grant and revoke roles"}),
               bind(&identity_module::admin_set_roles));
        r.post("/api/v1/admin/users/{id}/disable",
               require_roles({"admin"}, {.summary = "Disable an account"}),
               bind(&identity_module::admin_disable));
    }

    // ---- plumbing ---------------------------------------------------------------------------

    template <class F>
    awaitable<std::invoke_result_t<F>> on_cpu(F f) {
        using R = std::invoke_result_t<F>;
        co_return co_await asio::co_spawn(
            ctx_.cpu, [f = std::move(f)]() -> awaitable<R> { co_return f(); }, asio::use_awaitable);
    }

    result<http::principal> authenticate(const request& req) const {
        const auto header = req.header("Authorization");
        if (header.size() < 8 ||
            !(header.substr(0, 7) == "Bearer " || header.substr(0, 7) == "bearer "))
            return error::unauthenticated();
        auto claims = verified_.verify(header.substr(7), tokens_, ctx_.clock.now_ms());
        if (!claims.ok()) return claims.err();
        if (!cutoffs_.accepts(claims->sub, claims->iat_ms))
            return error::unauthenticated("session revoked; log in again");
        http::principal p{claims->sub, claims->tenant, std::move(claims->roles)};
        if (require_mfa_for_staff_ && !claims->mfa) {
            // Staff powers need a session opened with a second factor.
            std::erase_if(p.roles, [](const std::string& r) {
                return r == role_admin || r == role_moderator;
            });
        }
        return p;
    }

    // The refresh token also travels as an HttpOnly cookie scoped to /api/v1/auth, so a browser
    // app never has to keep it where scripts can read it (docs/decisions/0009).
    std::string refresh_cookie(const request& req, const std::string& token,
                               std::int64_t max_age_s) const {
        std::string c =
            std::string(refresh_cookie_name) + "=" + token +
            "; Path=/api/v1/auth; HttpOnly; SameSite=Strict; Max-Age=" + std::to_string(max_age_s);
        if (req.secure) c += "; Secure";
        return c;
    }

    // From the JSON body's refresh_token, else from the cookie; nullopt when neither is there.
    static std::optional<std::string> presented_refresh_token(const request& req, status& problem) {
        if (!req.body.empty()) {
            auto body = req.json();
            if (!body.ok()) {
                problem = body.err();
                return std::nullopt;
            }
            json::fields f(*body);
            auto token = f.optional_string("refresh_token", 200);
            if (auto s = f.check(); !s.ok()) {
                problem = s;
                return std::nullopt;
            }
            if (token && !token->empty()) return token;
        }
        const auto cookies = req.header("Cookie");
        std::size_t pos = 0;
        while (pos < cookies.size()) {
            auto end = cookies.find(';', pos);
            if (end == std::string_view::npos) end = cookies.size();
            auto pair = cookies.substr(pos, end - pos);
            while (!pair.empty() && pair.front() == ' ')
                pair.remove_prefix(1);
            const auto eq = pair.find('=');
            if (eq != std::string_view::npos && pair.substr(0, eq) == refresh_cookie_name &&
                eq + 1 < pair.size())
                return std::string(pair.substr(eq + 1));
            pos = end + 1;
        }
        problem = error::validation("refresh_token", "is required (in the body or the cookie)");
        return std::nullopt;
    }

    response session_response(const request& req, const session& s, bool mfa, int status = 200) {
        access_claims c{s.u.id,
                        s.u.tenant_id,
                        s.u.roles,
                        s.issued_ms,
                        ctx_.clock.now_ms() / 1000 + tokens_.lifetime_s,
                        mfa};
        boost::json::object data{{"access_token", sign_access_token(c, tokens_)},
                                 {"refresh_token", s.refresh.token},
                                 {"token_type", "Bearer"},
                                 {"expires_in", tokens_.lifetime_s},
                                 {"user", to_json(s.u)}};
        response res = response::ok(data, status);
        res.set_header("Set-Cookie",
                       refresh_cookie(req, s.refresh.token,
                                      std::max<std::int64_t>(
                                          0, (s.refresh.expires_ms - ctx_.clock.now_ms()) / 1000)));
        return res;
    }

    awaitable<std::optional<user>> load_user(std::string id) {
        auto r = co_await ctx_.db.read<std::optional<user>>(
            [id](db::connection& c) -> result<std::optional<user>> {
                return find_user_by_id(c, id);
            });
        co_return r.ok() ? std::move(*r) : std::nullopt;
    }

    // ---- registration and verification ------------------------------------------------------

    awaitable<response> register_user(request& req) {
        auto body = req.json();
        if (!body.ok()) co_return fail(req, body.err());
        json::fields f(*body);
        auto email = f.required_string("email", 3, 254);
        auto password = f.required_string("password", 1, 1024);
        auto display_name = f.required_string("display_name", 1, 100);
        auto tenant_key = f.optional_string("tenant", 100);
        if (email && !valid_email(*email)) f.fail("email", "must be an e-mail address");
        if (password) {
            if (auto problem = password_problem(*password)) f.fail("password", *problem);
        }
        if (auto s = f.check(); !s.ok()) co_return fail(req, s.err());
        const std::string address = lower(*email);
        const std::string tkey = tenant_key.value_or("default");
        auto t = co_await ctx_.db.read<std::optional<tenant>>(
            [tkey](db::connection& c) -> result<std::optional<tenant>> {
                return find_tenant(c, tkey);
            });
        if (!t.ok()) co_return fail(req, t.err());
        if (!*t) co_return fail(req, error::validation("tenant", "no such tenant"));
        if (!domain_allowed(**t, address)) {
            error e{422, "DOMAIN_NOT_ALLOWED",
                    "this campus only accepts addresses from its own domains"};
            boost::json::array allowed;
            for (const auto& d : (*t)->allowed_email_domains)
                allowed.emplace_back(d);
            e.details["allowed_domains"] = std::move(allowed);
            co_return fail(req, e);
        }
        user u;
        u.id = new_id("usr");
        u.tenant_id = (*t)->id;
        u.email = address;
        u.display_name = *display_name;
        u.roles = {std::string(role_member)};
        u.timezone = "UTC";
        u.created_ms = ctx_.clock.now_ms();
        u.password_hash = co_await on_cpu([pw = *password] { return hash_password(pw); });
        auto audit = user_audit(req, "identity.registered", u.id, u.id);
        auto created = co_await ctx_.db.writer().write<user>([u, audit](db::tx& t) -> result<user> {
            auto& exists = t.prepare("SELECT 1 FROM users WHERE email = ?");
            exists.bind(1, u.email);
            if (exists.step())
                return error::conflict("CONFLICT", "this e-mail is already registered");
            insert_user(t, u);
            t.audit(audit);
            t.publish("identity.user_registered",
                      {{"user_id", u.id}, {"email", u.email}, {"display_name", u.display_name}});
            return u;
        });
        if (!created.ok()) co_return fail(req, created.err());
        co_return response::ok(to_json(*created), 201);
    }

    // Subscriber: makes a single-use token (only its hash is stored) and mails the link.
    awaitable<status> send_email_token(const bus::event& e, std::string purpose) {
        const std::string user_id(e.payload.at("user_id").as_string());
        const std::string email(e.payload.at("email").as_string());
        const std::int64_t ttl = purpose == "verify" ? verify_token_ttl_ms : reset_token_ttl_ms;
        auto token = co_await ctx_.db.writer().write<std::string>(
            [user_id, purpose, ttl](db::tx& t) -> result<std::string> {
                return issue_email_token(t, user_id, purpose, ttl);
            });
        if (!token.ok()) co_return token.err();
        std::string base = public_url_.empty() ? ctx_.public_url() : public_url_;
        while (!base.empty() && base.back() == '/')
            base.pop_back();
        mail::message m;
        m.to = email;
        if (purpose == "verify") {
            m.subject = "Confirm your e-mail address for Souk";
            m.text =
                "Welcome to Souk!\n\nConfirm your address by opening this link within 48 "
                "hours:\n\n" +
                base + "/verify-email?token=" + *token +
                "\n\nIf you did not sign up, ignore this message.\n";
        } else {
            m.subject = "Reset your Souk password";
            m.text =
                "Someone asked to reset the password of this Souk account.\n\nTo choose a new "
                "password, open this link within one hour:\n\n" +
                base + "/reset-password?token=" + *token +
                "\n\nIf it was not you, ignore this message: nothing changes.\n";
        }
        co_return co_await ctx_.mail.send(m);
    }

    // Consumes a mailed token; the user id it belongs to, or nullopt.
    static std::optional<std::string> consume_email_token(db::tx& t, std::string_view token,
                                                          std::string_view purpose) {
        auto& st = t.prepare(
            "SELECT user_id FROM email_tokens WHERE token_hash = ? AND purpose = ? AND used_ms IS "
            "NULL AND expires_ms > ?");
        st.bind_all(sha256_hex(token), purpose, t.now_ms());
        if (!st.step()) return std::nullopt;
        std::string user_id = st.text(0);
        st.reset();
        t.prepare("UPDATE email_tokens SET used_ms = ? WHERE token_hash = ?")
            .bind_all(t.now_ms(), sha256_hex(token))
            .run();
        return user_id;
    }

    awaitable<response> verify_email(request& req) {
        auto body = req.json();
        if (!body.ok()) co_return fail(req, body.err());
        json::fields f(*body);
        auto token = f.required_string("token", 1, 200);
        if (auto s = f.check(); !s.ok()) co_return fail(req, s.err());
        auto audit = user_audit(req, "identity.email_verified", "");
        auto r = co_await ctx_.db.writer().write<std::string>(
            [token = *token, audit](db::tx& t) mutable -> result<std::string> {
                auto user_id = consume_email_token(t, token, "verify");
                if (!user_id) return error::validation("token", "is invalid, used or expired");
                t.prepare("UPDATE users SET email_verified = 1, updated_ms = ? WHERE id = ?")
                    .bind_all(t.now_ms(), *user_id)
                    .run();
                audit.entity_id = *user_id;
                audit.actor_id = *user_id;
                t.audit(audit);
                return *user_id;
            });
        if (!r.ok()) co_return fail(req, r.err());
        profiles_.changed(*r);
        co_return response::ok(boost::json::object{{"email_verified", true}});
    }

    // ---- sessions ---------------------------------------------------------------------------

    awaitable<response> login(request& req) {
        auto body = req.json();
        if (!body.ok()) co_return fail(req, body.err());
        json::fields f(*body);
        auto email = f.required_string("email", 1, 254);
        auto password = f.required_string("password", 1, 1024);
        auto code = f.optional_string("totp", 64);
        if (auto s = f.check(); !s.ok()) co_return fail(req, s.err());
        const std::string key = lower(*email);
        const auto now = ctx_.clock.now_ms();
        if (auto ms = lockout_.begin(key, now); ms > 0) co_return fail(req, account_locked(ms));
        login_attempt attempt(lockout_, key);  // counted until it fails or succeeds

        auto found = co_await ctx_.db.read<std::optional<user>>(
            [key](db::connection& c) -> result<std::optional<user>> {
                return find_user_by_email(c, key);
            });
        if (!found.ok()) co_return fail(req, found.err());
        std::optional<user> u = std::move(*found);
        const std::string hash = u ? u->password_hash : dummy_hash_;
        const bool password_ok =
            co_await on_cpu([hash, pw = *password] { return verify_password(hash, pw); });
        if (!u || !password_ok || u->disabled)
            co_return co_await login_failed(req, attempt, key, u ? u->id : std::string());

        std::optional<std::int64_t> step;
        std::string recovery_hash;
        if (u->mfa_enabled) {
            if (!code || code->empty())
                co_return fail(
                    req, error{401, "MFA_REQUIRED", "enter the code from your authenticator app"});
            const auto secret = base32_decode(u->mfa_secret.value_or(""));
            if (secret) step = totp_match(*secret, *code, now, u->mfa_last_step);
            if (!step) recovery_hash = sha256_hex(normalize_recovery_code(*code));
        }
        auto audit = user_audit(req, "identity.login", u->id, u->id);
        audit.tenant_id = u->tenant_id;
        const auto lifetime = refresh_lifetime_ms_;
        auto s = co_await ctx_.db.writer().write<session>([u = *u, step, recovery_hash, audit,
                                                           lifetime](db::tx& t) -> result<session> {
            if (u.mfa_enabled && !step) {
                // Not a TOTP code: maybe an unused recovery code.
                t.prepare(
                     "UPDATE mfa_recovery_codes SET used_ms = ? WHERE user_id = ? AND "
                     "code_hash = ? AND used_ms IS NULL")
                    .bind_all(t.now_ms(), u.id, recovery_hash)
                    .run();
                if (t.conn().changes() != 1) return invalid_credentials();
            }
            if (step) {
                // Single use: the step must still be newer than the last one accepted.
                t.prepare("UPDATE users SET mfa_last_step = ? WHERE id = ? AND mfa_last_step < ?")
                    .bind_all(*step, u.id, *step)
                    .run();
                if (t.conn().changes() != 1) return invalid_credentials();
            }
            // The account as it is now: its roles may have changed, or it may have been
            // disabled, while the password was being checked.
            auto current = find_user_by_id(t.conn(), u.id);
            if (!current || current->disabled || current->mfa_enabled != u.mfa_enabled)
                return invalid_credentials();
            t.audit(audit);
            auto refresh =
                issue_refresh_token(t, u.id, new_family(u.mfa_enabled), t.now_ms() + lifetime);
            const auto issued = issue_instant(t, *current);
            return session{std::move(*current), std::move(refresh), issued};
        });
        if (!s.ok()) {
            if (s.err().code == "INVALID_CREDENTIALS")
                co_return co_await login_failed(req, attempt, key, u->id);
            co_return fail(req, s.err());
        }
        // Only a complete login (password and, when on, the second factor) clears the failures:
        // clearing them on the password alone would leave the TOTP code open to guessing.
        attempt.succeed();
        co_return session_response(req, *s, u->mfa_enabled);
    }

    error account_locked(std::int64_t ms) {
        error e{429, "ACCOUNT_LOCKED", "too many failed logins; try again later"};
        e.headers.emplace_back("Retry-After", std::to_string((ms + 999) / 1000));
        return e;
    }

    awaitable<response> login_failed(request& req, login_attempt& attempt, const std::string& key,
                                     std::string user_id) {
        attempt.fail(ctx_.clock.now_ms());
        auto audit = user_audit(req, "identity.login_failed", user_id);
        audit.details["email"] = key;
        auto r = co_await ctx_.db.writer().write<bool>([audit](db::tx& t) -> result<bool> {
            t.audit(audit);
            return true;
        });
        (void)r;  // the answer does not depend on the audit line
        co_return fail(req, invalid_credentials());
    }

    awaitable<response> refresh(request& req) {
        status problem;
        auto token = presented_refresh_token(req, problem);
        if (!token) co_return fail(req, problem.err());
        auto audit = user_audit(req, "identity.refresh_reuse", "");
        auto r = co_await ctx_.db.writer().write<refresh_outcome>(
            [hash = sha256_hex(*token), audit](db::tx& t) mutable -> result<refresh_outcome> {
                return rotate(t, hash, audit);
            });
        if (!r.ok()) co_return fail(req, r.err());
        if (r->kind == refresh_kind::reused) {
            cutoffs_.set(r->s.u.id, r->cutoff_ms, false);
            co_return fail(req,
                           error::unauthenticated(
                               "refresh token reused; every session of this account was closed"));
        }
        if (r->kind == refresh_kind::invalid)
            co_return fail(req, error::unauthenticated("invalid refresh token"));
        co_return session_response(req, r->s, r->mfa);
    }

    // Rotation inside the writer: one live token per family; presenting a dead one is theft.
    static result<refresh_outcome> rotate(db::tx& t, const std::string& hash,
                                          db::audit_entry& audit) {
        auto& st = t.prepare(
            "SELECT user_id, family_id, expires_ms, rotated_ms, revoked_ms FROM refresh_tokens "
            "WHERE "
            "token_hash = ?");
        st.bind(1, hash);
        refresh_outcome out;
        if (!st.step()) return out;
        const std::string user_id = st.text(0), family = st.text(1);
        const auto expires = st.int64(2);
        const bool dead = !st.is_null(3) || !st.is_null(4);
        st.reset();
        auto u = find_user_by_id(t.conn(), user_id);
        if (!u) return out;
        out.s.u = std::move(*u);
        if (dead) {
            t.prepare(
                 "UPDATE refresh_tokens SET revoked_ms = ? WHERE family_id = ? AND revoked_ms IS "
                 "NULL")
                .bind_all(t.now_ms(), family)
                .run();
            out.cutoff_ms = cut_off_sessions(t, user_id);
            audit.entity_id = user_id;
            audit.details["family"] = family;
            t.audit(audit);
            out.kind = refresh_kind::reused;
            return out;
        }
        if (expires <= t.now_ms() || out.s.u.disabled) return out;
        t.prepare("UPDATE refresh_tokens SET rotated_ms = ? WHERE token_hash = ?")
            .bind_all(t.now_ms(), hash)
            .run();
        out.s.refresh = issue_refresh_token(t, user_id, family, expires);
        out.s.issued_ms = issue_instant(t, out.s.u);
        // Still a second-factor session only while the account has MFA on.
        out.mfa = is_mfa_family(family) && out.s.u.mfa_enabled;
        out.kind = refresh_kind::rotated;
        return out;
    }

    awaitable<response> logout(request& req) {
        status problem;
        auto token = presented_refresh_token(req, problem);
        if (!token) co_return fail(req, problem.err());
        auto audit = user_audit(req, "identity.logout", req.caller->user_id);
        auto r = co_await ctx_.db.writer().write<bool>([hash = sha256_hex(*token),
                                                        user_id = req.caller->user_id,
                                                        audit](db::tx& t) -> result<bool> {
            t.prepare(
                 "UPDATE refresh_tokens SET revoked_ms = ?1 WHERE revoked_ms IS NULL AND "
                 "user_id = ?2 AND family_id = (SELECT family_id FROM refresh_tokens "
                 "WHERE token_hash = ?3 AND user_id = ?2)")
                .bind_all(t.now_ms(), user_id, hash)
                .run();
            t.audit(audit);
            return true;
        });
        if (!r.ok()) co_return fail(req, r.err());
        response res = response::ok(boost::json::object{{"logged_out", true}});
        res.set_header("Set-Cookie", refresh_cookie(req, "", 0));
        co_return res;
    }

    // ---- profile and password ---------------------------------------------------------------

    // Answered from memory when it can: profiles change only through this process's writes
    // (each calls profiles_.changed) or the CLI (seen by poll_cutoffs within a second).
    awaitable<response> me(request& req) {
        const std::string& id = req.caller->user_id;
        if (auto body = profiles_.find(id)) co_return response::raw(200, "application/json", *body);
        const auto generation = profiles_.generation();
        auto u = co_await load_user(id);
        if (!u) co_return fail(req, error::not_found());
        response res = response::ok(to_json(*u));
        profiles_.put(id, res.body, generation);
        co_return res;
    }

    awaitable<response> update_me(request& req) {
        auto body = req.json();
        if (!body.ok()) co_return fail(req, body.err());
        json::fields f(*body);
        // Only these four are writable; anything else in the body is ignored.
        auto display_name = f.optional_string("display_name", 100);
        auto bio = f.optional_string("bio", 2000);
        auto avatar_url = f.optional_string("avatar_url", 500);
        auto timezone = f.optional_string("timezone", 64);
        if (display_name && display_name->empty()) f.fail("display_name", "must not be empty");
        if (avatar_url && !avatar_url->empty() && !avatar_url->starts_with("https://") &&
            !avatar_url->starts_with("http://"))
            f.fail("avatar_url", "must be an http(s) URL");
        if (auto s = f.check(); !s.ok()) co_return fail(req, s.err());
        const std::string id = req.caller->user_id;
        auto r = co_await ctx_.db.writer().write<bool>(
            [id, display_name, bio, avatar_url, timezone](db::tx& t) -> result<bool> {
                t.prepare(
                     "UPDATE users SET display_name = COALESCE(?, display_name), bio = "
                     "COALESCE(?, bio), avatar_url = COALESCE(?, avatar_url), timezone = "
                     "COALESCE(?, timezone), updated_ms = ? WHERE id = ?")
                    .bind_all(display_name, bio, avatar_url, timezone, t.now_ms(), id)
                    .run();
                return true;
            });
        if (!r.ok()) co_return fail(req, r.err());
        profiles_.changed(id);
        co_return co_await me(req);
    }

    awaitable<response> change_password(request& req) {
        auto body = req.json();
        if (!body.ok()) co_return fail(req, body.err());
        json::fields f(*body);
        auto current = f.required_string("current_password", 1, 1024);
        auto next = f.required_string("new_password", 1, 1024);
        if (next) {
            if (auto problem = password_problem(*next)) f.fail("new_password", *problem);
        }
        if (auto s = f.check(); !s.ok()) co_return fail(req, s.err());
        auto u = co_await load_user(req.caller->user_id);
        if (!u) co_return fail(req, error::not_found());
        const bool ok = co_await on_cpu(
            [hash = u->password_hash, pw = *current] { return verify_password(hash, pw); });
        if (!ok) {
            co_return fail(req, error::validation("current_password", "is not your password"));
        }
        co_return co_await set_password(req, *u, *next, "identity.password_changed", false,
                                        caller_mfa(req));
    }

    // Whether the caller's access token comes from a session opened with a second factor.
    bool caller_mfa(const request& req) const {
        const auto header = req.header("Authorization");
        if (header.size() < 8) return false;
        auto c = verified_.verify(header.substr(7), tokens_, ctx_.clock.now_ms());
        return c.ok() && c->mfa;
    }

    // New hash, every other session closed, a fresh session for this caller (with the second
    // factor of the caller's session, session_mfa). A reset by mailed link (by_mail) opens no
    // session for an account with MFA on: the mailbox is one factor, and logging in still needs
    // the authenticator.
    awaitable<response> set_password(request& req, const user& u, const std::string& password,
                                     std::string action, bool by_mail, bool session_mfa) {
        const std::string hash = co_await on_cpu([pw = password] { return hash_password(pw); });
        auto audit = user_audit(req, std::move(action), u.id, u.id);
        const auto lifetime = refresh_lifetime_ms_;
        std::int64_t cutoff = 0;
        auto s = co_await ctx_.db.writer().write<session>([u, hash, audit, lifetime, by_mail,
                                                           session_mfa,
                                                           &cutoff](db::tx& t) -> result<session> {
            t.prepare("UPDATE users SET password_hash = ?, updated_ms = ? WHERE id = ?")
                .bind_all(hash, t.now_ms(), u.id)
                .run();
            revoke_refresh_tokens(t, u.id);
            cutoff = cut_off_sessions(t, u.id);
            t.audit(audit);
            auto current = find_user_by_id(t.conn(), u.id);  // roles as they are now
            if (!current) return error::not_found();
            if (by_mail && current->mfa_enabled) return session{std::move(*current), {}, 0};
            auto refresh = issue_refresh_token(
                t, u.id, new_family(session_mfa && current->mfa_enabled), t.now_ms() + lifetime);
            const auto issued = issue_instant(t, *current);
            return session{std::move(*current), std::move(refresh), issued};
        });
        if (!s.ok()) co_return fail(req, s.err());
        cutoffs_.set(u.id, cutoff, u.disabled);
        profiles_.changed(u.id);
        if (s->refresh.token.empty())
            co_return response::ok(
                boost::json::object{{"password_reset", true}, {"mfa_required", true}});
        co_return session_response(req, *s, session_mfa && s->u.mfa_enabled);
    }

    awaitable<response> forgot_password(request& req) {
        auto body = req.json();
        if (!body.ok()) co_return fail(req, body.err());
        json::fields f(*body);
        auto email = f.required_string("email", 1, 254);
        if (auto s = f.check(); !s.ok()) co_return fail(req, s.err());
        const std::string key = lower(*email);
        auto u = co_await ctx_.db.read<std::optional<user>>(
            [key](db::connection& c) -> result<std::optional<user>> {
                return find_user_by_email(c, key);
            });
        if (u.ok() && *u && !(*u)->disabled) {
            auto audit = user_audit(req, "identity.password_reset_requested", (*u)->id);
            auto r = co_await ctx_.db.writer().write<bool>([id = (*u)->id, key,
                                                            audit](db::tx& t) -> result<bool> {
                t.audit(audit);
                t.publish("identity.password_reset_requested", {{"user_id", id}, {"email", key}});
                return true;
            });
            if (!r.ok()) co_return fail(req, r.err());
        }
        // The same answer whether or not the address is known.
        co_return response::ok(boost::json::object{{"sent", true}});
    }

    awaitable<response> reset_password(request& req) {
        auto body = req.json();
        if (!body.ok()) co_return fail(req, body.err());
        json::fields f(*body);
        auto token = f.required_string("token", 1, 200);
        auto next = f.required_string("new_password", 1, 1024);
        if (next) {
            if (auto problem = password_problem(*next)) f.fail("new_password", *problem);
        }
        if (auto s = f.check(); !s.ok()) co_return fail(req, s.err());
        auto consumed = co_await ctx_.db.writer().write<std::string>(
            [token = *token](db::tx& t) -> result<std::string> {
                auto id = consume_email_token(t, token, "reset");
                if (!id) return error::validation("token", "is invalid, used or expired");
                return *id;
            });
        if (!consumed.ok()) co_return fail(req, consumed.err());
        auto u = co_await load_user(*consumed);
        if (!u || u->disabled)
            co_return fail(req, error::validation("token", "is invalid, used or expired"));
        co_return co_await set_password(req, *u, *next, "identity.password_reset", true, false);
    }

    // ---- MFA --------------------------------------------------------------------------------

    awaitable<response> mfa_setup(request& req) {
        auto u = co_await load_user(req.caller->user_id);
        if (!u) co_return fail(req, error::not_found());
        if (u->mfa_enabled) co_return fail(req, error::conflict("CONFLICT", "MFA is already on"));
        const std::string secret = base32_encode(random_bytes(20));
        auto r = co_await ctx_.db.writer().write<bool>([id = u->id,
                                                        secret](db::tx& t) -> result<bool> {
            t.prepare(
                 "UPDATE users SET mfa_secret = ?, updated_ms = ? WHERE id = ? AND mfa_enabled = 0")
                .bind_all(secret, t.now_ms(), id)
                .run();
            return true;
        });
        if (!r.ok()) co_return fail(req, r.err());
        profiles_.changed(u->id);
        co_return response::ok(boost::json::object{
            {"secret", secret}, {"otpauth_uri", otpauth_uri("Souk", u->email, secret)}});
    }

    awaitable<response> mfa_enable(request& req) {
        auto body = req.json();
        if (!body.ok()) co_return fail(req, body.err());
        json::fields f(*body);
        auto code = f.required_string("code", 6, 6);
        if (auto s = f.check(); !s.ok()) co_return fail(req, s.err());
        auto u = co_await load_user(req.caller->user_id);
        if (!u) co_return fail(req, error::not_found());
        if (u->mfa_enabled) co_return fail(req, error::conflict("CONFLICT", "MFA is already on"));
        if (!u->mfa_secret)
            co_return fail(req, error::conflict("INVALID_STATE", "call /auth/mfa/setup first"));
        const auto secret = base32_decode(*u->mfa_secret);
        const auto step = secret ? totp_match(*secret, *code, ctx_.clock.now_ms(), u->mfa_last_step)
                                 : std::nullopt;
        if (!step) co_return fail(req, error::validation("code", "does not match"));
        std::vector<std::string> codes;
        for (int i = 0; i < recovery_codes_count; ++i) {
            const std::string raw = lower(base32_encode(random_bytes(7))).substr(0, 10);
            codes.push_back(raw.substr(0, 5) + "-" + raw.substr(5));
        }
        auto audit = user_audit(req, "identity.mfa_enabled", u->id);
        auto r = co_await ctx_.db.writer().write<bool>([id = u->id, step, codes,
                                                        audit](db::tx& t) -> result<bool> {
            t.prepare(
                 "UPDATE users SET mfa_enabled = 1, mfa_last_step = ?, updated_ms = ? WHERE id = ?")
                .bind_all(*step, t.now_ms(), id)
                .run();
            t.prepare("DELETE FROM mfa_recovery_codes WHERE user_id = ?").bind(1, id).run();
            for (const auto& c : codes)
                t.prepare("INSERT INTO mfa_recovery_codes (user_id, code_hash) VALUES (?, ?)")
                    .bind_all(id, sha256_hex(normalize_recovery_code(c)))
                    .run();
            t.audit(audit);
            return true;
        });
        if (!r.ok()) co_return fail(req, r.err());
        profiles_.changed(u->id);
        boost::json::array out;
        for (const auto& c : codes)
            out.emplace_back(c);
        co_return response::ok(boost::json::object{{"mfa_enabled", true}, {"recovery_codes", out}});
    }

    awaitable<response> mfa_disable(request& req) {
        auto body = req.json();
        if (!body.ok()) co_return fail(req, body.err());
        json::fields f(*body);
        auto code = f.required_string("code", 6, 64);
        if (auto s = f.check(); !s.ok()) co_return fail(req, s.err());
        auto u = co_await load_user(req.caller->user_id);
        if (!u) co_return fail(req, error::not_found());
        if (!u->mfa_enabled) co_return fail(req, error::conflict("INVALID_STATE", "MFA is not on"));
        const auto secret = base32_decode(u->mfa_secret.value_or(""));
        const auto step = secret ? totp_match(*secret, *code, ctx_.clock.now_ms(), u->mfa_last_step)
                                 : std::nullopt;
        const std::string recovery = sha256_hex(normalize_recovery_code(*code));
        auto audit = user_audit(req, "identity.mfa_disabled", u->id);
        auto r = co_await ctx_.db.writer().write<bool>([id = u->id, step, recovery,
                                                        audit](db::tx& t) -> result<bool> {
            if (!step) {
                t.prepare(
                     "UPDATE mfa_recovery_codes SET used_ms = ? WHERE user_id = ? AND code_hash = "
                     "? "
                     "AND used_ms IS NULL")
                    .bind_all(t.now_ms(), id, recovery)
                    .run();
                if (t.conn().changes() != 1) return error::validation("code", "does not match");
            }
            t.prepare(
                 "UPDATE users SET mfa_enabled = 0, mfa_secret = NULL, updated_ms = ? WHERE id = ?")
                .bind_all(t.now_ms(), id)
                .run();
            t.prepare("DELETE FROM mfa_recovery_codes WHERE user_id = ?").bind(1, id).run();
            t.audit(audit);
            return true;
        });
        if (!r.ok()) co_return fail(req, r.err());
        profiles_.changed(u->id);
        co_return response::ok(boost::json::object{{"mfa_enabled", false}});
    }

    // ---- administration ---------------------------------------------------------------------

    awaitable<response> admin_list_users(request& req) {
        const auto paged = req.page();
        const auto page = paged.page, per_page = paged.per_page;
        const std::string q = req.query_param("q").value_or("");
        struct page_of_users {
            std::vector<user> users;
            std::int64_t total = 0;
        };
        auto r = co_await ctx_.db.read<page_of_users>(
            [q, page, per_page](db::connection& c) -> result<page_of_users> {
                page_of_users p;
                p.users = list_users(c, q, per_page, (page - 1) * per_page, p.total);
                return p;
            });
        if (!r.ok()) co_return fail(req, r.err());
        boost::json::array items;
        for (const auto& u : r->users)
            items.push_back(to_json(u));
        co_return response::list(items, page, per_page, r->total);
    }

    awaitable<response> admin_set_roles(request& req) {
        auto body = req.json();
        if (!body.ok()) co_return fail(req, body.err());
        std::vector<std::string> add, remove;
        json::fields f(*body);
        auto read_list = [&](std::string_view key, std::vector<std::string>& out) {
            const auto* obj = body->if_object();
            const auto* v = obj ? obj->if_contains(key) : nullptr;
            if (!v || v->is_null()) return;
            if (!v->is_array()) return f.fail(key, "must be a list of roles");
            for (const auto& r : v->get_array()) {
                if (!r.is_string() || !is_known_role(r.get_string()))
                    return f.fail(key, "contains an unknown role");
                out.emplace_back(r.get_string());
            }
        };
        read_list("add", add);
        read_list("remove", remove);
        if (std::find(remove.begin(), remove.end(), role_member) != remove.end())
            f.fail("remove", "member cannot be removed");
        if (auto s = f.check(); !s.ok()) co_return fail(req, s.err());
        const std::string target(req.param("id"));
        auto audit = user_audit(req, "identity.roles_changed", target);
        boost::json::array a, rm;
        for (const auto& x : add)
            a.emplace_back(x);
        for (const auto& x : remove)
            rm.emplace_back(x);
        audit.details = {{"add", a}, {"remove", rm}};
        std::int64_t cutoff = 0;
        auto r = co_await ctx_.db.writer().write<bool>(
            [target, add, remove, audit, &cutoff](db::tx& t) -> result<bool> {
                if (!find_user_by_id(t.conn(), target)) return error::not_found("no such user");
                set_roles(t, target, add, remove);
                cutoff = cut_off_sessions(t, target);
                t.audit(audit);
                return true;
            });
        if (!r.ok()) co_return fail(req, r.err());
        cutoffs_.set(target, cutoff, false);
        profiles_.changed(target);
        auto u = co_await load_user(target);
        if (!u) co_return fail(req, error::not_found());
        co_return response::ok(to_json(*u));
    }

    awaitable<response> admin_disable(request& req) {
        const std::string target(req.param("id"));
        auto audit = user_audit(req, "identity.user_disabled", target);
        std::int64_t cutoff = 0;
        auto r = co_await ctx_.db.writer().write<bool>(
            [target, audit, &cutoff](db::tx& t) -> result<bool> {
                if (!find_user_by_id(t.conn(), target)) return error::not_found("no such user");
                t.prepare("UPDATE users SET disabled = 1 WHERE id = ?").bind(1, target).run();
                revoke_refresh_tokens(t, target);
                cutoff = cut_off_sessions(t, target);
                t.audit(audit);
                return true;
            });
        if (!r.ok()) co_return fail(req, r.err());
        cutoffs_.set(target, cutoff, true);
        profiles_.changed(target);
        auto u = co_await load_user(target);
        if (!u) co_return fail(req, error::not_found());
        co_return response::ok(to_json(*u));
    }

    // ---- cut-offs made by other processes (the admin CLI) -----------------------------------

    awaitable<void> poll_cutoffs(std::int64_t since_ms) {
        struct row {
            std::string id;
            std::int64_t not_before;
            bool disabled;
        };
        auto rows = co_await ctx_.db.read<std::vector<row>>(
            [since_ms](db::connection& c) -> result<std::vector<row>> {
                auto& st = c.prepare(
                    "SELECT id, not_before_ms, disabled FROM users WHERE updated_ms >= ?");
                st.bind(1, since_ms);
                std::vector<row> out;
                while (st.step())
                    out.push_back({st.text(0), st.int64(1), st.int64(2) != 0});
                st.reset();
                return out;
            });
        if (!rows.ok()) co_return;
        for (const auto& r : *rows) {
            // Changes made by other processes (the admin CLI) reach the caches here.
            if (r.not_before > 0 || r.disabled) cutoffs_.set(r.id, r.not_before, r.disabled);
            profiles_.changed(r.id);
        }
    }

    awaitable<void> poll_loop() {
        while (!stopped_) {
            const auto since = ctx_.clock.now_ms() - 5000;
            poll_timer_.expires_after(std::chrono::seconds(1));
            auto [ec] = co_await poll_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
            if (ec || stopped_) co_return;
            co_await poll_cutoffs(since);
        }
    }

    context& ctx_;
    token_settings tokens_;
    mutable verified_tokens verified_;
    std::int64_t refresh_lifetime_ms_ = 0;
    bool require_mfa_for_staff_ = true;
    std::string public_url_;
    std::string dummy_hash_;
    session_cutoffs cutoffs_;
    profile_cache profiles_;
    lockout lockout_;
    asio::steady_timer poll_timer_;
    std::atomic<bool> stopped_{false};
};

}  // namespace

std::unique_ptr<module> make_module(context& ctx) {
    return std::make_unique<identity_module>(ctx);
}

}  // namespace souk::identity
