#pragma once
// The audit line for a request: who (caller, tenant, address, agent) did what to which entity.
#include <souk/db/writer.hpp>
#include <souk/http/request.hpp>
#include <string>

namespace souk::http {

inline db::audit_entry audit_of(const request& req, std::string action, std::string entity_type,
                                std::string entity_id, boost::json::object details = {}) {
    db::audit_entry a;
    a.actor_id = req.caller ? req.caller->user_id : "";
    a.tenant_id = req.caller ? req.caller->tenant : "";
    a.action = std::move(action);
    a.entity_type = std::move(entity_type);
    a.entity_id = std::move(entity_id);
    a.ip = req.remote_address;
    a.user_agent = std::string(req.header("User-Agent").substr(0, 300));
    a.details = std::move(details);
    return a;
}

}  // namespace souk::http
