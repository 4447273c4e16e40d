#pragma once
// CRC32C (Castagnoli), as Kafka's record batch v2 uses it. Hardware instruction on x86-64.
#include <cstddef>
#include <cstdint>

namespace gregor {
uint32_t crc32c(const void* data, size_t size, uint32_t crc = 0);
}
