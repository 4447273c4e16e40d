#include "gregor/txn/producer_id_allocator.h"

#include <fmt/format.h>

namespace gregor::txn {

std::optional<producer_id> producer_id_allocator::next() {
  if (_left == 0) return std::nullopt;
  --_left;
  return producer_id(_next++);
}

std::string producer_id_allocator::refill(id_block b) {
  if (b.first < 0 || b.size <= 0) return fmt::format("bad producer id block [{}, +{})", b.first, b.size);
  _next = b.first;
  _left = b.size;
  return "";
}

}  // namespace gregor::txn
