#include "io/npy.hpp"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>

#include "common/bounded_file.hpp"
#include "common/short_text.hpp"
#include "flashmoe/error.hpp"

namespace flashmoe::io {
namespace {

// Data is copied byte for byte; a big-endian host would need swaps that nothing here does.
static_assert(std::endian::native == std::endian::little, "npy I/O assumes a little-endian host");

constexpr std::string_view kMagic = "\x93NUMPY";
constexpr std::size_t kAlignment = 64;  // numpy aligns the data start to 64 bytes
// Magic, version and a 4-byte header length (format 2.0 and 3.0; 1.0 has 2 bytes).
constexpr std::size_t kLongPrefixBytes = 12;
// numpy itself refuses headers over 10000 bytes unless told otherwise; the header of any
// tensor numpy or flashmoe writes is about 128 bytes. The cap bounds what is read before the
// shape can be checked against the file's size.
constexpr std::size_t kMaxHeaderBytes = 10000;

[[noreturn]] void fail(std::string_view source, const std::string& what) {
  throw Error(detail::concat("npy file '", source, "': ", what));
}

// NumPy's descr string for an element type as written (bf16/f16 are upcast to float32).
std::string_view write_descr(ElementType type) {
  switch (type) {
    case ElementType::f64:
      return "<f8";
    case ElementType::f32:
    case ElementType::bf16:
    case ElementType::f16:
      return "<f4";
    case ElementType::i32:
      return "<i4";
    case ElementType::i64:
      return "<i8";
    case ElementType::u8:
      return "|u1";
  }
  FLASHMOE_FAIL("invalid element type ", static_cast<int>(type));
}

std::optional<ElementType> parse_descr(std::string_view descr) {
  if (descr == "<f8") return ElementType::f64;
  if (descr == "<f4") return ElementType::f32;
  if (descr == "<f2") return ElementType::f16;
  if (descr == "<i4") return ElementType::i32;
  if (descr == "<i8") return ElementType::i64;
  if (descr == "|u1" || descr == "<u1" || descr == "|b1") return ElementType::u8;
  return std::nullopt;
}

std::string shape_tuple(const Shape& shape) {
  std::ostringstream out;
  out << '(';
  for (std::size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  if (shape.size() == 1) out << ',';  // a 1-tuple needs its comma in Python syntax
  out << ')';
  return out.str();
}

// Enough of a malformed header to recognise it: numpy's headers are about 70 characters.
constexpr std::size_t kQuotedHeaderChars = 100;

// The header is a Python dict literal, e.g. {'descr': '<f4', 'fortran_order': False,
// 'shape': (3, 4), }. This parser accepts exactly the subset numpy writes: string keys, and
// values that are strings, True/False or tuples of non-negative integers, in any key order.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, std::string_view source) : text_(text), source_(source) {}

  struct Fields {
    std::optional<std::string> descr;
    std::optional<bool> fortran_order;
    std::optional<Shape> shape;
  };

  Fields parse() {
    Fields fields;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = string_literal();
      expect(':');
      skip_space();
      if (key == "descr") {
        fields.descr = string_literal();
      } else if (key == "fortran_order") {
        fields.fortran_order = boolean();
      } else if (key == "shape") {
        fields.shape = tuple();
      } else {
        fail(source_, "unexpected key '" + short_text(key) + "' in header");
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      skip_space();
      if (peek() != '}') error("expected ',' or '}'");
    }
    ++pos_;
    skip_space();
    if (pos_ != text_.size()) error("unexpected text after the header dict");
    return fields;
  }

 private:
  [[noreturn]] void error(const std::string& what) const {
    fail(source_, detail::concat("malformed header (", what, " at offset ", pos_,
                                 "): ", short_text(text_, kQuotedHeaderChars)));
  }
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) error(std::string("expected '") + c + "'");
    ++pos_;
  }
  std::string string_literal() {
    skip_space();
    const char quote = peek();
    if (quote != '\'' && quote != '"') error("expected a string");
    const std::size_t end = text_.find(quote, pos_ + 1);
    if (end == std::string_view::npos) error("unterminated string");
    std::string value(text_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end + 1;
    return value;
  }
  bool boolean() {
    if (text_.substr(pos_, 4) == "True") {
      pos_ += 4;
      return true;
    }
    if (text_.substr(pos_, 5) == "False") {
      pos_ += 5;
      return false;
    }
    error("expected True or False");
  }
  Shape tuple() {
    Shape shape;
    expect('(');
    while (true) {
      skip_space();
      if (peek() == ')') break;
      if (!std::isdigit(static_cast<unsigned char>(peek()))) error("expected a dimension");
      std::int64_t value = 0;
      while (std::isdigit(static_cast<unsigned char>(peek()))) {
        const int digit = peek() - '0';
        if (value > (std::numeric_limits<std::int64_t>::max() - digit) / 10)
          error("dimension too large");
        value = value * 10 + digit;
        ++pos_;
      }
      // Python writes long integers of old numpy versions as 3L.
      if (peek() == 'L') ++pos_;
      shape.push_back(value);
      skip_space();
      if (peek() == ',') {
        ++pos_;
      } else if (peek() != ')') {
        error("expected ',' or ')' in shape");
      }
    }
    ++pos_;
    return shape;
  }

  std::string_view text_;
  std::string_view source_;
  std::size_t pos_ = 0;
};

std::uint32_t read_le(std::string_view bytes, std::size_t offset, std::size_t width) {
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < width; ++i)
    value |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[offset + i])) << (8 * i);
  return value;
}

