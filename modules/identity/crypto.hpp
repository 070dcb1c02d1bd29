#pragma once
// The kernel's crypto helpers, under the names this module has always used.
#include <souk/core/crypto.hpp>

namespace souk::identity {
using namespace souk::crypto;
}  // namespace souk::identity
