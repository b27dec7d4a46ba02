// cpu::activate: an elementwise activation through oneDNN's eltwise primitive, one thread per
// call (the calling thread's OpenMP team is pinned to 1, as for gemm) with the primitive cached
// per thread by (activation, element count). oneDNN 2.6's eltwise has one data type for source
// and destination, so the result is formed in an f32 row-dense staging buffer and then rounded
// (bf16) or copied into the strided destination.
#include <omp.h>

#include <cstring>
#include <map>
#include <tuple>
#include <utility>
#include <vector>

#include "dnnl.hpp"
#include "flashmoe/error.hpp"
#include "flashmoe/half.hpp"
#include "platform/cpu/gemm.hpp"
#include "platform/cpu/onednn_shared.hpp"

namespace flashmoe::cpu {
namespace {

using dnnl::memory;

dnnl::algorithm algorithm_of(Activation act, float& alpha) {
  alpha = 0.0f;
  switch (act) {
    case Activation::relu:
      return dnnl::algorithm::eltwise_relu;
    case Activation::gelu:
      return dnnl::algorithm::eltwise_gelu_erf;
    case Activation::gelu_tanh:
      return dnnl::algorithm::eltwise_gelu_tanh;
    case Activation::silu:
      alpha = 1.0f;  // swish(z) = z · σ(alpha z)
      return dnnl::algorithm::eltwise_swish;
    case Activation::identity:
      return dnnl::algorithm::eltwise_linear;  // alpha z + beta, with alpha 1 below
    case Activation::swiglu:                   // the gate's nonlinearity (math::activate): silu
      alpha = 1.0f;
      return dnnl::algorithm::eltwise_swish;
    case Activation::geglu:  // gelu (erf)
      return dnnl::algorithm::eltwise_gelu_erf;
  }
  FLASHMOE_FAIL("activate: unknown activation ", static_cast<int>(act));
}

// Forward: src → dst. Backward: (src, diff_dst) → diff_src, in `primitive`, `src`, `dst` and
// `diff_dst` (dst then plays diff_src).
struct CachedEltwise {
  dnnl::primitive primitive;
  memory src, dst, diff_dst;
};

// (activation, element count, backward) → primitive.
using EltwiseKey = std::tuple<int, std::int64_t, bool>;

struct EltwiseState {
  std::map<EltwiseKey, CachedEltwise> cache;
  std::vector<float> src_stage, dst_stage;
  dnnl::stream stream = detail::make_onednn_stream();

