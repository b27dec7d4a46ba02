// The unfused cuBLAS pipeline (unfused_pipeline.hpp): the baseline of flashmoe_cuda_bench.
// Matrices are row-major as everywhere in flashmoe; cuBLAS is column-major, so gemm() below
// hands it the transposed problem (Cᵀ = op(B)ᵀ·op(A)ᵀ) with the operands swapped.
#include "bench/cuda/unfused_pipeline.hpp"

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "flashmoe/error.hpp"
#include "math/activation.hpp"
#include "math/capacity.hpp"
#include "math/softmax.hpp"
#include "math/topk.hpp"
#include "platform/cuda/cuda_check.hpp"
#include "platform/cuda/device_memory.hpp"

#define FLASHMOE_CUBLAS_CHECK(call)                                                        \
  do {                                                                                     \
    const cublasStatus_t flashmoe_cublas_status_ = (call);                                 \
    if (flashmoe_cublas_status_ != CUBLAS_STATUS_SUCCESS)                                  \
      throw ::flashmoe::Error(::flashmoe::detail::concat(                                  \
          "cuBLAS: ", #call, " failed at ", __FILE__, ":", __LINE__, ": ",                 \
          cublasGetStatusName(flashmoe_cublas_status_), " (",                              \
          cublasGetStatusString(flashmoe_cublas_status_), ")"));                           \
  } while (false)

namespace flashmoe::bench::cuda {
namespace {

using flashmoe::cuda::DeviceMemory;

constexpr int kMaxExperts = 256;  // the gate kernel's per-thread arrays
constexpr int kThreads = 256;

__device__ inline float to_float(float v) { return v; }
__device__ inline float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ inline float to_float(__half v) { return __half2float(v); }
template <typename T>
__device__ inline T from_float(float v);
template <>
__device__ inline float from_float<float>(float v) {
  return v;
}
template <>
__device__ inline __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}
template <>
__device__ inline __half from_float<__half>(float v) {
  return __float2half_rn(v);
}

template <typename T>
constexpr cudaDataType_t data_type() {
  if constexpr (std::is_same_v<T, float>) return CUDA_R_32F;
  if constexpr (std::is_same_v<T, __nv_bfloat16>) return CUDA_R_16BF;
  return CUDA_R_16F;
}

// A fixed-order block sum (every thread gets it): the tree's shape depends only on kThreads.
__device__ inline float block_sum(float value, float* shared) {
  shared[threadIdx.x] = value;
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) shared[threadIdx.x] += shared[threadIdx.x + stride];
    __syncthreads();
  }
  const float sum = shared[0];
  __syncthreads();
  return sum;
}

// One thread per token: softmax (probs kept for the backward), top-k on the probabilities, the
// weights renormalised over the chosen ones (SPEC §2.1–2.3), as the engine's gate does it.
__global__ void route_tokens(const float* logits, std::int64_t tokens, int experts, int k,
                             bool normalize, float* probs, std::int32_t* topk_index,
                             float* topk_weight) {
  const std::int64_t t = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (t >= tokens) return;
  float* p = probs + t * experts;
  math::softmax_row(logits + t * experts, p, experts);
  // The chosen probabilities go straight to the token's weights and are normalised there (no
  // per-thread array: it would live in local memory).
  float* weight = topk_weight + t * k;
  math::topk_row(p, experts, k, topk_index + t * k, weight);
  if (!normalize) return;
  float sum = 0.0f;
  for (int j = 0; j < k; ++j) sum += weight[j];
  for (int j = 0; j < k; ++j) weight[j] /= sum;
}

// One block per expert: its slots ranked by token order with a block-wide scan over chunks of
// kThreads slots; the first `capacity` keep their place (SPEC §2.5). position[slot] is the row
// in the expert's packet, or −1 (dropped, or another expert's slot: those are left alone).
__global__ void assign_slots(const std::int32_t* topk_index, std::int64_t slots,
                             std::int64_t capacity, std::int32_t* position,
                             std::int32_t* accepted) {
  __shared__ std::int32_t scan[kThreads];
  const int e = blockIdx.x;
  std::int32_t before = 0;  // slots of expert e in earlier chunks
  for (std::int64_t base = 0; base < slots; base += kThreads) {
    const std::int64_t slot = base + threadIdx.x;
    const bool mine = slot < slots && topk_index[slot] == e;
    scan[threadIdx.x] = mine ? 1 : 0;
    __syncthreads();
    for (int stride = 1; stride < kThreads; stride *= 2) {  // inclusive Hillis–Steele scan
      const std::int32_t add = threadIdx.x >= stride ? scan[threadIdx.x - stride] : 0;
      __syncthreads();
      scan[threadIdx.x] += add;
      __syncthreads();
    }
    if (mine) {
      const std::int32_t rank = before + scan[threadIdx.x] - 1;
      position[slot] = rank < capacity ? rank : -1;
    }
    before += scan[kThreads - 1];
    __syncthreads();
  }
  if (threadIdx.x == 0) accepted[e] = before < capacity ? before : static_cast<std::int32_t>(capacity);
}

