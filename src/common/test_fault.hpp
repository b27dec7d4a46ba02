// Test-only failure points, so the suite can prove that a failure deep inside a thread the
// project started comes out as `flashmoe: error: ...` and a non-zero exit, never as
// std::terminate. FLASHMOE_TEST_FAULT holds a comma-separated list of site names; a site on the
// list throws flashmoe::Error when its code reaches throw_if_test_fault. The sites:
//   engine_worker   an engine worker thread, at the start of its pass
//   bench_ceiling   a thread of the bench's ceiling matmul, before its first matmul
//   baseline_task   a task of the bulk-synchronous baseline's thread pool
// Unset (the normal case) costs one cached string comparison per call.
#pragma once

#include <string_view>

namespace flashmoe {

// Throws flashmoe::Error("injected test fault at <site> ...") when `site` is listed in
// FLASHMOE_TEST_FAULT (read once per process).
void throw_if_test_fault(std::string_view site);

}  // namespace flashmoe
