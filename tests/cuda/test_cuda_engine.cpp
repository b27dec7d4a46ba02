// The GPU engine (engine/cuda/cuda_layer.hpp) against the fp64 reference with its routing
// replayed (SPEC §4), on a GPU: W = 1, 2, 4 ranks as partitions of the one GPU; fp64, fp32,
// fp32 with tf32 tensor cores, bf16, fp16; gated and plain activations, bias, aux and z losses,
// capacity and dropless; a rank with no tokens; results bitwise equal across runs and across
// grid sizes and roles; passes back to back each equal to a fresh pass; a wait that is never
// satisfied ends in TimeoutError and the next pass still works; a broken invariant ends in an
// Error naming it; passes captured in a CUDA graph replay as new passes, with their device
// staging too. Where no usable GPU is present (CI), every test skips and says why.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../engine/engine_test_support.hpp"
#include "engine/cuda/cuda_layer.hpp"
#include "support/error_message.hpp"
#include "support/results_compare.hpp"

namespace flashmoe::cuda {
namespace {

using engine_test::expect_matches_reference;
using test::expect_bitwise_equal;

class CudaEngine : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string reason = unavailable_reason();
    if (!reason.empty()) GTEST_SKIP() << "no GPU to run the cuda engine on: " << reason;
  }
};

Config gpu_config(DType dtype, Activation activation, std::int64_t experts, std::int64_t top_k) {
  Config c = engine_test::small_config(dtype, activation, experts, top_k);
  c.hidden = 64;  // several 16-element copy vectors per row, a partial 128-column tile
  c.ffn = 80;
  c.max_tokens = 200;
  c.wait_timeout_s = 20.0;
  return c;
}

// Small task tiles, so these shapes span several tasks of every kind.
CudaOptions small_tiles() {
  CudaOptions o;
  o.tiles = {16, 32, 32, 32, 32};
  return o;
}

Problem problem_with(const Config& c, int world, std::uint64_t seed) {
  std::vector<std::int64_t> tokens;
  for (int r = 0; r < world; ++r)
    tokens.push_back(std::vector<std::int64_t>{137, 0, 65, 20}[r % 4]);
  return make_random_problem(c, world, tokens, seed, /*backward=*/true, 0.3, 0.2);
}

TEST_F(CudaEngine, MatchesTheReferenceEveryDtypeWorldAndActivation) {
  for (const int world : {1, 2, 4})
    for (const DType dtype : {DType::fp64, DType::fp32, DType::bf16, DType::fp16})
      for (const Activation activation : {Activation::gelu, Activation::swiglu}) {
        Config c = gpu_config(dtype, activation, 8, 2);
        c.bias = activation == Activation::gelu;
        c.aux_loss = true;
        c.z_loss = true;
        const Problem problem = problem_with(c, world, 7);
        expect_matches_reference(problem, run_on_gpu(problem, small_tiles()),
                                 "W=" + std::to_string(world) + " " +
                                     std::string(to_string(dtype)) + " " +
                                     std::string(to_string(activation)));
      }
}

// Every activation through the fused epilogue of the tensor-core tile (bf16 and fp16; H = 64
// takes the 16-bit tile), plain and gated.
TEST_F(CudaEngine, EveryActivationInTheFusedEpilogueMatchesTheReference) {
  for (const DType dtype : {DType::bf16, DType::fp16})
    for (const Activation activation :
         {Activation::relu, Activation::gelu_tanh, Activation::silu, Activation::identity,
          Activation::geglu}) {
      const Problem problem = problem_with(gpu_config(dtype, activation, 4, 2), 1, 5);
      expect_matches_reference(problem, run_on_gpu(problem, small_tiles()),
                               std::string(to_string(dtype)) + " " +
                                   std::string(to_string(activation)));
    }
}