// One block per slot: a kept slot's token row copied to its packed row (offset[e] + position);
// row_of_slot records it (−1 for a dropped slot).
template <typename T>
__global__ void gather_rows(const T* x, const std::int32_t* topk_index,
                            const std::int32_t* position, const std::int32_t* offset, int k,
                            std::int64_t hidden, T* packed, std::int32_t* row_of_slot) {
  const std::int64_t slot = blockIdx.x;
  const std::int32_t pos = position[slot];
  const std::int32_t row = pos < 0 ? -1 : offset[topk_index[slot]] + pos;
  if (threadIdx.x == 0) row_of_slot[slot] = row;
  if (row < 0) return;
  const T* from = x + (slot / k) * hidden;
  T* to = packed + row * hidden;
  for (std::int64_t h = threadIdx.x; h < hidden; h += blockDim.x) to[h] = from[h];
}

template <typename T>
__global__ void activate_rows(const T* z, std::int64_t count, Activation activation, T* a) {
  const std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (i < count) a[i] = from_float<T>(math::activate(activation, to_float(z[i])));
}

// One block per token: out[t] = Σ_j kept w_j · y[row(t, j)], in increasing j (SPEC §2.7).
template <typename T>
__global__ void combine(const T* y, const std::int32_t* row_of_slot, const float* topk_weight,
                        int k, std::int64_t hidden, T* out) {
  const std::int64_t t = blockIdx.x;
  for (std::int64_t h = threadIdx.x; h < hidden; h += blockDim.x) {
    float sum = 0.0f;
    for (int j = 0; j < k; ++j) {
      const std::int32_t row = row_of_slot[t * k + j];
      if (row >= 0) sum += topk_weight[t * k + j] * to_float(y[row * hidden + h]);
    }
    out[t * hidden + h] = from_float<T>(sum);
  }
}

// One block per slot: dy_row = w · dout[t] into the packed row, and the weight's gradient
// dweight = dout[t] · y_row (0 for a dropped slot).
template <typename T>
__global__ void scatter_output_gradient(const T* dout, const T* y, const std::int32_t* row_of_slot,
                                        const float* topk_weight, int k, std::int64_t hidden,
                                        T* dy_rows, float* dweight) {
  __shared__ float partial[kThreads];
  const std::int64_t slot = blockIdx.x;
  const std::int32_t row = row_of_slot[slot];
  if (row < 0) {
    if (threadIdx.x == 0) dweight[slot] = 0.0f;
    return;
  }
  const T* g = dout + (slot / k) * hidden;
  const float w = topk_weight[slot];
  float dot = 0.0f;
  for (std::int64_t h = threadIdx.x; h < hidden; h += blockDim.x) {
    const float gh = to_float(g[h]);
    dot += gh * to_float(y[row * hidden + h]);
    dy_rows[row * hidden + h] = from_float<T>(w * gh);
  }
  const float sum = block_sum(dot, partial);
  if (threadIdx.x == 0) dweight[slot] = sum;
}

template <typename T>
__global__ void activation_backward(const float* da, const T* z, std::int64_t count,
                                    Activation activation, T* dz) {
  const std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (i < count) dz[i] = from_float<T>(da[i] * math::activate_derivative(activation, to_float(z[i])));
}

// One thread per token: the weights' normalisation and the softmax backward (SPEC §3, with
// d_aux = d_z = 0), dlogits stored in the layer dtype for the two gate GEMMs.
template <typename T>
__global__ void gate_backward(const float* probs, const std::int32_t* topk_index,
                              const float* topk_weight, const float* dweight, std::int64_t tokens,
                              int experts, int k, bool normalize, T* dlogits) {
  const std::int64_t t = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (t >= tokens) return;
  const float* p = probs + t * experts;
  float dp[kMaxExperts];
  for (int e = 0; e < experts; ++e) dp[e] = 0.0f;
  const std::int32_t* chosen = topk_index + t * k;
  const float* dw = dweight + t * k;
  if (normalize) {
    float chosen_sum = 0.0f, weighted = 0.0f;
    for (int j = 0; j < k; ++j) chosen_sum += p[chosen[j]];
    for (int j = 0; j < k; ++j) weighted += dw[j] * topk_weight[t * k + j];
    for (int j = 0; j < k; ++j) dp[chosen[j]] += (dw[j] - weighted) / chosen_sum;
  } else {
    for (int j = 0; j < k; ++j) dp[chosen[j]] += dw[j];
  }
  float expected = 0.0f;
  for (int e = 0; e < experts; ++e) expected += p[e] * dp[e];
  for (int e = 0; e < experts; ++e)
    dlogits[t * experts + e] = from_float<T>(p[e] * (dp[e] - expected));
}

