// How C++ failures reach Python. The core throws flashmoe::Error for everything; the binding
// sorts them by who must act: a wrong argument (ValueError), a feature not built yet
// (NotImplementedError), a peer that never answered (TimeoutError), anything else (RuntimeError).
#pragma once

#include <utility>

#include "flashmoe/error.hpp"

namespace flashmoe::python {

// The caller passed a wrong shape, dtype, device, layout or configuration value.
class ArgumentError : public Error {
 public:
  using Error::Error;
};

// The request is valid but needs a part of flashmoe that is not built yet (CUDA, MPI).
class NotBuiltError : public Error {
 public:
  using Error::Error;
};

// Runs f and re-throws a flashmoe::Error from it as an ArgumentError: used around the core's
// validation (validate, validate_problem, set_config_field), whose every refusal is the caller's.
template <typename F>
decltype(auto) as_argument_error(F&& f) {
  try {
    return std::forward<F>(f)();
  } catch (const TimeoutError&) {
    throw;
  } catch (const ArgumentError&) {
    throw;
  } catch (const NotBuiltError&) {
    throw;
  } catch (const Error& e) {
    throw ArgumentError(e.what());
  }
}

// Installs the translation above in the running interpreter (once, at module import).
void register_exception_translators();

}  // namespace flashmoe::python
