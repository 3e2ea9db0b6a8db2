// Default sanitizer options of the fuzz targets, so that a harness run by hand behaves as
// run_fuzzers.sh runs it; ASAN_OPTIONS and UBSAN_OPTIONS in the environment still override them.
//
// detect_container_overflow=0: LibTorch, protobuf and Abseil are the system's, built without
// AddressSanitizer, so a std::vector or std::string their inline code grows is not annotated the
// way our instrumented code expects, and the check reports overflows that are not there.
extern "C" const char* __asan_default_options() {
  return "detect_container_overflow=0:detect_stack_use_after_return=1:strict_string_checks=1";
}

// UBSan findings are fatal anyway (-fno-sanitize-recover=undefined); the stack says where.
extern "C" const char* __ubsan_default_options() { return "print_stacktrace=1:halt_on_error=1"; }
