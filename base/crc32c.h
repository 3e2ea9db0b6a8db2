// CRC-32C (Castagnoli), the checksum of shard headers, vocabularies and (later) TensorBoard
// records, which need exactly this polynomial and its "masked" form.
#ifndef FATHOM_BASE_CRC32C_H_
#define FATHOM_BASE_CRC32C_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace fathom {

uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t size);
inline uint32_t Crc32c(const void* data, size_t size) { return Crc32cExtend(0, data, size); }
inline uint32_t Crc32c(const std::string& s) { return Crc32c(s.data(), s.size()); }
// TensorBoard / TFRecord masking: rotate right by 15 and add a constant.
uint32_t MaskCrc32c(uint32_t crc);

}  // namespace fathom

#endif  // FATHOM_BASE_CRC32C_H_
