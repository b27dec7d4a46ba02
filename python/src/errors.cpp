#include "errors.hpp"

#include <exception>

#include <pybind11/pybind11.h>

namespace flashmoe::python {

void register_exception_translators() {
  pybind11::register_exception_translator([](std::exception_ptr failure) {
    try {
      if (failure) std::rethrow_exception(failure);
    } catch (const ArgumentError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const NotBuiltError& e) {
      PyErr_SetString(PyExc_NotImplementedError, e.what());
    } catch (const TimeoutError& e) {
      PyErr_SetString(PyExc_TimeoutError, e.what());
    } catch (const Error& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
    // Anything else propagates to pybind11's own translators (std::bad_alloc → MemoryError...).
  });
}

}  // namespace flashmoe::python