// One block per token: dx[t] = dx_gate[t] + Σ_j kept dx_rows[row(t, j)], in increasing j.
template <typename T>
__global__ void sum_input_gradient(const float* dx_gate, const T* dx_rows,
                                   const std::int32_t* row_of_slot, int k, std::int64_t hidden,
                                   float* dx) {
  const std::int64_t t = blockIdx.x;
  for (std::int64_t h = threadIdx.x; h < hidden; h += blockDim.x) {
    float sum = dx_gate[t * hidden + h];
    for (int j = 0; j < k; ++j) {
      const std::int32_t row = row_of_slot[t * k + j];
      if (row >= 0) sum += to_float(dx_rows[row * hidden + h]);
    }
    dx[t * hidden + h] = sum;
  }
}

template <typename T>
__global__ void widen(const T* from, std::int64_t count, float* to) {
  const std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (i < count) to[i] = to_float(from[i]);
}

unsigned blocks_for(std::int64_t count) {
  return static_cast<unsigned>((count + kThreads - 1) / kThreads);
}

void check_launch(const char* kernel) {
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess)
    throw Error(detail::concat("unfused baseline: launching ", kernel, " failed: ",
                               cudaGetErrorName(status), " (", cudaGetErrorString(status), ")"));
}

struct Cublas {
  cublasHandle_t handle = nullptr;
  Cublas() { FLASHMOE_CUBLAS_CHECK(cublasCreate(&handle)); }
  ~Cublas() {
    if (handle != nullptr) (void)cublasDestroy(handle);
  }
  Cublas(const Cublas&) = delete;
  Cublas& operator=(const Cublas&) = delete;
};

cublasComputeType_t compute_type(const Config& config) {
  return config.dtype == DType::fp32 && config.allow_tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32
                                                          : CUBLAS_COMPUTE_32F;
}

// Row-major C[M, N] (leading dimension ldc) = op(A)·op(B) + beta·C with op(A) M×K and op(B) K×N;
// lda and ldb are the row-major leading dimensions of A and B as stored. A and B share
// ab_type; C is c_type; accumulation in fp32 (or tf32 inputs, per `compute`).
void gemm(cublasHandle_t handle, cublasComputeType_t compute, cudaDataType_t ab_type, bool trans_a,
          bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, const void* A,
          std::int64_t lda, const void* B, std::int64_t ldb, void* C, cudaDataType_t c_type,
          std::int64_t ldc, float beta = 0.0f) {
  if (M == 0 || N == 0) return;
  const float alpha = 1.0f;
  FLASHMOE_CUBLAS_CHECK(cublasGemmEx(
      handle, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
      static_cast<int>(N), static_cast<int>(M), static_cast<int>(K), &alpha, B, ab_type,
      static_cast<int>(ldb), A, ab_type, static_cast<int>(lda), &beta, C, c_type,
      static_cast<int>(ldc), compute, CUBLAS_GEMM_DEFAULT));
}

}  // namespace

struct UnfusedPipeline::Impl {
  virtual ~Impl() = default;
  virtual double forward(std::int64_t tokens) = 0;
  virtual double backward() = 0;
  virtual HostTensor out() const = 0;
  virtual HostTensor dx() const = 0;
  virtual HostTensor dw1() const = 0;
  virtual HostTensor dw2() const = 0;
  virtual std::int64_t kept_slots() const = 0;
  virtual std::string expert_gemms() const = 0;
};

