#include "cli/mpi_gather.hpp"

#include <climits>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "flashmoe/error.hpp"
#include "transport/mpi/mpi_check.hpp"

namespace flashmoe::cli {
namespace {

// The tensors of a RankOutputs within `scope`, in one fixed order for packing and unpacking.
std::vector<HostTensor*> tensors_of(RankOutputs& r, GatherScope scope) {
  if (scope == GatherScope::routing_and_losses)
    return {&r.routing.topk_index, &r.routing.topk_weight, &r.routing.kept};
  return {&r.out,
          &r.routing.topk_index,
          &r.routing.topk_weight,
          &r.routing.kept,
          &r.dx,
          &r.dwg,
          &r.dw1,
          &r.db1,
          &r.dw2,
          &r.db2};
}

class Packer {
 public:
  void word(std::int64_t v) { bytes(&v, sizeof(v)); }
  void bytes(const void* data, std::size_t n) {
    const auto* p = static_cast<const std::byte*>(data);
    out.insert(out.end(), p, p + n);
  }
  std::vector<std::byte> out;
};

class Unpacker {
 public:
  explicit Unpacker(const std::vector<std::byte>& in) : in_(in) {}
  std::int64_t word() {
    std::int64_t v = 0;
    bytes(&v, sizeof(v));
    return v;
  }
  void bytes(void* data, std::size_t n) {
    FLASHMOE_CHECK(at_ + n <= in_.size(), "gather_results: truncated message");
    if (n > 0) std::memcpy(data, in_.data() + at_, n);
    at_ += n;
  }

 private:
  const std::vector<std::byte>& in_;
  std::size_t at_ = 0;
};

std::vector<std::byte> pack(RankOutputs& r, GatherScope scope) {
  Packer p;
  for (HostTensor* t : tensors_of(r, scope)) {
    p.word(static_cast<std::int64_t>(t->rank()));
    if (!t->defined()) continue;
    p.word(static_cast<std::int64_t>(t->type()));
    for (std::int64_t d : t->shape()) p.word(d);
    p.bytes(t->raw(), t->nbytes());
  }
  for (const std::vector<std::int64_t>* counts : {&r.routing.routed, &r.routing.accepted}) {
    p.word(static_cast<std::int64_t>(counts->size()));
    p.bytes(counts->data(), counts->size() * sizeof(std::int64_t));
  }
  p.bytes(&r.aux_loss, sizeof(double));
  p.bytes(&r.z_loss, sizeof(double));
  return std::move(p.out);
}

RankOutputs unpack(const std::vector<std::byte>& message, GatherScope scope) {
  RankOutputs r;
  Unpacker u(message);
  for (HostTensor* t : tensors_of(r, scope)) {
    const std::int64_t dims = u.word();
    if (dims == 0) continue;
    const auto type = static_cast<ElementType>(u.word());
    Shape shape;
    for (std::int64_t i = 0; i < dims; ++i) shape.push_back(u.word());
    *t = HostTensor(type, shape);
    u.bytes(t->raw(), t->nbytes());
  }
  for (std::vector<std::int64_t>* counts : {&r.routing.routed, &r.routing.accepted}) {
    counts->resize(static_cast<std::size_t>(u.word()));
    u.bytes(counts->data(), counts->size() * sizeof(std::int64_t));
  }
  u.bytes(&r.aux_loss, sizeof(double));
  u.bytes(&r.z_loss, sizeof(double));
  return r;
}

}  // namespace

Results gather_results(MPI_Comm comm, Results own, GatherScope scope) {
  int rank = 0, size = 0;
  FLASHMOE_MPI(MPI_Comm_rank(comm, &rank));
  FLASHMOE_MPI(MPI_Comm_size(comm, &size));
  constexpr int kTag = 4;
  if (rank != 0) {
    const std::vector<std::byte> message = pack(own.ranks[static_cast<std::size_t>(rank)], scope);
    FLASHMOE_CHECK(message.size() <= static_cast<std::size_t>(INT_MAX), "rank ", rank,
                   ": its outputs (", message.size(), " bytes) are too large to gather");
    const auto bytes = static_cast<std::uint64_t>(message.size());
    FLASHMOE_MPI(MPI_Send(&bytes, 1, MPI_UINT64_T, 0, kTag, comm));
    FLASHMOE_MPI(
        MPI_Send(message.data(), static_cast<int>(message.size()), MPI_BYTE, 0, kTag, comm));
    return own;
  }
  for (int source = 1; source < size; ++source) {
    std::uint64_t bytes = 0;
    FLASHMOE_MPI(MPI_Recv(&bytes, 1, MPI_UINT64_T, source, kTag, comm, MPI_STATUS_IGNORE));
    std::vector<std::byte> message(static_cast<std::size_t>(bytes));
    FLASHMOE_MPI(MPI_Recv(message.data(), static_cast<int>(bytes), MPI_BYTE, source, kTag, comm,
                          MPI_STATUS_IGNORE));
    own.ranks[static_cast<std::size_t>(source)] = unpack(message, scope);
  }
  return own;
}

}  // namespace flashmoe::cli
