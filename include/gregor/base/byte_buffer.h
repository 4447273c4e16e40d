#pragma once
// byte_buffer: a std::vector of bytes whose resize() leaves new bytes uninitialised. For buffers
// that are filled right after they grow (a pread into a Fetch buffer): zero-filling 1 MiB first
// cost more than a tenth of the read path.
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace gregor {

template <class T>
struct default_init_allocator : std::allocator<T> {
  using std::allocator<T>::allocator;
  template <class U>
  struct rebind {
    using other = default_init_allocator<U>;
  };
  // Value-initialisation (the zero fill) becomes default-initialisation (nothing, for bytes).
  template <class U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    std::allocator_traits<std::allocator<T>>::construct(static_cast<std::allocator<T>&>(*this), p,
                                                         std::forward<Args>(args)...);
  }
};

using byte_buffer = std::vector<uint8_t, default_init_allocator<uint8_t>>;

// Bytes read without copying them: a view into a buffer that `owner` keeps alive (a finished
// background read, a tail-cache chunk), for a response that sends them from where they are. The
// viewed bytes never change while the owner lives.
struct shared_bytes {
  std::shared_ptr<const void> owner;
  std::span<const uint8_t> bytes;
};

}  // namespace gregor