namespace {

template <typename T>
class Pipeline final : public UnfusedPipeline::Impl {
 public:
  Pipeline(const Problem& problem, int device) : c_(problem.config), device_(device) {
    const RankInputs& in = problem.ranks.at(0);
    S_max_ = in.x.dim(0);
    H_ = c_.hidden, P_ = c_.ffn, E_ = c_.experts, k_ = c_.top_k;
    FLASHMOE_CUDA_CHECK(cudaSetDevice(device_));
    FLASHMOE_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    FLASHMOE_CUDA_CHECK(cudaEventCreate(&begin_));
    FLASHMOE_CUDA_CHECK(cudaEventCreate(&end_));
    FLASHMOE_CUBLAS_CHECK(cublasSetStream(blas_.handle, stream_));
    FLASHMOE_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&accepted_host_),
                                       static_cast<std::size_t>(E_) * sizeof(std::int32_t)));
    const std::size_t table_bytes = kSteps * 3 * static_cast<std::size_t>(E_) * sizeof(void*);
    FLASHMOE_CUDA_CHECK(
        cudaMallocHost(reinterpret_cast<void**>(&pointer_table_host_), table_bytes));
    pointer_table_ = DeviceMemory(table_bytes);

    const std::int64_t slots = S_max_ * k_;
    x_ = upload(in.x), wg_ = upload(problem.wg), w1_ = upload(in.w1), w2_ = upload(in.w2);
    if (in.dout.defined()) dout_ = upload(in.dout);
    logits_ = DeviceMemory(bytes<float>(S_max_ * E_));
    probs_ = DeviceMemory(bytes<float>(S_max_ * E_));
    topk_index_ = DeviceMemory(bytes<std::int32_t>(slots));
    topk_weight_ = DeviceMemory(bytes<float>(slots));
    position_ = DeviceMemory(bytes<std::int32_t>(slots));
    row_of_slot_ = DeviceMemory(bytes<std::int32_t>(slots));
    accepted_ = DeviceMemory(bytes<std::int32_t>(E_));
    offset_ = DeviceMemory(bytes<std::int32_t>(E_));
    x_rows_ = DeviceMemory(bytes<T>(slots * H_));
    z_ = DeviceMemory(bytes<T>(slots * P_));
    a_ = DeviceMemory(bytes<T>(slots * P_));
    y_ = DeviceMemory(bytes<T>(slots * H_));
    out_ = DeviceMemory(bytes<T>(S_max_ * H_));
    if (dout_.bytes() > 0) {
      dy_rows_ = DeviceMemory(bytes<T>(slots * H_));
      dweight_ = DeviceMemory(bytes<float>(slots));
      da_ = DeviceMemory(bytes<float>(slots * P_));
      dz_ = DeviceMemory(bytes<T>(slots * P_));
      dx_rows_ = DeviceMemory(bytes<T>(slots * H_));
      dlogits_ = DeviceMemory(bytes<T>(S_max_ * E_));
      dx_gate_ = DeviceMemory(bytes<float>(S_max_ * H_));
      dx_ = DeviceMemory(bytes<float>(S_max_ * H_));
      dwg_ = DeviceMemory(bytes<float>(E_ * H_));
      dw1_ = DeviceMemory(bytes<float>(E_ * P_ * H_));
      dw2_ = DeviceMemory(bytes<float>(E_ * H_ * P_));
    }
    FLASHMOE_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  ~Pipeline() override {
    (void)cudaStreamSynchronize(stream_);
    (void)cudaFreeHost(accepted_host_);
    (void)cudaFreeHost(pointer_table_host_);
    (void)cudaEventDestroy(begin_);
    (void)cudaEventDestroy(end_);
    (void)cudaStreamDestroy(stream_);
  }

  double forward(std::int64_t tokens) override {
    FLASHMOE_CHECK(tokens >= 1 && tokens <= S_max_, "unfused baseline: ", tokens,
                   " tokens; the problem holds 1..", S_max_);
    FLASHMOE_CUDA_CHECK(cudaSetDevice(device_));
    S_ = tokens;
    const std::int64_t slots = S_ * k_;
    const std::int64_t capacity =
        math::expert_capacity(S_, k_, E_, c_.capacity_factor, c_.drop_tokens);
    FLASHMOE_CUDA_CHECK(cudaEventRecord(begin_, stream_));
    gemm(blas_.handle, compute_type(c_), data_type<T>(), false, true, S_, E_, H_, x_.at(0), H_,
         wg_.at(0), H_, logits_.at(0), CUDA_R_32F, E_);
    route_tokens<<<blocks_for(S_), kThreads, 0, stream_>>>(
        logits_.as<float>(), S_, static_cast<int>(E_), static_cast<int>(k_), c_.normalize_weights,
        probs_.as<float>(), topk_index_.as<std::int32_t>(), topk_weight_.as<float>());
    check_launch("route_tokens");
    assign_slots<<<static_cast<unsigned>(E_), kThreads, 0, stream_>>>(
        topk_index_.as<std::int32_t>(), slots, capacity, position_.as<std::int32_t>(),
        accepted_.as<std::int32_t>());
    check_launch("assign_slots");
    // The host needs the counts to size each expert's GEMMs: the one synchronisation an unfused
    // pipeline cannot avoid.
    FLASHMOE_CUDA_CHECK(cudaMemcpyAsync(accepted_host_, accepted_.at(0),
                                        bytes<std::int32_t>(E_), cudaMemcpyDeviceToHost, stream_));
    FLASHMOE_CUDA_CHECK(cudaStreamSynchronize(stream_));
    offsets_.assign(static_cast<std::size_t>(E_) + 1, 0);
    for (std::int64_t e = 0; e < E_; ++e)
      offsets_[static_cast<std::size_t>(e) + 1] =
          offsets_[static_cast<std::size_t>(e)] + accepted_host_[e];
    FLASHMOE_CUDA_CHECK(cudaMemcpyAsync(offset_.at(0), offsets_.data(), bytes<std::int32_t>(E_),
                                        cudaMemcpyHostToDevice, stream_));
    gather_rows<T><<<static_cast<unsigned>(slots), kThreads, 0, stream_>>>(
        x_.as<T>(), topk_index_.as<std::int32_t>(), position_.as<std::int32_t>(),
        offset_.as<std::int32_t>(), static_cast<int>(k_), H_, x_rows_.as<T>(),
        row_of_slot_.as<std::int32_t>());
    check_launch("gather_rows");
    const std::int64_t rows = offsets_.back();
    expert_step(Step::up, false, true, H_, H_, data_type<T>(), P_, [&](auto e, auto off, auto n) {
      return ExpertGemm{
          n, P_, H_, x_rows_.as<T>() + off * H_, w1_.as<T>() + e * P_ * H_, z_.as<T>() + off * P_};
    });
    activate_rows<T><<<blocks_for(rows * P_), kThreads, 0, stream_>>>(z_.as<T>(), rows * P_,
                                                                      c_.activation, a_.as<T>());
    check_launch("activate_rows");
    expert_step(Step::down, false, true, P_, P_, data_type<T>(), H_, [&](auto e, auto off, auto n) {
      return ExpertGemm{
          n, H_, P_, a_.as<T>() + off * P_, w2_.as<T>() + e * H_ * P_, y_.as<T>() + off * H_};
    });
    combine<T><<<static_cast<unsigned>(S_), kThreads, 0, stream_>>>(
        y_.as<T>(), row_of_slot_.as<std::int32_t>(), topk_weight_.as<float>(),
        static_cast<int>(k_), H_, out_.as<T>());
    check_launch("combine");
    return finish();
  }

  double backward() override {
    FLASHMOE_CHECK(S_ > 0, "unfused baseline: a backward needs a forward before it");
    FLASHMOE_CHECK(dout_.bytes() > 0, "unfused baseline: the problem has no dout (backward off)");
    FLASHMOE_CUDA_CHECK(cudaSetDevice(device_));
    const std::int64_t slots = S_ * k_;
    const cublasComputeType_t compute = compute_type(c_);
    const cudaDataType_t type = data_type<T>();
    FLASHMOE_CUDA_CHECK(cudaEventRecord(begin_, stream_));
    // Experts that received no row get no GEMM: their weight gradients are zero.
    FLASHMOE_CUDA_CHECK(cudaMemsetAsync(dw1_.at(0), 0, dw1_.bytes(), stream_));
    FLASHMOE_CUDA_CHECK(cudaMemsetAsync(dw2_.at(0), 0, dw2_.bytes(), stream_));
    scatter_output_gradient<T><<<static_cast<unsigned>(slots), kThreads, 0, stream_>>>(
        dout_.as<T>(), y_.as<T>(), row_of_slot_.as<std::int32_t>(), topk_weight_.as<float>(),
        static_cast<int>(k_), H_, dy_rows_.as<T>(), dweight_.as<float>());
    check_launch("scatter_output_gradient");
    // da = dy·W2 [n, P];  dW2 = dyᵀ·a [H, P]
    expert_step(Step::grad_hidden, false, false, H_, P_, CUDA_R_32F, P_,
                [&](auto e, auto off, auto n) {
                  return ExpertGemm{n,
                                    P_,
                                    H_,
                                    dy_rows_.as<T>() + off * H_,
                                    w2_.as<T>() + e * H_ * P_,
                                    da_.as<float>() + off * P_};
                });
    expert_step(Step::weight_grad_down, true, false, H_, P_, CUDA_R_32F, P_,
                [&](auto e, auto off, auto n) {
                  return ExpertGemm{H_,
                                    P_,
                                    n,
                                    dy_rows_.as<T>() + off * H_,
                                    a_.as<T>() + off * P_,
                                    dw2_.as<float>() + e * H_ * P_};
                });
    const std::int64_t rows = offsets_.back();
    activation_backward<T><<<blocks_for(rows * P_), kThreads, 0, stream_>>>(
        da_.as<float>(), z_.as<T>(), rows * P_, c_.activation, dz_.as<T>());
    check_launch("activation_backward");
    // dx_rows = dz·W1 [n, H];  dW1 = dzᵀ·x_rows [P, H]
    expert_step(Step::grad_input, false, false, P_, H_, type, H_, [&](auto e, auto off, auto n) {
      return ExpertGemm{n,
                        H_,
                        P_,
                        dz_.as<T>() + off * P_,
                        w1_.as<T>() + e * P_ * H_,
                        dx_rows_.as<T>() + off * H_};
    });
    expert_step(Step::weight_grad_up, true, false, P_, H_, CUDA_R_32F, H_,
                [&](auto e, auto off, auto n) {
                  return ExpertGemm{P_,
                                    H_,
                                    n,
                                    dz_.as<T>() + off * P_,
                                    x_rows_.as<T>() + off * H_,
                                    dw1_.as<float>() + e * P_ * H_};
                });
    gate_backward<T><<<blocks_for(S_), kThreads, 0, stream_>>>(
        probs_.as<float>(), topk_index_.as<std::int32_t>(), topk_weight_.as<float>(),
        dweight_.as<float>(), S_, static_cast<int>(E_), static_cast<int>(k_),
        c_.normalize_weights, dlogits_.as<T>());
    check_launch("gate_backward");
    // dx_gate = dlogits·wg [S, H];  dwg = dlogitsᵀ·x [E, H]
    gemm(blas_.handle, compute, type, false, false, S_, H_, E_, dlogits_.at(0), E_, wg_.at(0), H_,
         dx_gate_.at(0), CUDA_R_32F, H_);
    gemm(blas_.handle, compute, type, true, false, E_, H_, S_, dlogits_.at(0), E_, x_.at(0), H_,
         dwg_.at(0), CUDA_R_32F, H_);
    sum_input_gradient<T><<<static_cast<unsigned>(S_), kThreads, 0, stream_>>>(
        dx_gate_.as<float>(), dx_rows_.as<T>(), row_of_slot_.as<std::int32_t>(),
        static_cast<int>(k_), H_, dx_.as<float>());
    check_launch("sum_input_gradient");
    return finish();
  }

  HostTensor out() const override { return download_as_float(out_, {S_, H_}); }
  HostTensor dx() const override { return download_floats(dx_, {S_, H_}); }
  HostTensor dw1() const override { return download_floats(dw1_, {E_, P_, H_}); }
  HostTensor dw2() const override { return download_floats(dw2_, {E_, H_, P_}); }
  std::int64_t kept_slots() const override { return offsets_.empty() ? 0 : offsets_.back(); }
  std::string expert_gemms() const override {
    std::string refused;
    for (int s = 0; s < kSteps; ++s)
      if (refused_[s] != CUBLAS_STATUS_SUCCESS)
        refused += detail::concat(refused.empty() ? "" : ", ", kStepNames[s], " (",
                                  cublasGetStatusName(refused_[s]), ")");
    return refused.empty()
               ? std::string("grouped: one cublasGemmGroupedBatchedEx per step")
               : "grouped, except one cublasGemmEx per expert where cuBLAS refused the grouped "
                 "call: " +
                     refused;
  }

 private:
  template <typename U>
  static std::size_t bytes(std::int64_t count) {
    return static_cast<std::size_t>(count) * sizeof(U);
  }

  DeviceMemory upload(const HostTensor& tensor) {
    DeviceMemory memory(tensor.nbytes());
    FLASHMOE_CUDA_CHECK(cudaMemcpyAsync(memory.at(0), tensor.raw(), tensor.nbytes(),
                                        cudaMemcpyHostToDevice, stream_));
    FLASHMOE_CUDA_CHECK(cudaStreamSynchronize(stream_));  // `tensor` may be pageable memory
    return memory;
  }

  // One step's GEMMs, one per expert that has rows (its packed rows start at `off`, n of them),
  // row-major as gemm() takes them: C[m, n] = op(A)·op(B), with the step's transposes, leading
  // dimensions and output type.
  struct ExpertGemm {
    std::int64_t m, n, k;
    const void* a;
    const void* b;
    void* c;
  };
  enum class Step : int { up, down, grad_hidden, weight_grad_down, grad_input, weight_grad_up };
  static constexpr int kSteps = 6;
  static constexpr const char* kStepNames[kSteps] = {
      "up", "down", "grad_hidden", "weight_grad_down", "grad_input", "weight_grad_up"};

  // Runs a step's per-expert GEMMs as ONE cuBLAS call, cublasGemmGroupedBatchedEx with a group
  // per expert (their row counts differ), as a framework's grouped GEMM does: E launches of
  // small GEMMs can leave the baseline bound by launch overhead, which is no fair comparison.
  // Where cuBLAS refuses the grouped call for the step's types (CUBLAS_STATUS_NOT_SUPPORTED),
  // that step runs one cublasGemmEx per expert from then on, and expert_gemms() says so.
  template <typename F>
  void expert_step(Step step, bool trans_a, bool trans_b, std::int64_t lda, std::int64_t ldb,
                   cudaDataType_t c_type, std::int64_t ldc, F&& gemm_of) {
    std::vector<ExpertGemm> gemms;
    for (std::int64_t e = 0; e < E_; ++e) {
      const std::int64_t off = offsets_[static_cast<std::size_t>(e)];
      const std::int64_t n = offsets_[static_cast<std::size_t>(e) + 1] - off;
      if (n > 0) gemms.push_back(gemm_of(e, off, n));
    }
    if (gemms.empty()) return;
    const cublasComputeType_t compute = compute_type(c_);
    const auto index = static_cast<std::size_t>(step);
    if (refused_[index] == CUBLAS_STATUS_SUCCESS) {
      const cublasStatus_t status =
          grouped_gemm(step, trans_a, trans_b, lda, ldb, c_type, ldc, gemms, compute);
      if (status == CUBLAS_STATUS_SUCCESS) return;
      FLASHMOE_CHECK(status == CUBLAS_STATUS_NOT_SUPPORTED, "cuBLAS: cublasGemmGroupedBatchedEx (",
                     kStepNames[index], ") failed: ", cublasGetStatusName(status), " (",
                     cublasGetStatusString(status), ")");
      refused_[index] = status;
    }
    for (const ExpertGemm& g : gemms)
      gemm(blas_.handle, compute, data_type<T>(), trans_a, trans_b, g.m, g.n, g.k, g.a, lda, g.b,
           ldb, g.c, c_type, ldc);
  }

  // The grouped call (cuBLAS sees the transposed problem, as in gemm()). Its pointer arrays go
  // to the device from the step's slot of a pinned table, which the next pass reuses only after
  // finish() has waited for this one.
  cublasStatus_t grouped_gemm(Step step, bool trans_a, bool trans_b, std::int64_t lda,
                              std::int64_t ldb, cudaDataType_t c_type, std::int64_t ldc,
                              const std::vector<ExpertGemm>& gemms, cublasComputeType_t compute) {
    const auto groups = static_cast<int>(gemms.size());
    const std::size_t slot = static_cast<std::size_t>(step) * 3 * static_cast<std::size_t>(E_);
    void** host = pointer_table_host_ + slot;
    std::vector<int> m(gemms.size()), n(gemms.size()), k(gemms.size());
    for (std::size_t g = 0; g < gemms.size(); ++g) {
      m[g] = static_cast<int>(gemms[g].n);
      n[g] = static_cast<int>(gemms[g].m);
      k[g] = static_cast<int>(gemms[g].k);
      host[g] = const_cast<void*>(gemms[g].b);  // cuBLAS's table type; it only reads A and B
      host[gemms.size() + g] = const_cast<void*>(gemms[g].a);
      host[2 * gemms.size() + g] = gemms[g].c;
    }
    void** device = pointer_table_.as<void*>() + slot;
    FLASHMOE_CUDA_CHECK(cudaMemcpyAsync(device, host, 3 * gemms.size() * sizeof(void*),
                                        cudaMemcpyHostToDevice, stream_));
    const std::vector<cublasOperation_t> op_a(gemms.size(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N);
    const std::vector<cublasOperation_t> op_b(gemms.size(), trans_a ? CUBLAS_OP_T : CUBLAS_OP_N);
    const std::vector<int> ld_a(gemms.size(), static_cast<int>(ldb)),
        ld_b(gemms.size(), static_cast<int>(lda)), ld_c(gemms.size(), static_cast<int>(ldc)),
        sizes(gemms.size(), 1);
    const std::vector<float> alpha(gemms.size(), 1.0f), beta(gemms.size(), 0.0f);
    return cublasGemmGroupedBatchedEx(
        blas_.handle, op_a.data(), op_b.data(), m.data(), n.data(), k.data(), alpha.data(), device,
        data_type<T>(), ld_a.data(), device + gemms.size(), data_type<T>(), ld_b.data(),
        beta.data(), device + 2 * gemms.size(), c_type, ld_c.data(), groups, sizes.data(), compute);
  }

  double finish() {
    FLASHMOE_CUDA_CHECK(cudaEventRecord(end_, stream_));
    FLASHMOE_CUDA_CHECK(cudaStreamSynchronize(stream_));
    float milliseconds = 0.0f;
    FLASHMOE_CUDA_CHECK(cudaEventElapsedTime(&milliseconds, begin_, end_));
    return milliseconds * 1e-3;
  }

  HostTensor download_floats(const DeviceMemory& from, Shape shape) const {
    HostTensor to(ElementType::f32, std::move(shape));
    FLASHMOE_CUDA_CHECK(cudaMemcpy(to.raw(), from.at(0), to.nbytes(), cudaMemcpyDeviceToHost));
    return to;
  }

  HostTensor download_as_float(const DeviceMemory& from, Shape shape) const {
    if constexpr (std::is_same_v<T, float>) {
      return download_floats(from, std::move(shape));
    } else {
      std::int64_t count = 1;
      for (std::int64_t d : shape) count *= d;
      DeviceMemory wide(bytes<float>(count));
      widen<T><<<blocks_for(count), kThreads, 0, stream_>>>(from.as<T>(), count,
                                                            wide.as<float>());
      check_launch("widen");
      FLASHMOE_CUDA_CHECK(cudaStreamSynchronize(stream_));
      return download_floats(wide, std::move(shape));
    }
  }

  Config c_;
  int device_;
  std::int64_t S_max_ = 0, S_ = 0, H_ = 0, P_ = 0, E_ = 0, k_ = 0;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t begin_ = nullptr, end_ = nullptr;
  Cublas blas_;
  std::int32_t* accepted_host_ = nullptr;  // pinned
  // Per step, the grouped call's A, B and C pointer arrays (E each): pinned, and on the device.
  void** pointer_table_host_ = nullptr;
  DeviceMemory pointer_table_;
  cublasStatus_t refused_[kSteps] = {};  // per step: why cuBLAS refused the grouped call, if it did
  std::vector<std::int32_t> offsets_;      // [E + 1] packed-row offsets of the latest forward
  DeviceMemory x_, wg_, w1_, w2_, dout_;
  DeviceMemory logits_, probs_, topk_index_, topk_weight_, position_, row_of_slot_, accepted_,
      offset_;
  DeviceMemory x_rows_, z_, a_, y_, out_;
  DeviceMemory dy_rows_, dweight_, da_, dz_, dx_rows_, dlogits_, dx_gate_, dx_, dwg_, dw1_, dw2_;
};

