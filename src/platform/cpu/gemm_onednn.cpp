// f32/bf16 GEMM through oneDNN matmul. Three properties matter to the engine:
//  - one thread per call: Debian's libdnnl uses OpenMP, and each engine worker calling into
//    it would otherwise fork a full OpenMP team (oversubscription); the calling thread's
//    OpenMP ICV is set to 1 so oneDNN runs the primitive inline on that thread.
//  - determinism: with one thread the kernel and its k-order are fixed by the primitive, and
//    the primitive is fixed by the shapes, so equal operands give equal bits.
//  - low per-call cost: creating a primitive JIT-compiles code (~ms), so primitives are cached
//    per thread (no locks) together with their memory objects, keyed by everything that
//    shapes them.
#include <omp.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <unordered_map>

#include "dnnl.hpp"
#include "flashmoe/error.hpp"
#include "flashmoe/half.hpp"
#include "platform/cpu/gemm_detail.hpp"
#include "platform/cpu/gemm_paths.hpp"
#include "platform/cpu/gemm_staging.hpp"
#include "platform/cpu/onednn_shared.hpp"

namespace flashmoe::cpu::detail {
namespace {

using dnnl::memory;

struct PrimitiveKey {
  std::int64_t m, n, k, lda, ldb, ldc;
  ElementType in_type, c_type;
  bool trans_a, trans_b, accumulate, has_bias;
  int activation;  // −1 when none

  bool operator==(const PrimitiveKey&) const = default;
};

struct PrimitiveKeyHash {
  std::size_t operator()(const PrimitiveKey& key) const {
    std::size_t h = 0;
    const auto mix = [&h](std::int64_t v) {
      h ^= std::hash<std::int64_t>{}(v) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    };
    for (std::int64_t v : {key.m, key.n, key.k, key.lda, key.ldb, key.ldc}) mix(v);
    mix(static_cast<std::int64_t>(key.in_type) | static_cast<std::int64_t>(key.c_type) << 8 |
        std::int64_t{key.trans_a} << 16 | std::int64_t{key.trans_b} << 17 |
        std::int64_t{key.accumulate} << 18 | std::int64_t{key.has_bias} << 19 |
        static_cast<std::int64_t>(key.activation + 1) << 20);
    return h;
  }
};

// A ready-to-run primitive and the memory objects bound to its arguments; only the data
// handles change from call to call.
struct CachedMatmul {
  dnnl::matmul primitive;
  memory a, b, c, bias, scratchpad;
  std::size_t scratchpad_bytes = 0;
};

// A working set bigger than this means shapes are not being reused; starting over bounds the
// memory without an LRU's bookkeeping.
constexpr std::size_t kMaxCachedPrimitives = 256;

}  // namespace

const dnnl::engine& onednn_cpu_engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);  // thread-safe initialisation
  return engine;
}

// Serialises every creation of oneDNN objects. oneDNN's own primitive cache is thread-safe, but
// its synchronisation happens inside the uninstrumented library, where ThreadSanitizer cannot
// see it and reports races between workers that create primitives at the same moment. One
// lock around creation makes the ordering explicit (creation then happens-before any other
// thread's use of the same cached primitive) and costs nothing in steady state: each thread
// creates a primitive once per shape and then reuses it from its own cache.
std::mutex& onednn_creation_mutex() {
  static std::mutex mutex;
  return mutex;
}

dnnl::stream make_onednn_stream() {
  const std::lock_guard lock(onednn_creation_mutex());
  return dnnl::stream(onednn_cpu_engine());
}

namespace {

memory::data_type onednn_type(ElementType t) {
  switch (t) {
    case ElementType::f32:
      return memory::data_type::f32;
    case ElementType::bf16:
      return memory::data_type::bf16;
    default:
      FLASHMOE_FAIL("gemm: element type ", to_string(t), " has no oneDNN matmul path");
  }
}

void append_activation(dnnl::post_ops& ops, Activation act) {
  switch (act) {
    case Activation::relu:
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
      return;
    case Activation::gelu:
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_erf, 0.0f, 0.0f);
      return;
    case Activation::gelu_tanh:
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_tanh, 0.0f, 0.0f);
      return;
    case Activation::silu:
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_swish, 1.0f, 0.0f);
      return;
    case Activation::identity:
      return;
    case Activation::swiglu:
    case Activation::geglu:
      break;
  }
  FLASHMOE_FAIL("gemm: activation = ", to_string(act), " is not a plain activation");
}

