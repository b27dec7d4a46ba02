// ThreadSanitizer suppressions built into the engine test executables (TSan calls this hook at
// start-up). Debian's libdnnl is not instrumented: its global primitive cache synchronises with
// atomics TSan cannot see, so concurrent primitive creation from engine workers is reported as
// races inside oneDNN. Only stacks through oneDNN are silenced; the engine's own
// synchronisation (signals, counters, queue) has no dnnl frame and stays checked, and the
// fp64 GEMM path (a plain loop, instrumented) keeps the GEMM operands' hand-offs checked.
extern "C" const char* __tsan_default_suppressions();
extern "C" const char* __tsan_default_suppressions() {
  return "race:libdnnl.so\n"
         "race:dnnl::\n";
}
