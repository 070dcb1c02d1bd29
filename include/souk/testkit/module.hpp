#pragma once
// The testkit module: JSON routes under /api/v1/_test, mounted only when env is "test", that
// let the integration tests drive the kernel (writes, events, timers, errors) over real HTTP.
#include <memory>
#include <souk/kernel.hpp>

namespace souk::testkit {

std::unique_ptr<module> make_module(context& ctx);

}  // namespace souk::testkit
