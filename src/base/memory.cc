#include "gregor/base/memory.h"

#include <malloc.h>

namespace gregor::base {

void tune_allocator_for_broker() {
#if defined(__GLIBC__)
  // A fixed threshold also switches off glibc's dynamic threshold adjustment.
  mallopt(M_MMAP_THRESHOLD, 64 * 1024 * 1024);
  // Return memory to the kernel only when the top of the heap holds a lot of it.
  mallopt(M_TRIM_THRESHOLD, 128 * 1024 * 1024);
  mallopt(M_TOP_PAD, 4 * 1024 * 1024);
#endif
}

}  // namespace gregor::base