void check_scope(const Problem& problem) {
  const Config& c = problem.config;
  FLASHMOE_CHECK(problem.world_size == 1 && problem.ranks.size() == 1,
                 "unfused baseline: one rank only (world size ", problem.world_size, ")");
  FLASHMOE_CHECK(c.dtype == DType::bf16 || c.dtype == DType::fp16 || c.dtype == DType::fp32,
                 "unfused baseline: bf16, fp16 or fp32 layers only (", to_string(c.dtype), ")");
  FLASHMOE_CHECK(!c.bias, "unfused baseline: layers without bias only");
  FLASHMOE_CHECK(!is_gated(c.activation), "unfused baseline: non-gated activations only (",
                 to_string(c.activation), ")");
  FLASHMOE_CHECK(c.experts <= kMaxExperts, "unfused baseline: at most ", kMaxExperts,
                 " experts (", c.experts, ")");
  FLASHMOE_CHECK(problem.d_aux == 0.0 && problem.d_z == 0.0,
                 "unfused baseline: d_aux = d_z = 0 only");
  FLASHMOE_CHECK(problem.ranks[0].x.dim(0) * c.top_k <= INT32_MAX / std::max<std::int64_t>(
                                                                       c.hidden, c.ffn),
                 "unfused baseline: too many tokens for 32-bit row offsets");
}

}  // namespace