// allow_tf32: the expert GEMMs of the forward and the backward on tf32 tensor cores
// (tile::Sm80Tf32; H = 64 and P = 80 are multiples of its 4-float vector), within tf32's bound of
// the fp64 reference, and not bitwise the fp32 results (which they would be if the tf32 tiles
// never ran): out for the forward's, dw2 for the backward's MN-major tile.
TEST_F(CudaEngine, Tf32ExpertGemmsMatchTheReferenceAndDifferFromFp32) {
  for (const int world : {1, 2})
    for (const Activation activation : {Activation::gelu, Activation::swiglu}) {
      Config c = gpu_config(DType::fp32, activation, 8, 2);
      const Problem exact = problem_with(c, world, 11);
      c.allow_tf32 = true;
      Problem tf32 = exact;
      tf32.config = c;
      const std::string what = "W=" + std::to_string(world) + " tf32 " +
                               std::string(to_string(activation));
      const Results tf32_results = run_on_gpu(tf32, small_tiles());
      expect_matches_reference(tf32, tf32_results, what);
      const Results fp32_results = run_on_gpu(exact, small_tiles());
      EXPECT_NE(test::relative_l2(tf32_results.ranks[0].out, fp32_results.ranks[0].out), 0.0)
          << what << ": out is bitwise the fp32 one, so the tf32 tile did not run";
      EXPECT_NE(test::relative_l2(tf32_results.ranks[0].dw2, fp32_results.ranks[0].dw2), 0.0)
          << what << ": dw2 is bitwise the fp32 one, so the backward's tf32 tile did not run";
    }
}

TEST_F(CudaEngine, DroplessAndDefaultTilesMatchTheReference) {
  Config c = gpu_config(DType::bf16, Activation::relu, 4, 1);
  c.drop_tokens = false;
  const Problem problem = problem_with(c, 2, 9);
  expect_matches_reference(problem, run_on_gpu(problem, {}), "dropless, default tiles");
}

TEST_F(CudaEngine, BitwiseEqualAcrossRunsGridSizesAndRoles) {
  const Problem problem = problem_with(gpu_config(DType::bf16, Activation::silu, 8, 2), 2, 3);
  const Results first = run_on_gpu(problem, small_tiles());
  expect_bitwise_equal(run_on_gpu(problem, small_tiles()), first, "second run");
  for (const int groups : {1, 3, 16}) {
    CudaOptions o = small_tiles();
    o.processor_groups = groups;
    expect_bitwise_equal(run_on_gpu(problem, o), first, std::to_string(groups) + " groups");
  }
  CudaOptions dedicated = small_tiles();
  dedicated.scheduling = runtime::Scheduling::dedicated;
  dedicated.subscribers = 2;
  expect_bitwise_equal(run_on_gpu(problem, dedicated), first, "dedicated roles");
}

TEST_F(CudaEngine, PassesBackToBackEachEqualToAFreshPass) {
  const Config c = gpu_config(DType::fp32, Activation::gelu, 8, 2);
  const Problem first = problem_with(c, 2, 1);
  Layer layer(first, small_tiles());
  for (int i = 0; i < 6; ++i) {
    const Problem inputs = make_random_problem(
        c, 2, {(i * 37) % 200, i % 3 == 0 ? 0 : (i * 11 + 5) % 200}, 50 + i, true, 0.1, 0.0);
    layer.forward(inputs);
    if (i % 2 == 0) layer.backward(inputs);
    Layer fresh(inputs, small_tiles());
    fresh.forward();
    if (i % 2 == 0) fresh.backward();
    expect_bitwise_equal(layer.results(), fresh.results(), "pass " + std::to_string(i));
  }
}

TEST_F(CudaEngine, AWaitNeverSatisfiedTimesOutAndTheNextPassWorks) {
  Config c = gpu_config(DType::fp32, Activation::relu, 4, 2);
  c.wait_timeout_s = 0.5;
  const Problem problem = make_random_problem(c, 2, {20, 17}, 4, true);
  CudaOptions o = small_tiles();
  o.faults.drop_dispatch_from_rank = 1;
  o.faults.drop_dispatch_in_pass = 1;  // only the first pass: rank 1 stays silent
  Layer layer(problem, o);
  try {
    layer.forward();
    ADD_FAILURE() << "a pass whose dispatch never arrives must time out";
  } catch (const TimeoutError& e) {
    EXPECT_TRUE(test::contains_all(e.what(), {"timed out after 0.5 s", "from rank 1"})) << e.what();
  }
  layer.forward();
  layer.backward();
  expect_matches_reference(problem, layer.results(), "after a timed-out pass");
}

