// Test-only failure points, so the suite can prove that a failure deep inside a thread the
// project started comes out as `flashmoe: error: ...` and a non-zero exit, never as
// std::terminate, and that a wrong result is caught. FLASHMOE_TEST_FAULT holds a
// comma-separated list of site names; a site on the list throws flashmoe::Error when its code
// reaches throw_if_test_fault, or changes what its code does when test_fault_requested says so.
// The sites:
//   engine_worker        an engine worker thread, at the start of its pass (throws)
//   bench_ceiling        a thread of the bench's ceiling matmul, before its first matmul (throws)
//   baseline_task        a task of the bulk-synchronous baseline's thread pool (throws)
//   engine_wrong_result  engine::run_in_process spoils one element of rank 0's out and, after a
//                        backward, of its dw1, so that `flashmoe run --check` must fail
//   engine_wrong_gradient every engine backward (in process and over MPI) adds 1e-5·(‖dw2‖+1)
//                        to element 0 of the last rank's dw2, so that scripts/run_gradcheck.py
//                        must fail (engine/layer_impl.hpp)
// Unset (the normal case) costs one cached string comparison per call.
#pragma once

#include <string_view>

namespace flashmoe {

// Throws flashmoe::Error("injected test fault at <site> ...") when `site` is listed in
// FLASHMOE_TEST_FAULT (read once per process).
void throw_if_test_fault(std::string_view site);

// Whether `site` is listed in FLASHMOE_TEST_FAULT (read once per process).
bool test_fault_requested(std::string_view site);

}  // namespace flashmoe
