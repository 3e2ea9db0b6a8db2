#include "data/spm_bridge.h"

#include <dlfcn.h>
#include <unistd.h>

#include <mutex>

namespace fathom::data::spm {
namespace {

// The module sits beside the library that was built with it; FATHOM_SPM_MODULE overrides.
std::vector<std::string> Candidates() {
  std::vector<std::string> paths;
  if (const char* env = std::getenv("FATHOM_SPM_MODULE")) paths.push_back(env);
#ifdef FATHOM_SPM_MODULE_PATH
  paths.push_back(FATHOM_SPM_MODULE_PATH);
#endif
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n > 0) {
    std::string dir(self, n);
    dir = dir.substr(0, dir.rfind('/'));
    paths.push_back(dir + "/libfathom_spm.so");
    paths.push_back(dir + "/../data/libfathom_spm.so");
  }
  paths.push_back("libfathom_spm.so");
  return paths;
}

}  // namespace

Backend* GetBackend(std::string* error) {
  static std::once_flag once;
  static Backend* backend = nullptr;
  static std::string load_error;
  std::call_once(once, [] {
    for (const std::string& path : Candidates()) {
      // RTLD_DEEPBIND: the module and libsentencepiece resolve protobuf symbols to
      // libsentencepiece's own embedded copy, not the process's libprotobuf.
      void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
      if (handle == nullptr) {
        load_error += std::string("\n  ") + ::dlerror();
        continue;
      }
      using Factory = Backend* (*)();
      auto factory = reinterpret_cast<Factory>(::dlsym(handle, "fathom_spm_backend"));
      if (factory == nullptr) {
        load_error += "\n  " + path + ": no fathom_spm_backend symbol";
        continue;
      }
      backend = factory();
      return;
    }
  });
  if (backend == nullptr)
    *error = "cannot load the SentencePiece module libfathom_spm.so:" + load_error;
  return backend;
}

}  // namespace fathom::data::spm