UnfusedPipeline::UnfusedPipeline(const Problem& problem, int device) {
  check_scope(problem);
  switch (problem.config.dtype) {
    case DType::bf16:
      impl_ = std::make_unique<Pipeline<__nv_bfloat16>>(problem, device);
      return;
    case DType::fp16:
      impl_ = std::make_unique<Pipeline<__half>>(problem, device);
      return;
    default:
      impl_ = std::make_unique<Pipeline<float>>(problem, device);
  }
}
UnfusedPipeline::~UnfusedPipeline() = default;
double UnfusedPipeline::forward(std::int64_t tokens) { return impl_->forward(tokens); }
double UnfusedPipeline::backward() { return impl_->backward(); }
HostTensor UnfusedPipeline::out() const { return impl_->out(); }
HostTensor UnfusedPipeline::dx() const { return impl_->dx(); }
HostTensor UnfusedPipeline::dw1() const { return impl_->dw1(); }
HostTensor UnfusedPipeline::dw2() const { return impl_->dw2(); }
std::int64_t UnfusedPipeline::kept_slots() const { return impl_->kept_slots(); }
std::string UnfusedPipeline::expert_gemms() const {
  return impl_->expert_gemms();
}

double dense_gemm_rate(const Config& config, std::int64_t m, std::int64_t n, std::int64_t k,
                       int repeats, int device) {
  FLASHMOE_CHECK(config.dtype == DType::bf16 || config.dtype == DType::fp16 ||
                     config.dtype == DType::fp32,
                 "dense ceiling: bf16, fp16 or fp32 only (", to_string(config.dtype), ")");
  FLASHMOE_CHECK(repeats >= 1, "dense ceiling: at least one timed call");
  FLASHMOE_CUDA_CHECK(cudaSetDevice(device));
  const std::size_t element = config.dtype == DType::fp32 ? 4 : 2;
  const cudaDataType_t type = config.dtype == DType::bf16   ? CUDA_R_16BF
                              : config.dtype == DType::fp16 ? CUDA_R_16F
                                                            : CUDA_R_32F;
  DeviceMemory a(static_cast<std::size_t>(m * k) * element);
  DeviceMemory b(static_cast<std::size_t>(n * k) * element);
  DeviceMemory c(static_cast<std::size_t>(m * n) * sizeof(float));
  // Values do not change a tensor core's speed much, but NaN/denormal patterns could: zeros are
  // the neutral choice every GEMM benchmark of this kind makes.
  FLASHMOE_CUDA_CHECK(cudaMemset(a.at(0), 0, a.bytes()));
  FLASHMOE_CUDA_CHECK(cudaMemset(b.at(0), 0, b.bytes()));
  Cublas blas;
  cudaEvent_t begin, end;
  FLASHMOE_CUDA_CHECK(cudaEventCreate(&begin));
  FLASHMOE_CUDA_CHECK(cudaEventCreate(&end));
  std::vector<float> seconds;
  for (int i = -1; i < repeats; ++i) {  // i = -1: warm-up (cuBLAS picks and loads its kernel)
    FLASHMOE_CUDA_CHECK(cudaEventRecord(begin));
    gemm(blas.handle, compute_type(config), type, false, true, m, n, k, a.at(0), k, b.at(0), k,
         c.at(0), CUDA_R_32F, n);
    FLASHMOE_CUDA_CHECK(cudaEventRecord(end));
    FLASHMOE_CUDA_CHECK(cudaEventSynchronize(end));
    float milliseconds = 0.0f;
    FLASHMOE_CUDA_CHECK(cudaEventElapsedTime(&milliseconds, begin, end));
    if (i >= 0) seconds.push_back(milliseconds * 1e-3f);
  }
  (void)cudaEventDestroy(begin);
  (void)cudaEventDestroy(end);
  std::sort(seconds.begin(), seconds.end());
  const double median = seconds[seconds.size() / 2];
  return 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) / median;
}

}  // namespace flashmoe::bench::cuda
