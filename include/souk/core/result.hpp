#pragma once
// result<T>: a value or a souk::error. Small on purpose: the subset of std::expected we use.
#include <cassert>
#include <souk/core/error.hpp>
#include <type_traits>
#include <utility>
#include <variant>

namespace souk {

template <class T>
class [[nodiscard]] result {
  public:
    // Default: an internal error (Asio's co_spawn needs default-constructible results).
    result() : v_(std::in_place_index<1>, error::internal()) {}
    result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    result(error e) : v_(std::in_place_index<1>, std::move(e)) {}

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & {
        assert(ok());
        return std::get<0>(v_);
    }
    const T& value() const& {
        assert(ok());
        return std::get<0>(v_);
    }
    T&& value() && {
        assert(ok());
        return std::get<0>(std::move(v_));
    }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const souk::error& err() const& {
        assert(!ok());
        return std::get<1>(v_);
    }
    souk::error&& err() && {
        assert(!ok());
        return std::get<1>(std::move(v_));
    }

  private:
    std::variant<T, souk::error> v_;
};

template <>
class [[nodiscard]] result<void> {
  public:
    result() = default;
    result(error e) : e_(std::move(e)), ok_(false) {}
    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const souk::error& err() const& {
        assert(!ok_);
        return e_;
    }
    souk::error&& err() && {
        assert(!ok_);
        return std::move(e_);
    }

  private:
    souk::error e_;
    bool ok_ = true;
};

using status = result<void>;

}  // namespace souk