  EltwiseState() = default;
  EltwiseState(const EltwiseState&) = delete;
  EltwiseState& operator=(const EltwiseState&) = delete;
  ~EltwiseState() {
    const std::lock_guard lock(detail::onednn_creation_mutex());
    cache.clear();
    stream = dnnl::stream();
  }
};

CachedEltwise create(Activation act, std::int64_t count, bool backward) {
  const std::lock_guard lock(detail::onednn_creation_mutex());
  const dnnl::engine& engine = detail::onednn_cpu_engine();
  float alpha = 0.0f;
  const dnnl::algorithm algorithm = algorithm_of(act, alpha);
  if (act == Activation::identity) alpha = 1.0f;
  const memory::desc md({count}, memory::data_type::f32, memory::format_tag::a);
  const dnnl::eltwise_forward::primitive_desc forward(
      dnnl::eltwise_forward::desc(
          backward ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference,
          algorithm, md, alpha, 0.0f),
      engine);
  CachedEltwise entry{dnnl::eltwise_forward(forward), memory(md, engine, nullptr),
                      memory(md, engine, nullptr), memory(md, engine, nullptr)};
  if (backward)
    entry.primitive = dnnl::eltwise_backward(dnnl::eltwise_backward::primitive_desc(
        dnnl::eltwise_backward::desc(algorithm, md, md, alpha, 0.0f), engine, forward));
  return entry;
}

thread_local EltwiseState state;

CachedEltwise& primitive_for(Activation act, std::int64_t count, bool backward) {
  const EltwiseKey key{static_cast<int>(act), count, backward};
  auto it = state.cache.find(key);
  if (it == state.cache.end()) it = state.cache.emplace(key, create(act, count, backward)).first;
  return it->second;
}

// A row-dense view of the f32 [rows, cols] matrix `m` (row stride ld): m itself, or a copy.
const float* dense_rows(const float* m, std::int64_t rows, std::int64_t cols, std::int64_t ld,
                        std::vector<float>& stage) {
  if (ld == cols) return m;
  stage.resize(static_cast<std::size_t>(rows * cols));
  for (std::int64_t i = 0; i < rows; ++i)
    std::memcpy(stage.data() + i * cols, m + i * ld,
                static_cast<std::size_t>(cols) * sizeof(float));
  return stage.data();
}

// The dense f32 result `out` into dst (row stride dst_ld), rounded when dst is bf16.
void store_rows(const float* out, std::int64_t rows, std::int64_t cols, void* dst,
                ElementType dst_type, std::int64_t dst_ld) {
  for (std::int64_t i = 0; i < rows; ++i) {
    const float* row = out + i * cols;
    if (dst_type == ElementType::f32) {
      std::memcpy(static_cast<float*>(dst) + i * dst_ld, row,
                  static_cast<std::size_t>(cols) * sizeof(float));
    } else {
      bfloat16* d = static_cast<bfloat16*>(dst) + i * dst_ld;
      for (std::int64_t j = 0; j < cols; ++j) d[j] = bfloat16::from_float(row[j]);
    }
  }
}

void check_shape(const char* what, std::int64_t rows, std::int64_t cols, std::int64_t src_ld,
                 ElementType dst_type, std::int64_t dst_ld) {
  FLASHMOE_CHECK(rows >= 0 && cols >= 0 && src_ld >= cols && dst_ld >= cols, what,
                 ": need rows, cols ≥ 0 and src_ld, dst_ld ≥ cols; got rows = ", rows,
                 ", cols = ", cols, ", src_ld = ", src_ld, ", dst_ld = ", dst_ld);
  FLASHMOE_CHECK(dst_type == ElementType::f32 || dst_type == ElementType::bf16, what,
                 ": dst_type = ", to_string(dst_type), " (allowed: f32, bf16)");
}

// The eltwise primitive on `count` dense f32 elements: out = act(src) ...
void eltwise_forward(Activation act, std::int64_t count, const float* src, float* out) {
  CachedEltwise& e = primitive_for(act, count, false);
  // oneDNN's handles are non-const; it only reads src.
  e.src.set_data_handle(const_cast<float*>(src));
  e.dst.set_data_handle(out);
  e.primitive.execute(state.stream, {{DNNL_ARG_SRC, e.src}, {DNNL_ARG_DST, e.dst}});
  state.stream.wait();
}

// ... and out = diff_dst · act′(src).
void eltwise_backward(Activation act, std::int64_t count, const float* src, const float* diff_dst,
                      float* out) {
  CachedEltwise& e = primitive_for(act, count, true);
  e.src.set_data_handle(const_cast<float*>(src));
  e.diff_dst.set_data_handle(const_cast<float*>(diff_dst));
  e.dst.set_data_handle(out);
  e.primitive.execute(
      state.stream,
      {{DNNL_ARG_SRC, e.src}, {DNNL_ARG_DIFF_DST, e.diff_dst}, {DNNL_ARG_DIFF_SRC, e.dst}});
  state.stream.wait();
}

// Where a dense f32 [rows, cols] result goes: dst itself when it is dense f32, else the staging
// buffer that store_rows then copies (and rounds) into dst.
float* dense_output(std::int64_t rows, std::int64_t cols, void* dst, ElementType dst_type,
                    std::int64_t dst_ld) {
  if (dst_type == ElementType::f32 && dst_ld == cols) return static_cast<float*>(dst);
  state.dst_stage.resize(static_cast<std::size_t>(rows * cols));
  return state.dst_stage.data();
}

void store_value(void* dst, ElementType type, std::int64_t index, float value) {
  if (type == ElementType::f32)
    static_cast<float*>(dst)[index] = value;
  else
    static_cast<bfloat16*>(dst)[index] = bfloat16::from_float(value);
}

// Staging of the gated kernels, apart from EltwiseState's dst_stage.
thread_local std::vector<float> gate_stage, product_stage;

}  // namespace

void activate(Activation act, std::int64_t rows, std::int64_t cols, const float* src,
              std::int64_t src_ld, void* dst, ElementType dst_type, std::int64_t dst_ld) {
  check_shape("activate", rows, cols, src_ld, dst_type, dst_ld);
  FLASHMOE_CHECK(!is_gated(act), "activate: ", to_string(act), " is gated; use activate_gated");
  if (rows == 0 || cols == 0) return;
  omp_set_num_threads(1);
  float* out = dense_output(rows, cols, dst, dst_type, dst_ld);
  eltwise_forward(act, rows * cols, dense_rows(src, rows, cols, src_ld, state.src_stage), out);
  if (out != dst) store_rows(out, rows, cols, dst, dst_type, dst_ld);
}

void activate_backward(Activation act, std::int64_t rows, std::int64_t cols, const float* src,
                       std::int64_t src_ld, const float* grad, void* dst, ElementType dst_type,
                       std::int64_t dst_ld) {
  check_shape("activate_backward", rows, cols, src_ld, dst_type, dst_ld);
  FLASHMOE_CHECK(!is_gated(act), "activate_backward: ", to_string(act),
                 " is gated; use activate_gated_backward");
  if (rows == 0 || cols == 0) return;
  omp_set_num_threads(1);
  float* out = dense_output(rows, cols, dst, dst_type, dst_ld);
  eltwise_backward(act, rows * cols, dense_rows(src, rows, cols, src_ld, state.src_stage), grad,
                   out);
  if (out != dst) store_rows(out, rows, cols, dst, dst_type, dst_ld);
}

void activate_gated(Activation act, std::int64_t rows, std::int64_t cols, const float* z,
                    std::int64_t ldz, std::int64_t up, void* dst, ElementType dst_type,
                    std::int64_t dst_ld) {
  check_shape("activate_gated", rows, cols, ldz, dst_type, dst_ld);
  FLASHMOE_CHECK(is_gated(act), "activate_gated: ", to_string(act), " is not gated");
  if (rows == 0 || cols == 0) return;
  omp_set_num_threads(1);
  gate_stage.resize(static_cast<std::size_t>(rows * cols));
  eltwise_forward(act, rows * cols, dense_rows(z, rows, cols, ldz, state.src_stage),
                  gate_stage.data());
  for (std::int64_t i = 0; i < rows; ++i) {
    const float* a = gate_stage.data() + i * cols;
    const float* u = z + i * ldz + up;
    for (std::int64_t c = 0; c < cols; ++c) store_value(dst, dst_type, i * dst_ld + c, a[c] * u[c]);
  }
}

void activate_gated_backward(Activation act, std::int64_t rows, std::int64_t cols, const float* z,
                             std::int64_t ldz, std::int64_t up, const float* grad, void* dst,
                             ElementType dst_type, std::int64_t dst_ld) {
  check_shape("activate_gated_backward", rows, cols, ldz, dst_type, dst_ld);
  FLASHMOE_CHECK(is_gated(act), "activate_gated_backward: ", to_string(act), " is not gated");
  if (rows == 0 || cols == 0) return;
  omp_set_num_threads(1);
  const auto count = static_cast<std::size_t>(rows * cols);
  const float* gate = dense_rows(z, rows, cols, ldz, state.src_stage);  // g, once for both
  // du = grad · act(g), into the up columns.
  gate_stage.resize(count);
  eltwise_forward(act, rows * cols, gate, gate_stage.data());
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t c = 0; c < cols; ++c)
      store_value(dst, dst_type, i * dst_ld + up + c,
                  grad[i * cols + c] * gate_stage[static_cast<std::size_t>(i * cols + c)]);
  // dg = (grad · u) · act′(g): the eltwise backward with diff_dst = grad · u, into the gate
  // columns.
  product_stage.resize(count);
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t c = 0; c < cols; ++c)
      product_stage[static_cast<std::size_t>(i * cols + c)] =
          grad[i * cols + c] * z[i * ldz + up + c];
  eltwise_backward(act, rows * cols, gate, product_stage.data(), gate_stage.data());
  store_rows(gate_stage.data(), rows, cols, dst, dst_type, dst_ld);
}

}  // namespace flashmoe::cpu