// The parts of a header that type and locate the data.
struct Header {
  ElementType type = ElementType::u8;
  Shape shape;
  std::string descr;
  std::size_t data_offset = 0;  // bytes before the data: prefix and header
  std::size_t data_bytes = 0;   // element size × every dimension
};

// Where the header begins and ends (the data begins), from the prefix alone: magic, version
// and header length, at most kLongPrefixBytes. Refuses a header longer than kMaxHeaderBytes.
struct HeaderSpan {
  std::size_t start = 0;
  std::size_t end = 0;
};
HeaderSpan header_span(std::string_view bytes, std::string_view source) {
  if (bytes.size() < kMagic.size() + 2 || bytes.substr(0, kMagic.size()) != kMagic)
    fail(source, "not a NumPy .npy file (the magic string \\x93NUMPY is missing)");
  const int major = static_cast<unsigned char>(bytes[6]);
  const int minor = static_cast<unsigned char>(bytes[7]);
  if (major < 1 || major > 3 || minor != 0)
    fail(source, detail::concat("unsupported format version ", major, '.', minor,
                                " (supported: 1.0, 2.0, 3.0)"));
  const std::size_t len_width = major == 1 ? 2 : 4;
  const std::size_t header_start = 8 + len_width;
  if (bytes.size() < header_start) fail(source, "truncated header");
  const std::size_t header_len = read_le(bytes, 8, len_width);
  if (header_len > kMaxHeaderBytes)
    fail(source, detail::concat("header of ", header_len, " bytes, more than the ", kMaxHeaderBytes,
                                " allowed (numpy writes about 128)"));
  return {header_start, header_start + header_len};
}

// The header of `bytes`, which must hold at least its prefix and header.
Header parse_header(std::string_view bytes, std::string_view source) {
  const auto [header_start, end] = header_span(bytes, source);
  if (bytes.size() < end)
    fail(source,
         detail::concat("truncated header: it declares ", end - header_start,
                        " bytes, the file has ", bytes.size() - header_start, " after the prefix"));

  const auto fields = HeaderParser(bytes.substr(header_start, end - header_start), source).parse();
  if (!fields.descr) fail(source, "header has no 'descr'");
  if (!fields.fortran_order) fail(source, "header has no 'fortran_order'");
  if (!fields.shape) fail(source, "header has no 'shape'");
  const auto type = parse_descr(*fields.descr);
  if (!type)
    fail(source, "unsupported dtype '" + short_text(*fields.descr) +
                     "' (supported: <f8, <f4, <f2, <i4, <i8, |u1, |b1; little-endian only)");
  if (*fields.fortran_order)
    fail(source,
         "fortran_order is True; only C-order (row-major) arrays are supported "
         "(write np.ascontiguousarray(a))");

  // Guard the byte count against overflow before anything is sized by it.
  Header header{*type, *fields.shape, *fields.descr, end, element_size(*type)};
  for (std::int64_t d : header.shape) {
    const auto dim = static_cast<std::size_t>(d);
    if (dim != 0 && header.data_bytes > std::numeric_limits<std::size_t>::max() / dim)
      fail(source, "shape " + short_text(shape_to_string(header.shape)) + " is too large");
    header.data_bytes *= dim;
  }
  return header;
}

