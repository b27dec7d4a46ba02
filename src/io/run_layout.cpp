#include "io/run_layout.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <sstream>
#include <system_error>

#include <nlohmann/json.hpp>

#include "common/bounded_file.hpp"
#include "common/short_text.hpp"
#include "config/json_document.hpp"
#include "flashmoe/error.hpp"
#include "io/npy.hpp"

namespace flashmoe::io {
namespace fs = std::filesystem;
namespace {

// A world size beyond this is a corrupt file, not a run (it would size huge vectors).
constexpr std::int64_t kMaxWorldSize = 1 << 16;
// meta.json as save_meta writes it: about 400 bytes and one line per rank's token count (at
// most 16 bytes: "    2147483647,\n"), so under 1.1 MiB for kMaxWorldSize ranks; 4 MiB leaves
// room for a hand-edited file and refuses anything that is not metadata before reading it.
constexpr std::size_t kMaxMetaBytes = std::size_t{4} << 20;

std::string rank_dir(int rank) {
  return "rank" + std::to_string(rank);
}

std::string rank_label(int rank) {
  return " (rank " + std::to_string(rank) + ")";
}

// Expected shapes of a rank's tensors, from the metadata alone.
struct RankShapes {
  Shape tokens_by_hidden, routing, w1, b1, w2, b2, wg;
};

RankShapes shapes_of(const RunMeta& meta, int rank) {
  const Config& c = meta.config;
  const std::int64_t S = meta.tokens.at(static_cast<std::size_t>(rank));
  const std::int64_t local = c.local_experts(meta.world_size);
  return {{S, c.hidden},
          {S, c.top_k},
          {local, c.w1_rows(), c.hidden},
          {local, c.w1_rows()},
          {local, c.hidden, c.ffn},
          {local, c.hidden},
          {c.experts, c.hidden}};
}

void make_directory(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    throw Error(detail::concat("cannot create directory '", dir.string(), "': ", ec.message()));
}

// Writes `tensor` as `type` (a float type of the layout, or the index types as they are).
void write_as(const fs::path& path, const HostTensor& tensor, ElementType type,
              const std::string& what) {
  if (!tensor.defined())
    throw Error(
        detail::concat("cannot save ", path.string(), ": the results have no tensor ", what));
  write_npy(path.string(), tensor.type() == type ? tensor : tensor.to(type));
}

// Reads one tensor of the layout and checks its element type and shape against the metadata.
HostTensor read_checked(const fs::path& dir, const std::string& relative, const std::string& what,
                        ElementType type, const Shape& shape) {
  const fs::path path = dir / relative;
  // Only a path with nothing at all is "missing"; a directory, FIFO, device or broken link
  // there gets the npy reader's own message.
  std::error_code ec;
  if (fs::symlink_status(path, ec).type() == fs::file_type::not_found)
    throw Error(detail::concat("saved run '", dir.string(), "': missing file ", relative,
                               " (tensor ", what, ")"));
  HostTensor tensor = read_npy(path.string());
  if (tensor.type() != type || tensor.shape() != shape)
    throw Error(detail::concat(path.string(), ": tensor ", what, ": expected ", to_string(type),
                               ' ', shape_to_string(shape), ", got ", to_string(tensor.type()), ' ',
                               shape_to_string(tensor.shape())));
  return tensor;
}

// Converts a float tensor read from a file to the dtype's storage type. A value that does not
// survive the conversion means the file was not written from this dtype; it is refused rather
// than silently rounded, because a loaded run must reproduce the saved one bit for bit.
HostTensor to_storage(HostTensor tensor, ElementType storage, const fs::path& path,
                      const std::string& what) {
  if (tensor.type() == storage) return tensor;
  HostTensor converted = tensor.to(storage);
  for (std::int64_t i = 0; i < tensor.numel(); ++i) {
    const double original = tensor.get(i);
    const double stored = converted.get(i);
    if (stored != original && !(std::isnan(stored) && std::isnan(original)))
      throw Error(detail::concat(path.string(), ": tensor ", what, ": element ", i, " = ", original,
                                 " is not exactly representable in ", to_string(storage),
                                 " (nearest: ", stored,
                                 "); the file must hold values of the run's dtype"));
  }
  return converted;
}

// ---- meta.json --------------------------------------------------------------------------------

class MetaReader {
 public:
  MetaReader(const nlohmann::json& json, std::string source)
      : json_(json), source_(std::move(source)) {}

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw Error(detail::concat(source_, ": key '", key, "': ", what));
  }
  const nlohmann::json& required(const std::string& key) const {
    const auto it = json_.find(key);
    if (it == json_.end()) throw Error(detail::concat(source_, ": missing key '", key, "'"));
    return *it;
  }
  std::int64_t integer(const std::string& key, const nlohmann::json& value) const {
    if (!value.is_number_integer())
      fail(key, "expected an integer, got " + config_detail::json_value_text(value));
    // 2^63 ≤ n < 2^64 parses as unsigned; as int64 it would turn negative.
    if (value.is_number_unsigned() &&
        value.get<std::uint64_t>() >
            static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      fail(key, "expected an integer below 2^63, got " + config_detail::json_value_text(value));
    return value.get<std::int64_t>();
  }
  std::int64_t integer(const std::string& key) const { return integer(key, required(key)); }
  double number(const std::string& key) const {
    const auto& value = required(key);
    if (!value.is_number())
      fail(key, "expected a number, got " + config_detail::json_value_text(value));
    return value.get<double>();
  }
  bool boolean(const std::string& key) const {
    const auto& value = required(key);
    if (!value.is_boolean())
      fail(key, "expected true or false, got " + config_detail::json_value_text(value));
    return value.get<bool>();
  }
  std::string text(const std::string& key) const {
    const auto& value = required(key);
    if (!value.is_string())
      fail(key, "expected a string, got " + config_detail::json_value_text(value));
    return value.get<std::string>();
  }
  bool has(const std::string& key) const { return json_.contains(key); }

 private:
  const nlohmann::json& json_;
  std::string source_;
};

}  // namespace

RunMeta meta_of(const Problem& problem, const std::string& backend) {
  std::vector<std::int64_t> tokens;
  for (int r = 0; r < problem.world_size; ++r) tokens.push_back(problem.tokens(r));
  return meta_of(problem, std::move(tokens), backend);
}

RunMeta meta_of(const Problem& problem, std::vector<std::int64_t> tokens,
                const std::string& backend) {
  FLASHMOE_CHECK(static_cast<int>(tokens.size()) == problem.world_size, "meta: ", tokens.size(),
                 " token counts for ", problem.world_size, " ranks");
  RunMeta meta;
  meta.config = problem.config;
  meta.world_size = problem.world_size;
  meta.tokens = std::move(tokens);
  meta.backend = backend;
  meta.backward = problem.backward;
  meta.d_aux = problem.d_aux;
  meta.d_z = problem.d_z;
  return meta;
}

ElementType file_float_type(DType dtype) {
  return dtype == DType::fp64 ? ElementType::f64 : ElementType::f32;
}

std::vector<std::string> rank_files(const RunMeta& meta) {
  std::vector<std::string> files{"x.npy",    "out.npy",    "topk_idx.npy", "topk_weight.npy",
                                 "kept.npy", "losses.npy", "w1.npy",       "w2.npy"};
  if (meta.config.bias) files.insert(files.end(), {"b1.npy", "b2.npy"});
  if (meta.backward) {
    files.insert(files.end(), {"dout.npy", "dx.npy", "dwg.npy", "dw1.npy", "dw2.npy"});
    if (meta.config.bias) files.insert(files.end(), {"db1.npy", "db2.npy"});
  }
  return files;
}

std::vector<std::string> layout_files(const RunMeta& meta) {
  std::vector<std::string> files{"meta.json", "wg.npy"};
  for (int r = 0; r < meta.world_size; ++r)
    for (const std::string& name : rank_files(meta)) files.push_back(rank_dir(r) + "/" + name);
  return files;
}

void save_meta(const fs::path& dir, const RunMeta& meta, const HostTensor& wg) {
  make_directory(dir);
  const Config& c = meta.config;
  nlohmann::ordered_json json;
  json["world_size"] = meta.world_size;
  json["tokens"] = meta.tokens;
  json["hidden"] = c.hidden;
  json["ffn"] = c.ffn;
  json["experts"] = c.experts;
  json["top_k"] = c.top_k;
  json["capacity_factor"] = c.capacity_factor;
  json["drop_tokens"] = c.drop_tokens;
  json["activation"] = std::string(to_string(c.activation));
  json["bias"] = c.bias;
  json["normalize_weights"] = c.normalize_weights;
  json["dtype"] = std::string(to_string(c.dtype));
  json["allow_tf32"] = c.allow_tf32;
  json["backend"] = meta.backend;
  json["backward"] = meta.backward;
  json["d_aux"] = meta.d_aux;
  json["d_z"] = meta.d_z;
  // Optional extras: readers that do not know them ignore them; flashmoe restores them.
  json["max_tokens"] = c.max_tokens;
  json["aux_loss"] = c.aux_loss;
  json["z_loss"] = c.z_loss;

  const fs::path path = dir / "meta.json";
  std::ofstream file(path, std::ios::trunc);
  file << json.dump(2) << '\n';
  file.close();
  if (!file) throw Error(detail::concat("cannot write '", path.string(), "'"));
  write_as(dir / "wg.npy", wg, file_float_type(c.dtype), "wg");
}

void save_rank(const fs::path& dir, const RunMeta& meta, int rank, const RankInputs& inputs,
               const RankOutputs& outputs) {
  const fs::path folder = dir / rank_dir(rank);
  make_directory(folder);
  const ElementType f = file_float_type(meta.config.dtype);
  const std::string at = rank_label(rank);
  write_as(folder / "x.npy", inputs.x, f, "x" + at);
  write_as(folder / "out.npy", outputs.out, f, "out" + at);
  write_as(folder / "topk_idx.npy", outputs.routing.topk_index, ElementType::i32, "topk_idx" + at);
  write_as(folder / "topk_weight.npy", outputs.routing.topk_weight, f, "topk_weight" + at);
  write_as(folder / "kept.npy", outputs.routing.kept, ElementType::u8, "kept" + at);
  HostTensor losses(f, {2});
  losses.set(0, outputs.aux_loss);
  losses.set(1, outputs.z_loss);
  write_as(folder / "losses.npy", losses, f, "losses" + at);
  write_as(folder / "w1.npy", inputs.w1, f, "w1" + at);
  write_as(folder / "w2.npy", inputs.w2, f, "w2" + at);
  if (meta.config.bias) {
    write_as(folder / "b1.npy", inputs.b1, f, "b1" + at);
    write_as(folder / "b2.npy", inputs.b2, f, "b2" + at);
  }
  if (meta.backward) {
    write_as(folder / "dout.npy", inputs.dout, f, "dout" + at);
    write_as(folder / "dx.npy", outputs.dx, f, "dx" + at);
    write_as(folder / "dwg.npy", outputs.dwg, f, "dwg" + at);
    write_as(folder / "dw1.npy", outputs.dw1, f, "dw1" + at);
    write_as(folder / "dw2.npy", outputs.dw2, f, "dw2" + at);
    if (meta.config.bias) {
      write_as(folder / "db1.npy", outputs.db1, f, "db1" + at);
      write_as(folder / "db2.npy", outputs.db2, f, "db2" + at);
    }
  }
}

void save_run(const fs::path& dir, const Problem& problem, const Results& results,
              const std::string& backend) {
  FLASHMOE_CHECK(static_cast<int>(results.ranks.size()) == problem.world_size,
                 "save: results hold ", results.ranks.size(), " ranks, the problem has ",
                 problem.world_size);
  const RunMeta meta = meta_of(problem, backend);
  save_meta(dir, meta, problem.wg);
  for (int r = 0; r < problem.world_size; ++r)
    save_rank(dir, meta, r, problem.ranks[static_cast<std::size_t>(r)],
              results.ranks[static_cast<std::size_t>(r)]);
}

RunMeta load_meta(const fs::path& dir) {
  const fs::path path = dir / "meta.json";
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw Error(detail::concat("saved run '", dir.string(), "': no such directory"));
  // Anything at the path that is not a regular file gets the bounded reader's own message.
  if (fs::symlink_status(path, ec).type() == fs::file_type::not_found)
    throw Error(detail::concat("saved run '", dir.string(), "': missing file meta.json"));
  return parse_meta(read_bounded_file(path.string(), "metadata file", kMaxMetaBytes,
                                      "one token count per rank, for at most 65536 ranks"),
                    path.string());
}

RunMeta parse_meta(std::string_view text, const std::string& source) {
  const nlohmann::json json = config_detail::parse_json_object(text, source);
  const MetaReader read(json, source);
  RunMeta meta;
  const std::int64_t world_size = read.integer("world_size");
  if (world_size < 1 || world_size > kMaxWorldSize)
    read.fail("world_size", detail::concat(world_size, " is outside 1..", kMaxWorldSize));
  meta.world_size = static_cast<int>(world_size);

  const auto& tokens = read.required("tokens");
  if (!tokens.is_array() || static_cast<std::int64_t>(tokens.size()) != world_size)
    read.fail("tokens", detail::concat("expected a list of ", world_size,
                                       " token counts (one per rank), got ",
                                       config_detail::json_value_text(tokens)));
  for (const auto& value : tokens) {
    const std::int64_t count = read.integer("tokens", value);
    if (count < 0) read.fail("tokens", detail::concat("negative token count ", count));
    meta.tokens.push_back(count);
  }

  Config& c = meta.config;
  c.hidden = read.integer("hidden");
  c.ffn = read.integer("ffn");
  c.experts = read.integer("experts");
  c.top_k = read.integer("top_k");
  c.capacity_factor = read.number("capacity_factor");
  c.drop_tokens = read.boolean("drop_tokens");
  const std::string activation = read.text("activation");
  const auto parsed_activation = parse_activation(activation);
  if (!parsed_activation)
    read.fail("activation",
              detail::concat("'", short_text(activation), "' is not one of ", activation_names()));
  c.activation = *parsed_activation;
  c.bias = read.boolean("bias");
  c.normalize_weights = read.boolean("normalize_weights");
  const std::string dtype = read.text("dtype");
  const auto parsed_dtype = parse_dtype(dtype);
  if (!parsed_dtype)
    read.fail("dtype", detail::concat("'", short_text(dtype), "' is not one of ", dtype_names()));
  c.dtype = *parsed_dtype;
  c.allow_tf32 = read.boolean("allow_tf32");
  meta.backend = read.text("backend");
  meta.backward = read.boolean("backward");
  meta.d_aux = read.number("d_aux");
  meta.d_z = read.number("d_z");

  // Optional keys; without max_tokens the bound is raised to fit the saved token counts.
  if (read.has("aux_loss")) c.aux_loss = read.boolean("aux_loss");
  if (read.has("z_loss")) c.z_loss = read.boolean("z_loss");
  if (read.has("max_tokens")) {
    c.max_tokens = read.integer("max_tokens");
  } else {
    for (std::int64_t count : meta.tokens) c.max_tokens = std::max(c.max_tokens, count);
  }
  try {
    validate(c, meta.world_size);
  } catch (const Error& e) {
    throw Error(detail::concat(source, ": ", e.what()));
  }
  for (int r = 0; r < meta.world_size; ++r)
    if (meta.tokens[static_cast<std::size_t>(r)] > c.max_tokens)
      read.fail("tokens",
                detail::concat("rank ", r, " has ", meta.tokens[static_cast<std::size_t>(r)],
                               " tokens, more than max_tokens = ", c.max_tokens));
  return meta;
}

namespace {

// load_problem's reading, for the ranks `wanted` says yes to (the others stay empty).
template <typename Wanted>
Problem load_inputs(const fs::path& dir, Wanted&& wanted) {
  const RunMeta meta = load_meta(dir);
  const Config& c = meta.config;
  const ElementType f = file_float_type(c.dtype);
  const ElementType storage = storage_type(c.dtype);

  // Reads a float input and converts it to the storage type.
  const auto input = [&](const std::string& relative, const std::string& what, const Shape& shape) {
    return to_storage(read_checked(dir, relative, what, f, shape), storage, dir / relative, what);
  };

  Problem problem;
  problem.config = c;
  problem.world_size = meta.world_size;
  problem.backward = meta.backward;
  problem.d_aux = meta.d_aux;
  problem.d_z = meta.d_z;
  problem.wg = input("wg.npy", "wg", {c.experts, c.hidden});
  for (int r = 0; r < meta.world_size; ++r) {
    RankInputs in;
    if (wanted(r)) {
      const RankShapes s = shapes_of(meta, r);
      const std::string folder = rank_dir(r) + "/";
      const std::string at = rank_label(r);
      in.x = input(folder + "x.npy", "x" + at, s.tokens_by_hidden);
      in.w1 = input(folder + "w1.npy", "w1" + at, s.w1);
      in.w2 = input(folder + "w2.npy", "w2" + at, s.w2);
      if (c.bias) {
        in.b1 = input(folder + "b1.npy", "b1" + at, s.b1);
        in.b2 = input(folder + "b2.npy", "b2" + at, s.b2);
      }
      if (meta.backward) in.dout = input(folder + "dout.npy", "dout" + at, s.tokens_by_hidden);
    }
    problem.ranks.push_back(std::move(in));
  }
  return problem;
}

}  // namespace

Problem load_problem(const fs::path& dir) {
  Problem problem = load_inputs(dir, [](int) { return true; });
  validate_problem(problem);
  return problem;
}

Problem load_rank_problem(const fs::path& dir, int rank) {
  Problem problem = load_inputs(dir, [rank](int r) { return r == rank; });
  validate_problem_rank(problem, rank);
  return problem;
}

Results load_results(const fs::path& dir, const RunMeta& meta) {
  const Config& c = meta.config;
  const ElementType f = file_float_type(c.dtype);
  Results results;
  for (int r = 0; r < meta.world_size; ++r) {
    const RankShapes s = shapes_of(meta, r);
    const std::string folder = rank_dir(r) + "/";
    const std::string at = rank_label(r);
    const auto read = [&](const std::string& name, ElementType type, const Shape& shape) {
      return read_checked(dir, folder + name + ".npy", name + at, type, shape);
    };
    RankOutputs out;
    out.out = read("out", f, s.tokens_by_hidden);
    out.routing.topk_index = read("topk_idx", ElementType::i32, s.routing);
    out.routing.topk_weight = read("topk_weight", f, s.routing);
    out.routing.kept = read("kept", ElementType::u8, s.routing);
    const HostTensor losses = read("losses", f, {2});
    out.aux_loss = losses.get(0);
    out.z_loss = losses.get(1);

    // Tokens per expert before and after capacity follow from the routing record.
    out.routing.routed.assign(static_cast<std::size_t>(c.experts), 0);
    out.routing.accepted.assign(static_cast<std::size_t>(c.experts), 0);
    const auto index = out.routing.topk_index.data<std::int32_t>();
    const auto kept = out.routing.kept.data<std::uint8_t>();
    for (std::size_t i = 0; i < index.size(); ++i) {
      if (index[i] < 0 || index[i] >= c.experts)
        throw Error(detail::concat((dir / (folder + "topk_idx.npy")).string(), ": element ", i,
                                   " = ", index[i], " is not an expert index (0 ≤ e < ", c.experts,
                                   ")"));
      const auto e = static_cast<std::size_t>(index[i]);
      ++out.routing.routed[e];
      if (kept[i] != 0) ++out.routing.accepted[e];
    }

    if (meta.backward) {
      out.dx = read("dx", f, s.tokens_by_hidden);
      out.dwg = read("dwg", f, s.wg);
      out.dw1 = read("dw1", f, s.w1);
      out.dw2 = read("dw2", f, s.w2);
      if (c.bias) {
        out.db1 = read("db1", f, s.b1);
        out.db2 = read("db2", f, s.b2);
      }
    }
    results.ranks.push_back(std::move(out));
  }
  return results;
}

}  // namespace flashmoe::io
