#pragma once
// Process-wide allocator settings for the broker.

namespace gregor::base {

// Keeps large request, read and response buffers (up to tens of MiB) in the heap instead of
// mapping and unmapping them per request: with glibc defaults every 1 MiB Fetch or Produce buffer
// is a fresh mmap, and the page faults and page clearing cost more than the copy itself. The freed
// memory stays reusable in the process, bounded by the request memory pool and fetch sizes.
// Called once at start-up by `gregor serve`, before any thread starts.
void tune_allocator_for_broker();

}  // namespace gregor::base