// Refuses data that the shape does not account for exactly (`available` bytes follow the
// header), before anything is allocated.
void check_data_size(const Header& header, std::size_t available, std::string_view source) {
  if (available != header.data_bytes)
    fail(source,
         detail::concat(available < header.data_bytes ? "truncated data" : "trailing data",
                        ": shape ", short_text(shape_to_string(header.shape)), " of ", header.descr,
                        " needs ", header.data_bytes, " bytes, the file has ", available));
}

}  // namespace

std::string encode_npy(const HostTensor& tensor) {
  // Half types widen exactly to float32; everything else is written as stored.
  const bool upcast = tensor.type() == ElementType::bf16 || tensor.type() == ElementType::f16;
  const HostTensor widened = upcast ? tensor.to(ElementType::f32) : HostTensor();
  const HostTensor& data = upcast ? widened : tensor;

  std::string dict =
      detail::concat("{'descr': '", write_descr(tensor.type()),
                     "', 'fortran_order': False, 'shape': ", shape_tuple(tensor.shape()), ", }");
  // Version 1.0 stores the header length in 2 bytes, 2.0 in 4 bytes.
  const bool v2 = dict.size() + 1 + 10 + kAlignment > 65535;
  const std::size_t prefix = kMagic.size() + 2 + (v2 ? 4 : 2);
  const std::size_t unpadded = prefix + dict.size() + 1;  // + terminating '\n'
  const std::size_t padding = (kAlignment - unpadded % kAlignment) % kAlignment;
  const std::size_t header_len = dict.size() + padding + 1;

  std::string out;
  out.reserve(prefix + header_len + data.nbytes());
  out += kMagic;
  out += static_cast<char>(v2 ? 2 : 1);
  out += '\0';
  for (std::size_t i = 0; i < (v2 ? 4u : 2u); ++i)
    out += static_cast<char>((header_len >> (8 * i)) & 0xffu);
  out += dict;
  out.append(padding, ' ');
  out += '\n';
  // An empty tensor may have no storage at all (raw() == nullptr).
  if (data.nbytes() != 0) out.append(static_cast<const char*>(data.raw()), data.nbytes());
  return out;
}

HostTensor decode_npy(std::string_view bytes, std::string_view source) {
  const Header header = parse_header(bytes, source);
  check_data_size(header, bytes.size() - header.data_offset, source);
  HostTensor tensor(header.type, header.shape);
  if (header.data_bytes != 0)
    std::memcpy(tensor.raw(), bytes.data() + header.data_offset, header.data_bytes);
  return tensor;
}

void write_npy(const std::string& path, const HostTensor& tensor) {
  const std::string bytes = encode_npy(tensor);
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) fail(path, detail::concat("cannot open for writing: ", std::strerror(errno)));
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  file.close();
  if (!file) fail(path, "write failed (disk full?)");
}

HostTensor read_npy(const std::string& path) {
  BoundedFile file(path, "npy file");
  // The prefix (magic, version, header length) first, then the header it announces, then the
  // data: the shape is checked against the file's size before the tensor is allocated.
  std::string head(kLongPrefixBytes, '\0');
  head.resize(file.read_some(head.data(), head.size()));
  const std::size_t end = header_span(head, path).end;
  const std::size_t have = head.size();
  if (end > have) {
    head.resize(end);
    head.resize(have + file.read_some(head.data() + have, end - have));
  }
  const Header header = parse_header(head, path);  // after this, head holds the whole header
  const std::size_t data_start = header.data_offset;
  const std::size_t already = head.size() - data_start;  // data bytes read with the prefix
  const std::uint64_t size = std::max<std::uint64_t>(file.size(), head.size());
  check_data_size(header, static_cast<std::size_t>(size - data_start), path);

  HostTensor tensor(header.type, header.shape);
  char* data = static_cast<char*>(tensor.raw());
  if (already != 0) std::memcpy(data, head.data() + data_start, already);
  const std::size_t got = already + file.read_some(data + already, header.data_bytes - already);
  // The size came from stat; a file changed since then is caught here.
  if (got != header.data_bytes)
    fail(path, detail::concat("truncated data: the file shrank to ", data_start + got,
                              " bytes while being read"));
  char extra = 0;
  if (file.read_some(&extra, 1) != 0) fail(path, "trailing data: the file grew while being read");
  return tensor;
}

}  // namespace flashmoe::io
