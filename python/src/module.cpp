// flashmoe._C: the torch-free binding. Every tensor crosses as a BufferRef (address, shape,
// strides, dtype name, device), every configuration as text values of flashmoe's config keys,
// so this module depends on pybind11 and the flashmoe core only; torch lives in the Python layer.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "backend_table.hpp"
#include "buffer_ref.hpp"
#include "config/config_fields.hpp"
#include "cuda_layer_call.hpp"
#include "errors.hpp"
#include "flashmoe/config.hpp"
#include "engine_pool.hpp"
#include "layer_call.hpp"
#include "mpi_support.hpp"

namespace py = pybind11;
using flashmoe::Config;
using namespace flashmoe::python;

namespace {

// A validated Config from {key: text} (the same keys and text forms as `flashmoe run`).
Config make_config(const std::map<std::string, std::string>& fields, int world_size) {
  return as_argument_error([&] {
    Config config;
    for (const auto& [key, value] : fields) flashmoe::set_config_field(config, key, value);
    flashmoe::validate(config, world_size);
    return config;
  });
}

// The C++ field table's value types, by name: flashmoe/_arguments.py checks Python arguments
// against them before they become text, so a str top_k cannot pass as "2" and the Python layer
// cannot drift from the C++ fields.
std::vector<std::pair<std::string, std::string>> config_field_kinds() {
  using namespace flashmoe::config_detail;
  std::vector<std::pair<std::string, std::string>> kinds;
  for (const ConfigField& field : config_fields()) {
    const char* kind = std::visit(Overloaded{
                                      [](std::int64_t Config::*) { return "int"; },
                                      [](double Config::*) { return "float"; },
                                      [](bool Config::*) { return "bool"; },
                                      [](flashmoe::Activation Config::*) { return "activation"; },
                                      [](flashmoe::DType Config::*) { return "dtype"; },
                                  },
                                  field.member);
    kinds.emplace_back(std::string(field.key), kind);
  }
  return kinds;
}

void bind_config(py::module_& m) {
  py::class_<Config>(m, "Config", "A validated flashmoe layer configuration (read-only).")
      .def_readonly("hidden", &Config::hidden)
      .def_readonly("ffn", &Config::ffn)
      .def_readonly("experts", &Config::experts)
      .def_readonly("top_k", &Config::top_k)
      .def_readonly("capacity_factor", &Config::capacity_factor)
      .def_readonly("drop_tokens", &Config::drop_tokens)
      .def_property_readonly("activation",
                             [](const Config& c) { return std::string(to_string(c.activation)); })
      .def_readonly("bias", &Config::bias)
      .def_readonly("normalize_weights", &Config::normalize_weights)
      .def_property_readonly("dtype",
                             [](const Config& c) { return std::string(to_string(c.dtype)); })
      .def_readonly("aux_loss", &Config::aux_loss)
      .def_readonly("z_loss", &Config::z_loss)
      .def_readonly("wait_timeout_s", &Config::wait_timeout_s)
      .def_property_readonly("w1_rows", &Config::w1_rows)
      .def("to_json", &flashmoe::config_to_json)
      .def("__eq__", [](const Config& a, const Config& b) { return a == b; })
      .def("__repr__", [](const Config& c) {
        return "flashmoe._C.Config(" + flashmoe::config_to_json(c) + ")";
      });
  m.def("make_config", &make_config, py::arg("fields"), py::arg("world_size") = 1,
        "Config from {key: text value}; ValueError naming the key, value and what is allowed.");
  m.def("config_field_kinds", &config_field_kinds,
        "[(key, kind)] of every Config field in declaration order; kind is int, float, bool, "
        "activation or dtype (what the Python layer type-checks arguments against).");
}

void bind_buffer(py::module_& m) {
  py::class_<BufferRef>(m, "BufferRef", "Caller memory: address, shape, strides, dtype, device.")
      .def(py::init([](std::uintptr_t address, flashmoe::Shape shape, flashmoe::Shape strides,
                       std::string dtype, std::string device) {
             return BufferRef{address, std::move(shape), std::move(strides), std::move(dtype),
                              std::move(device)};
           }),
           py::arg("address"), py::arg("shape"), py::arg("strides"), py::arg("dtype"),
           py::arg("device") = "cpu")
      .def_readonly("address", &BufferRef::address)
      .def_readonly("shape", &BufferRef::shape)
      .def_readonly("strides", &BufferRef::strides)
      .def_readonly("dtype", &BufferRef::dtype)
      .def_readonly("device", &BufferRef::device);
}

void bind_layer_call(py::module_& m) {
  py::class_<LayerCall>(m, "LayerCall",
                        "One forward of the layer on copies of the inputs; backward() later "
                        "(from the kept forward state, or recomputing: see docs/python.md).")
      .def(py::init([](const Config& config, const BufferRef& x, const BufferRef& wg,
                       const BufferRef& w1, std::optional<BufferRef> b1, const BufferRef& w2,
                       std::optional<BufferRef> b2, const std::string& backend, int world_size,
                       int rank, bool keep_for_backward) {
             const LayerInputs inputs{x, wg, w1, w2, std::move(b1), std::move(b2)};
             return new LayerCall(config, inputs, backend, WorldInfo{world_size, rank},
                                  keep_for_backward);
           }),
           py::arg("config"), py::arg("x"), py::arg("wg"), py::arg("w1"), py::arg("b1"),
           py::arg("w2"), py::arg("b2"), py::kw_only(), py::arg("backend"),
           py::arg("world_size") = 1, py::arg("rank") = 0, py::arg("keep_for_backward") = false,
           py::call_guard<py::gil_scoped_release>())
      .def("backward", &LayerCall::backward, py::arg("dout"), py::arg("d_aux") = 0.0,
           py::arg("d_z") = 0.0, py::call_guard<py::gil_scoped_release>())
      .def("copy_out", &LayerCall::copy_out, py::arg("name"), py::arg("destination"),
           py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("config", &LayerCall::config)
      .def_property_readonly("backend", [](const LayerCall& c) { return std::string(c.backend()); })
      .def_property_readonly("tokens", &LayerCall::tokens)
      .def_property_readonly("keeps_forward_state", &LayerCall::keeps_forward_state)
      .def_property_readonly("aux_loss", &LayerCall::aux_loss)
      .def_property_readonly("z_loss", &LayerCall::z_loss)
      .def_property_readonly("routed", &LayerCall::routed)
      .def_property_readonly("accepted", &LayerCall::accepted)
      .def_property_readonly("has_gradients", &LayerCall::has_gradients)
      .def_property_readonly("seconds", &LayerCall::seconds);
}

void bind_cuda_layer_call(py::module_& m) {
  py::class_<CudaLayerCall>(
      m, "CudaLayerCall",
      "One forward of the layer on CUDA tensors, read in place, enqueued on a given stream "
      "without waiting for it; backward() later from the kept forward state (docs/python.md).")
      .def(py::init([](const Config& config, const BufferRef& x, const BufferRef& wg,
                       const BufferRef& w1, std::optional<BufferRef> b1, const BufferRef& w2,
                       std::optional<BufferRef> b2, std::uintptr_t stream) {
             const LayerInputs inputs{x, wg, w1, w2, std::move(b1), std::move(b2)};
             return new CudaLayerCall(config, inputs, stream);
           }),
           py::arg("config"), py::arg("x"), py::arg("wg"), py::arg("w1"), py::arg("b1"),
           py::arg("w2"), py::arg("b2"), py::kw_only(), py::arg("stream") = 0,
           py::call_guard<py::gil_scoped_release>())
      .def(
          "backward",
          [](CudaLayerCall& call, const BufferRef& x, const BufferRef& wg, const BufferRef& w1,
             std::optional<BufferRef> b1, const BufferRef& w2, std::optional<BufferRef> b2,
             const BufferRef& dout, double d_aux, double d_z, std::uintptr_t stream) {
            const LayerInputs inputs{x, wg, w1, w2, std::move(b1), std::move(b2)};
            call.backward(inputs, dout, d_aux, d_z, stream);
          },
          py::arg("x"), py::arg("wg"), py::arg("w1"), py::arg("b1"), py::arg("w2"), py::arg("b2"),
          py::kw_only(), py::arg("dout"), py::arg("d_aux") = 0.0, py::arg("d_z") = 0.0,
          py::arg("stream") = 0, py::call_guard<py::gil_scoped_release>())
      .def("result_dtype", &CudaLayerCall::result_dtype, py::arg("name"))
      .def("result_shape", &CudaLayerCall::result_shape, py::arg("name"))
      .def("copy_out", &CudaLayerCall::copy_out, py::arg("name"), py::arg("destination"),
           py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("config", &CudaLayerCall::config)
      .def_property_readonly("device", &CudaLayerCall::device)
      .def_property_readonly("tokens", &CudaLayerCall::tokens)
      .def_property_readonly("has_gradients", &CudaLayerCall::has_gradients);
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "flashmoe's torch-free C++ binding (see docs/python.md)";
  register_exception_translators();
  bind_config(m);
  bind_buffer(m);
  bind_layer_call(m);
  bind_cuda_layer_call(m);
  m.def(
      "backends",
      [] {
        std::vector<std::pair<std::string, std::string>> table;
        for (const Backend& b : flashmoe::backends::all()) table.emplace_back(b.name, b.summary);
        return table;
      },
      "[(name, summary)] of the backends built in, the default first.");
  m.def("default_backend", [] { return std::string(flashmoe::backends::all().front().name); });
  m.def(
      "backend_unavailable",
      [](const std::string& name) { return find_backend(name).unavailable_reason(); },
      py::arg("name"),
      "Why the backend cannot run on this machine (e.g. no GPU for 'cuda'); '' when it can.");
  m.def(
      "_idle_engine_layers", [] { return flashmoe::python::EnginePool::instance().idle(); },
      "How many cpu engine layers wait idle in the extension's pool (engine_pool.hpp); for tests.");
  m.def("mpi_built", &mpi_built, "Whether this extension was built with the MPI transport.");
  m.def("mpi_world", &mpi_world, py::call_guard<py::gil_scoped_release>(),
        "(size, rank) of MPI_COMM_WORLD; initialises MPI (THREAD_MULTIPLE) unless already done.");
  m.def("mpi_agree", &mpi_agree, py::arg("failed"), py::arg("tokens") = 0,
        py::call_guard<py::gil_scoped_release>(),
        "Collective: (lowest rank that failed or -1, largest token count) over the ranks.");
  m.def("mpi_finalize", &mpi_finalize, py::call_guard<py::gil_scoped_release>(),
        "MPI_Finalize if this extension initialised MPI (flashmoe.world registers it at exit).");
  // Test hook: throws the C++ error of `kind` so tests can check its Python translation (a real
  // timeout needs a peer rank that never answers, which a single process cannot produce).
  m.def("_raise_error", [](const std::string& kind, const std::string& message) {
    if (kind == "argument") throw ArgumentError(message);
    if (kind == "not_built") throw NotBuiltError(message);
    if (kind == "timeout") throw flashmoe::TimeoutError(message);
    if (kind == "error") throw flashmoe::Error(message);
    throw ArgumentError("_raise_error: unknown kind '" + kind + "'");
  });
  m.attr("__version__") = FLASHMOE_VERSION;
}