CachedMatmul create_matmul(const GemmArgs& g) {
  const std::lock_guard lock(onednn_creation_mutex());
  const dnnl::engine& engine = onednn_cpu_engine();
  const memory::data_type in = onednn_type(g.a_type), out = onednn_type(g.c_type);
  // op(A) is [m, k] and op(B) is [k, n] in oneDNN's logical dims; a transpose is a stride swap.
  const memory::desc a_md({g.m, g.k}, in,
                          g.trans_a ? memory::dims{1, g.lda} : memory::dims{g.lda, 1});
  const memory::desc b_md({g.k, g.n}, in,
                          g.trans_b ? memory::dims{1, g.ldb} : memory::dims{g.ldb, 1});
  const memory::desc c_md({g.m, g.n}, out, memory::dims{g.ldc, 1});
  const memory::desc bias_md =
      g.bias != nullptr ? memory::desc({1, g.n}, memory::data_type::f32, memory::dims{g.n, 1})
                        : memory::desc();

  // matmul's bias joins the product before the post-ops, so the chain computes
  // act((op(A)·op(B) + bias) + C): GemmArgs' C + product, + bias, act, with the two additions
  // associated the other way round (within one fp32 rounding of each other). A binary-add
  // post-op would keep the literal order but sends oneDNN 2.6 to its reference kernel.
  dnnl::post_ops ops;
  if (g.accumulate) ops.append_sum(1.0f);
  if (g.activation) append_activation(ops, *g.activation);
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);  // per-thread buffer, below

  const dnnl::matmul::desc desc(a_md, b_md, bias_md, c_md);
  dnnl::matmul::primitive_desc pd;
  try {
    pd = dnnl::matmul::primitive_desc(desc, attr, engine);
  } catch (const dnnl::error& e) {
    FLASHMOE_FAIL("gemm: oneDNN has no matmul for m = ", g.m, ", n = ", g.n, ", k = ", g.k,
                  ", a_type = ", to_string(g.a_type), ", c_type = ", to_string(g.c_type),
                  ", trans_a = ", g.trans_a, ", trans_b = ", g.trans_b, ", lda = ", g.lda,
                  ", ldb = ", g.ldb, ", ldc = ", g.ldc, ", accumulate = ", g.accumulate,
                  ", bias = ", g.bias != nullptr, ": ", e.what());
  }
  CachedMatmul entry{dnnl::matmul(pd),
                     memory(a_md, engine, nullptr),
                     memory(b_md, engine, nullptr),
                     memory(c_md, engine, nullptr),
                     memory(bias_md, engine, nullptr),
                     memory(pd.scratchpad_desc(), engine, nullptr),
                     pd.scratchpad_desc().get_size()};
  return entry;
}


struct ThreadState {
  std::unordered_map<PrimitiveKey, CachedMatmul, PrimitiveKeyHash> cache;
  AlignedBuffer scratchpad, a_stage, b_stage, c_stage;
  dnnl::stream stream = make_onednn_stream();

  // Releasing oneDNN objects touches the library's shared state too (see creation_mutex).
  void release_primitives() {
    const std::lock_guard lock(onednn_creation_mutex());
    cache.clear();
  }
  ~ThreadState() {
    release_primitives();
    const std::lock_guard lock(onednn_creation_mutex());
    stream = dnnl::stream();
  }
  ThreadState() = default;
  ThreadState(const ThreadState&) = delete;
  ThreadState& operator=(const ThreadState&) = delete;
};

ThreadState& thread_state() {
  thread_local ThreadState state;
  return state;
}

