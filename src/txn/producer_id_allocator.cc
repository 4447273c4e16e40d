#include "gregor/txn/producer_id_allocator.h"

#include <fmt/format.h>

namespace gregor::txn {

result<producer_id, std::string> producer_id_allocator::next() {
  if (_left == 0) {
    auto b = _source();
    if (!b) return failure{b.error()};
    if (b->first < 0 || b->size <= 0)
      return failure{fmt::format("bad producer id block [{}, +{})", b->first, b->size)};
    _next = b->first;
    _left = b->size;
  }
  --_left;
  return producer_id(_next++);
}

}  // namespace gregor::txn
