// NumPy .npy files (format versions 1.0, 2.0 and 3.0; little-endian; C order), the exchange
// format of `flashmoe run --save/--load` with Python and other tools.
//
// Element types: '<f8' ↔ f64, '<f4' ↔ f32, '<f2' → f16, '<i4' ↔ i32, '<i8' ↔ i64, '|u1' ↔ u8,
// and '|b1' (numpy bool) read as u8. bf16 has no NumPy type and fp16 is rarely wanted by
// readers, so both are written upcast to float32, which holds every value exactly.
#pragma once

#include <string>
#include <string_view>

#include "flashmoe/tensor.hpp"

namespace flashmoe::io {

// The complete file contents for `tensor` (header padded so that data starts on a 64-byte
// boundary, as numpy does). Format 1.0 unless the header needs more than 65535 bytes.
std::string encode_npy(const HostTensor& tensor);

// Parses file contents; `source` (a path) names the file in every error message. Checks the
// magic string, version, dtype, fortran_order = False and that the data size matches the shape.
HostTensor decode_npy(std::string_view bytes, std::string_view source);

// File wrappers; errors name the path and the reason (missing, unreadable, malformed, ...).
void write_npy(const std::string& path, const HostTensor& tensor);
HostTensor read_npy(const std::string& path);

}  // namespace flashmoe::io
