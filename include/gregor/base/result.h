#pragma once
// result<T, E>: the value of an operation that can fail in an expected, operational way
// (I/O error, corrupt input, not leader). Programmer errors use GREGOR_ASSERT instead.
#include <type_traits>
#include <utility>
#include <variant>

#include "gregor/base/assert.h"

namespace gregor {

template <class E>
struct failure {
  // A constructor rather than aggregate initialisation, so that failure(x) also compiles where
  // parenthesised aggregate initialisation is missing (clang before 16: the fuzz build).
  failure(E e) : error(std::move(e)) {}
  E error;
};
template <class E>
failure(E) -> failure<E>;

template <class T, class E>
class [[nodiscard]] result {
 public:
  result(T value) : _v(std::in_place_index<0>, std::move(value)) {}
  template <class F>
    requires std::is_convertible_v<F, E>
  result(failure<F> f) : _v(std::in_place_index<1>, E(std::move(f.error))) {}

  bool has_value() const { return _v.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & {
    GREGOR_ASSERT(has_value());
    return std::get<0>(_v);
  }
  const T& value() const& {
    GREGOR_ASSERT(has_value());
    return std::get<0>(_v);
  }
  T&& value() && {
    GREGOR_ASSERT(has_value());
    return std::get<0>(std::move(_v));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const E& error() const {
    GREGOR_ASSERT(!has_value());
    return std::get<1>(_v);
  }

 private:
  std::variant<T, E> _v;
};

// result<void, E>
struct ok_t {};
inline constexpr ok_t ok{};

template <class E>
class [[nodiscard]] result<void, E> {
 public:
  result(ok_t) : _failed(false) {}
  template <class F>
    requires std::is_convertible_v<F, E>
  result(failure<F> f) : _failed(true), _error(E(std::move(f.error))) {}
  bool has_value() const { return !_failed; }
  explicit operator bool() const { return !_failed; }
  const E& error() const {
    GREGOR_ASSERT(_failed);
    return _error;
  }

 private:
  bool _failed;
  E _error{};
};

}  // namespace gregor
