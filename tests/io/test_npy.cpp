// .npy encoding and decoding: round trips of every element type, the exact upcast of half
// types, header variants numpy writes, and the refusal of malformed files.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "flashmoe/error.hpp"
#include "io/npy.hpp"
#include "support/tensor_compare.hpp"
#include "temp_dir.hpp"

namespace flashmoe::io {
namespace {

using test::bitwise_equal;

HostTensor sample(ElementType type, Shape shape) {
  HostTensor t(type, std::move(shape));
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    const bool floating = type == ElementType::f64 || type == ElementType::f32 ||
                          type == ElementType::bf16 || type == ElementType::f16;
    t.set(i, floating ? 0.375 * static_cast<double>(i) - 2.5 : static_cast<double>((i * 37) % 251));
  }
  return t;
}

// A file with a hand-written header, for the variants and the malformed cases.
std::string raw_npy(const std::string& dict, const std::string& data, int major = 1) {
  std::string header = dict;
  const std::size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  const std::size_t width = major == 1 ? 2 : 4;
  for (std::size_t i = 0; i < width; ++i)
    out += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string error_of(const std::string& bytes) {
  try {
    decode_npy(bytes, "t.npy");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Npy, RoundTripsEveryStoredType) {
  for (ElementType type :
       {ElementType::f64, ElementType::f32, ElementType::i32, ElementType::i64, ElementType::u8}) {
    const HostTensor t = sample(type, {3, 5, 2});
    EXPECT_TRUE(bitwise_equal(decode_npy(encode_npy(t), "t.npy"), t)) << to_string(type);
  }
}

TEST(Npy, DataStartsOn64ByteBoundary) {
  const HostTensor t = sample(ElementType::f32, {7, 3});
  const std::string bytes = encode_npy(t);
  EXPECT_EQ((bytes.size() - t.nbytes()) % 64, 0u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_NE(bytes.find("'descr': '<f4', 'fortran_order': False, 'shape': (7, 3), }"),
            std::string::npos);
}

TEST(Npy, HalfTypesAreWrittenAsExactFloat32) {
  for (ElementType type : {ElementType::bf16, ElementType::f16}) {
    const HostTensor t = sample(type, {4, 6});
    const HostTensor back = decode_npy(encode_npy(t), "t.npy");
    ASSERT_EQ(back.type(), ElementType::f32);
    ASSERT_EQ(back.shape(), t.shape());
    for (std::int64_t i = 0; i < t.numel(); ++i) EXPECT_EQ(back.get(i), t.get(i)) << i;
    EXPECT_TRUE(bitwise_equal(back.to(type), t));
  }
}

TEST(Npy, ShapesWithZerosAndNoDimensions) {
  const HostTensor empty = sample(ElementType::f32, {0, 5});
  EXPECT_TRUE(bitwise_equal(decode_npy(encode_npy(empty), "t.npy"), empty));
  const HostTensor vector = sample(ElementType::f64, {2});
  EXPECT_NE(encode_npy(vector).find("'shape': (2,)"), std::string::npos);
  const HostTensor scalar = sample(ElementType::i64, {});
  const HostTensor back = decode_npy(encode_npy(scalar), "t.npy");
  EXPECT_TRUE(back.shape().empty());
  EXPECT_EQ(back.numel(), 1);
}

TEST(Npy, ReadsFloat16BoolVersion2AndAnyKeyOrder) {
  const std::uint16_t halves[2] = {0x3c00, 0xc000};  // 1.0, -2.0
  const HostTensor h =
      decode_npy(raw_npy("{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }",
                         std::string(reinterpret_cast<const char*>(halves), 4)),
                 "t.npy");
  ASSERT_EQ(h.type(), ElementType::f16);
  EXPECT_EQ(h.get(0), 1.0);
  EXPECT_EQ(h.get(1), -2.0);

  const HostTensor b =
      decode_npy(raw_npy("{\"shape\": (3,), \"fortran_order\": False, \"descr\": \"|b1\"}",
                         std::string("\1\0\1", 3), 2),
                 "t.npy");
  ASSERT_EQ(b.type(), ElementType::u8);
  EXPECT_EQ(b.get(0), 1.0);
  EXPECT_EQ(b.get(1), 0.0);
}

TEST(Npy, RefusesMalformedFiles) {
  const std::string four_floats(16, '\0');
  const std::string good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
  EXPECT_NE(error_of("PK\3\4 not numpy").find("magic"), std::string::npos);
  std::string future = raw_npy(good, four_floats);
  future[6] = '\x05';
  EXPECT_NE(error_of(future).find("version 5.0"), std::string::npos);
  EXPECT_NE(
      error_of(raw_npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", four_floats))
          .find("fortran_order is True"),
      std::string::npos);
  EXPECT_NE(error_of(raw_npy(good, four_floats.substr(0, 12))).find("truncated data"),
            std::string::npos);
  EXPECT_NE(error_of(raw_npy(good, four_floats + "xx")).find("trailing data"), std::string::npos);
  EXPECT_NE(
      error_of(raw_npy("{'descr': '<c8', 'fortran_order': False, 'shape': (2, 2), }", four_floats))
          .find("unsupported dtype '<c8'"),
      std::string::npos);
  EXPECT_NE(
      error_of(raw_npy("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }", four_floats))
          .find("unsupported dtype '>f4'"),
      std::string::npos);
  EXPECT_NE(
      error_of(raw_npy("{'descr': '<f4', 'fortran_order': False}", four_floats)).find("no 'shape'"),
      std::string::npos);
  EXPECT_NE(
      error_of(raw_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", four_floats))
          .find("malformed header"),
      std::string::npos);
  EXPECT_NE(error_of(raw_npy(good, four_floats).substr(0, 30)).find("truncated header"),
            std::string::npos);
  // Every message names the file.
  EXPECT_NE(error_of("garbage").find("t.npy"), std::string::npos);
}

TEST(Npy, FilesRoundTripAndErrorsNameThePath) {
  const flashmoe::testing::TempDir dir;
  const std::string path = (dir / "a.npy").string();
  const HostTensor t = sample(ElementType::i32, {4, 4});
  write_npy(path, t);
  EXPECT_TRUE(bitwise_equal(read_npy(path), t));
  const std::string missing = (dir / "missing.npy").string();
  try {
    read_npy(missing);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
  }
}

// The shape a header declares is checked against the bytes there are before the tensor is
// allocated: 2^40 floats (4 TiB) would end in bad_alloc, or the out-of-memory killer.
TEST(Npy, AHugeDeclaredShapeIsRefusedBeforeAllocating) {
  const std::string huge =
      raw_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }",
              std::string(16, '\0'));
  EXPECT_NE(error_of(huge).find("truncated data: shape [1099511627776] of <f4 needs "
                                "4398046511104 bytes, the file has 16"),
            std::string::npos)
      << error_of(huge);
  const flashmoe::testing::TempDir dir;
  const std::string path = (dir / "huge.npy").string();
  std::ofstream(path, std::ios::binary) << huge;
  try {
    read_npy(path);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("truncated data"), std::string::npos) << e.what();
  }
}

TEST(Npy, AHeaderLongerThanTheCapIsRefused) {
  std::string bytes = raw_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
                              std::string(16, '\0'), 2);
  bytes[10] = '\x3b';  // the 4-byte little-endian header length becomes about 2.6·10^9
  bytes[11] = '\x9a';
  EXPECT_NE(error_of(bytes).find("allowed (numpy writes about 128)"), std::string::npos)
      << error_of(bytes);
}

TEST(Npy, ReadingAFileAgreesWithDecodingItsBytes) {
  // read_npy reads prefix, header and data separately, and must give what decode_npy gives
  // for the same bytes: one-byte elements, no data at all, a format 1.0 file of numpy's.
  const flashmoe::testing::TempDir dir;
  const std::string path = (dir / "a.npy").string();
  for (const std::string& bytes :
       {raw_npy("{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }", "abc"),
        raw_npy("{'descr': '|u1', 'fortran_order': False, 'shape': (0,), }", ""),
        encode_npy(sample(ElementType::f64, {3, 5}))}) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    EXPECT_TRUE(bitwise_equal(read_npy(path), decode_npy(bytes, path)));
  }
}

}  // namespace
}  // namespace flashmoe::io