// A broken invariant (the ready queue sized too small, a test hook) traps the kernel after it
// recorded what broke in host memory: the host's Error names it. The CUDA context is lost
// afterwards, so nothing else runs in this process (ctest runs every test in its own).
TEST_F(CudaEngine, ABrokenInvariantTrapsAndTheErrorSaysWhatBroke) {
  Config c = gpu_config(DType::fp32, Activation::relu, 4, 2);
  const Problem problem = make_random_problem(c, 2, {20, 17}, 4, true);
  CudaOptions o = small_tiles();
  o.faults.queue_capacity_limit = 1;
  Layer layer(problem, o);
  try {
    layer.forward();
    ADD_FAILURE() << "a queue too small for the pass must fail it";
  } catch (const TimeoutError& e) {
    ADD_FAILURE() << "a broken invariant is not a timeout: " << e.what();
  } catch (const Error& e) {
    EXPECT_TRUE(test::contains_all(
        e.what(), {"broken invariant trapped the kernel", "task queue overflow (capacity 1)"}))
        << e.what();
  }
}

// A CUDA graph on a stream of the caller's: its runtime errors fail the test with their name.
class CapturedPasses {
 public:
  CapturedPasses() { check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
  ~CapturedPasses() {
    if (exec_ != nullptr) (void)cudaGraphExecDestroy(exec_);
    if (graph_ != nullptr) (void)cudaGraphDestroy(graph_);
    (void)cudaStreamDestroy(stream_);
  }
  cudaStream_t stream() const { return stream_; }
  template <typename Enqueue>
  void capture(Enqueue&& enqueue) {
    check(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
    enqueue();
    check(cudaStreamEndCapture(stream_, &graph_));
    check(cudaGraphInstantiate(&exec_, graph_, 0));
  }
  void replay() { check(cudaGraphLaunch(exec_, stream_)); }

 private:
  static void check(cudaError_t status) {
    ASSERT_EQ(status, cudaSuccess) << cudaGetErrorName(status) << ": " << cudaGetErrorString(status);
  }
  cudaStream_t stream_ = nullptr;
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t exec_ = nullptr;
};

// Each replay of a captured forward + backward is a pass of its own (numbered on the device),
// equal bit for bit to the same passes run eagerly — also after the inputs were staged anew,
// with other token counts, between replays.
TEST_F(CudaEngine, ACapturedForwardAndBackwardReplayAsNewPasses) {
  const Config c = gpu_config(DType::bf16, Activation::swiglu, 8, 2);
  const Problem first = problem_with(c, 2, 1);
  const Problem second = make_random_problem(c, 2, {45, 181}, 9, true, 0.2, 0.1);
  CapturedPasses graph;
  CudaOptions o = small_tiles();
  o.stream = graph.stream();
  Layer layer(first, o);
  EXPECT_EQ(layer.stream(), o.stream);
  layer.forward();  // the device's pass count is ahead of the capture's
  layer.stage(first);
  graph.capture([&] {
    layer.enqueue_forward();
    layer.enqueue_backward();
  });
  for (const Problem* inputs : {&first, &first, &second, &first}) {
    layer.stage(*inputs);
    graph.replay();
    layer.synchronize();
    Layer eager(*inputs, small_tiles());
    eager.forward();
    eager.backward();
    expect_bitwise_equal(layer.results(), eager.results(), "a replay of the captured passes");
  }
}

// A pass of a replayed graph that times out is reported by the next synchronize(), with the
// epoch the device gave it; the replays after it work. With the epoch captured as a kernel
// argument, every replay would be the same pass: all or none would drop their dispatch.
TEST_F(CudaEngine, AReplayThatTimesOutIsReportedAndTheNextReplayWorks) {
  Config c = gpu_config(DType::fp32, Activation::relu, 4, 2);
  c.wait_timeout_s = 0.5;
  const Problem problem = make_random_problem(c, 2, {20, 17}, 4, true);
  CapturedPasses graph;
  CudaOptions o = small_tiles();
  o.stream = graph.stream();
  o.faults.drop_dispatch_from_rank = 1;
  o.faults.drop_dispatch_in_pass = 3;  // the second replay's pass (the eager forward is pass 1)
  Layer layer(problem, o);
  layer.forward();
  layer.stage(problem);
  graph.capture([&] { layer.enqueue_forward(); });
  graph.replay();
  layer.synchronize();
  graph.replay();
  try {
    layer.synchronize();
    ADD_FAILURE() << "pass 3 drops rank 1's dispatch and must time out";
  } catch (const TimeoutError& e) {
    EXPECT_TRUE(test::contains_all(e.what(), {"from rank 1", "signal epoch 3"})) << e.what();
  }
  graph.replay();
  layer.synchronize();
  layer.backward(problem);
  expect_matches_reference(problem, layer.results(), "the replay after a timed-out one");
}

// Device memory of the test's own, freed at scope exit; a CUDA error fails the test by name.
class DeviceCopy {
 public:
  explicit DeviceCopy(const HostTensor& tensor) : bytes_(tensor.nbytes()) {
    if (bytes_ == 0) return;
    check(cudaMalloc(&data_, bytes_));
    check(cudaMemcpy(data_, tensor.raw(), bytes_, cudaMemcpyHostToDevice));
  }
  explicit DeviceCopy(std::size_t bytes) : bytes_(bytes) { check(cudaMalloc(&data_, bytes_)); }
  ~DeviceCopy() { (void)cudaFree(data_); }
  DeviceCopy(const DeviceCopy&) = delete;
  DeviceCopy& operator=(const DeviceCopy&) = delete;
  void* get() const { return data_; }
  std::vector<std::byte> to_host() const {
    std::vector<std::byte> bytes(bytes_);
    check(cudaMemcpy(bytes.data(), data_, bytes_, cudaMemcpyDeviceToHost));
    return bytes;
  }

 private:
  static void check(cudaError_t status) {
    ASSERT_EQ(status, cudaSuccess) << cudaGetErrorName(status) << ": " << cudaGetErrorString(status);
  }
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
};

// A problem's tensors copied to device memory of the test's own, and the DeviceInputs that
// point at them (the Python package's case: the caller's tensors are on the GPU already).
class DeviceProblem {
 public:
  explicit DeviceProblem(const Problem& problem) {
    inputs_.wg = hold(problem.wg);
    inputs_.d_aux = problem.d_aux;
    inputs_.d_z = problem.d_z;
    for (int r = 0; r < problem.world_size; ++r) {
      const RankInputs& in = problem.ranks[static_cast<std::size_t>(r)];
      DeviceRankInputs& d = inputs_.ranks.emplace_back();
      d.tokens = problem.tokens(r);
      d.x = hold(in.x);
      d.w1 = hold(in.w1);
      d.b1 = hold(in.b1);
      d.w2 = hold(in.w2);
      d.b2 = hold(in.b2);
      d.dout = hold(in.dout);
    }
  }
  const DeviceInputs& inputs() const { return inputs_; }

 private:
  const void* hold(const HostTensor& tensor) {
    held_.push_back(std::make_unique<DeviceCopy>(tensor));
    return held_.back()->get();
  }
  std::vector<std::unique_ptr<DeviceCopy>> held_;
  DeviceInputs inputs_;
};

// The Python package's path: the caller's tensors already on the device, read in place
// (stage_device), on the caller's stream, the results copied device to device; the caller's
// stream destroyed before the layer moves to another one. The same bits as host-staged passes.
TEST_F(CudaEngine, DeviceResidentInputsGiveTheBitsOfHostStagedOnes) {
  Config c = gpu_config(DType::bf16, Activation::gelu, 8, 2);
  c.bias = true;
  const Problem problem = problem_with(c, 2, 3);
  Layer staged(problem, small_tiles());
  staged.forward();
  staged.backward();

  const DeviceProblem on_device(problem);
  Layer resident(c, 2, small_tiles());
  EXPECT_THROW(resident.forward(), Error) << "a layer made without a problem has none to run";
  cudaStream_t callers = nullptr;
  ASSERT_EQ(cudaStreamCreate(&callers), cudaSuccess);
  resident.use_stream(callers);
  EXPECT_EQ(resident.stream(), callers);
  resident.stage_device(on_device.inputs());
  resident.enqueue_forward();
  resident.synchronize(ResultCopies::counts_and_losses);
  for (int r = 0; r < 2; ++r) {
    const RankOutputs& want = staged.results().ranks[static_cast<std::size_t>(r)];
    const RankOutputs& got = resident.results().ranks[static_cast<std::size_t>(r)];
    EXPECT_EQ(got.routing.routed, want.routing.routed) << "rank " << r;
    EXPECT_EQ(got.aux_loss, want.aux_loss) << "rank " << r;
    EXPECT_FALSE(got.out.defined()) << "counts_and_losses copies no tensor";
    const DeviceResult out = resident.result("out", r);
    EXPECT_EQ(out.shape, want.out.shape());
    DeviceCopy copy(out.bytes());
    resident.copy_result("out", r, copy.get());
    ASSERT_EQ(cudaStreamSynchronize(static_cast<cudaStream_t>(resident.stream())), cudaSuccess);
    const std::vector<std::byte> bytes = copy.to_host();
    ASSERT_EQ(bytes.size(), want.out.nbytes());
    EXPECT_EQ(std::memcmp(bytes.data(), want.out.raw(), bytes.size()), 0) << "out of rank " << r;
  }
  ASSERT_EQ(cudaStreamDestroy(callers), cudaSuccess);
  resident.use_stream(legacy_default_stream());
  resident.enqueue_backward();
  resident.synchronize();
  expect_bitwise_equal(resident.results(), staged.results(), "device-resident passes");
}

// stage_device() writes the bindings with a kernel, so a capture records them with the passes:
// the graph of a whole device-resident step (what torch.cuda.graph captures) replays it exactly.
TEST_F(CudaEngine, AGraphCapturedWithItsDeviceStagingReplaysTheStep) {
  const Config c = gpu_config(DType::bf16, Activation::silu, 8, 2);
  const Problem problem = problem_with(c, 2, 4);
  Layer eager(problem, small_tiles());
  eager.forward();
  eager.backward();
  const DeviceProblem on_device(problem);
  CapturedPasses graph;
  CudaOptions o = small_tiles();
  o.stream = graph.stream();
  Layer layer(c, 2, o);
  graph.capture([&] {
    layer.stage_device(on_device.inputs());
    layer.enqueue_forward();
    layer.enqueue_backward();
  });
  for (int replay = 0; replay < 2; ++replay) {
    graph.replay();
    layer.synchronize();
    expect_bitwise_equal(layer.results(), eager.results(), "a replay of the captured step");
  }
}

TEST_F(CudaEngine, RefusesAGridThatCannotBeCoResident) {
  CudaOptions o = small_tiles();
  o.processor_groups = 1 << 20;
  const Problem problem = problem_with(gpu_config(DType::fp32, Activation::relu, 4, 2), 2, 1);
  EXPECT_TRUE(test::contains_all(test::error_message([&] { Layer layer(problem, o); }),
                                 {"co-resident", "blocks per SM"}));
}

TEST_F(CudaEngine, DescribesItsLaunch) {
  const Problem problem = problem_with(gpu_config(DType::bf16, Activation::relu, 4, 2), 2, 1);
  const Layer layer(problem);
  const std::string text = layer.describe();
  EXPECT_TRUE(test::contains_all(text, {"SMs", "2 rank(s)", "registers per thread"})) << text;
}

// Where no GPU is usable, the engine says so at once — the message a user of `--backend cuda`
// sees — instead of failing somewhere inside.
TEST(CudaEngineWithoutGpu, SaysWhyNoGpuIsUsable) {
  const std::string reason = unavailable_reason();
  if (reason.empty()) GTEST_SKIP() << "a GPU is usable here; CudaEngine.* runs the engine";
  const Problem problem = problem_with(gpu_config(DType::fp32, Activation::relu, 4, 2), 1, 1);
  EXPECT_TRUE(test::contains_all(test::error_message([&] { run_on_gpu(problem); }),
                                 {"backend cuda: ", reason}));
}

}  // namespace
}  // namespace flashmoe::cuda