// Executes g exactly as described (strides and types as given).
void execute(ThreadState& state, const GemmArgs& g) {
  const PrimitiveKey key{g.m,
                         g.n,
                         g.k,
                         g.lda,
                         g.ldb,
                         g.ldc,
                         g.a_type,
                         g.c_type,
                         g.trans_a,
                         g.trans_b,
                         g.accumulate,
                         g.bias != nullptr,
                         g.activation ? static_cast<int>(*g.activation) : -1};
  auto it = state.cache.find(key);
  if (it == state.cache.end()) {
    if (state.cache.size() >= kMaxCachedPrimitives) state.release_primitives();
    it = state.cache.emplace(key, create_matmul(g)).first;
  }
  CachedMatmul& mm = it->second;

  // oneDNN's handles are non-const void*; it only reads A, B and bias.
  mm.a.set_data_handle(const_cast<void*>(g.a));
  mm.b.set_data_handle(const_cast<void*>(g.b));
  mm.c.set_data_handle(g.c);
  std::unordered_map<int, memory> exec_args{
      {DNNL_ARG_SRC, mm.a}, {DNNL_ARG_WEIGHTS, mm.b}, {DNNL_ARG_DST, mm.c}};
  if (g.bias != nullptr) {
    mm.bias.set_data_handle(const_cast<void*>(g.bias));
    exec_args.emplace(DNNL_ARG_BIAS, mm.bias);
  }
  if (mm.scratchpad_bytes > 0) {
    mm.scratchpad.set_data_handle(state.scratchpad.get(mm.scratchpad_bytes));
    exec_args.emplace(DNNL_ARG_SCRATCHPAD, mm.scratchpad);
  }
  mm.primitive.execute(state.stream, exec_args);
  state.stream.wait();
}

}  // namespace

// oneDNN 2.6 picks its fast brgemm kernels only for dense operands (leading dimension equal
// to the row length) and falls back to slower gemm-based kernels otherwise — several times
// slower for the engine's 32×64 tiles. Strided operands are therefore copied into dense
// per-thread buffers first: O(m·k + k·n + m·n) copies against O(m·n·k) arithmetic. The same
// staging widens bf16 operands to fp32 where the process's bf16 route says so (gemm_paths.hpp),
// and provides f32 × f32 → bf16, which oneDNN 2.6 lacks: the product and epilogue go to an
// fp32 tile (holding C when accumulating) that is rounded to bf16 on the way out — the same
// arithmetic as a native bf16 destination, whose epilogue also runs in fp32.
void gemm_onednn(const GemmArgs& g, GemmRoute bf16_route) {
  // Cheap (sets this thread's OpenMP ICV) and done every call, so a caller that raised its
  // thread count in between cannot make a later gemm() fan out.
  omp_set_num_threads(1);
  ThreadState& state = thread_state();
  const bool widen = g.a_type == ElementType::bf16 && bf16_route == GemmRoute::onednn_widened;
  const std::size_t in_size = element_size(g.a_type);

  GemmArgs dense = g;
  const std::int64_t a_rows = g.trans_a ? g.k : g.m, a_cols = g.trans_a ? g.m : g.k;
  const std::int64_t b_rows = g.trans_b ? g.n : g.k, b_cols = g.trans_b ? g.k : g.n;
  if (widen) {
    dense.a = widened_copy(state.a_stage, g.a, a_rows, a_cols, g.lda);
    dense.b = widened_copy(state.b_stage, g.b, b_rows, b_cols, g.ldb);
    dense.a_type = dense.b_type = ElementType::f32;
    dense.lda = a_cols;
    dense.ldb = b_cols;
  } else {
    if (g.lda != a_cols) {
      dense.a = dense_copy(state.a_stage, g.a, a_rows, a_cols, g.lda, in_size);
      dense.lda = a_cols;
    }
    if (g.ldb != b_cols) {
      dense.b = dense_copy(state.b_stage, g.b, b_rows, b_cols, g.ldb, in_size);
      dense.ldb = b_cols;
    }
  }

  const bool round_to_bf16 = dense.a_type == ElementType::f32 && g.c_type == ElementType::bf16;
  if (!round_to_bf16 && g.ldc == g.n) {
    execute(state, dense);
    return;
  }
  const ElementType staged_type = round_to_bf16 ? ElementType::f32 : g.c_type;
  const std::size_t staged_size = element_size(staged_type);
  void* staged = state.c_stage.get(static_cast<std::size_t>(g.m * g.n) * staged_size);
  if (g.accumulate) {
    if (round_to_bf16) {
      widen_rows(static_cast<float*>(staged), g.n, g.c, g.ldc, g.m, g.n);
    } else {
      copy_rows(staged, g.n, g.c, g.ldc, g.m, g.n, staged_size);
    }
  }
  dense.c = staged;
  dense.c_type = staged_type;
  dense.ldc = g.n;
  execute(state, dense);
  if (round_to_bf16) {
    round_rows(g.c, g.ldc, static_cast<const float*>(staged), g.n, g.m, g.n);
  } else {
    copy_rows(g.c, g.ldc, staged, g.n, g.m, g.n, staged_size);
  }
}

}  // namespace flashmoe::cpu::detail
