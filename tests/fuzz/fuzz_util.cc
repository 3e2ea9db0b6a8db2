#include "tests/fuzz/fuzz_util.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "base/file_util.h"

namespace fathom::fuzz {
namespace {

std::string MakeScratchDir() {
  std::string base = "/dev/shm";
  struct stat st;
  if (::stat(base.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || ::access(base.c_str(), W_OK) != 0) {
    const char* tmp = std::getenv("TMPDIR");
    base = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
  }
  std::string templ = base + "/fathom-fuzz-" + std::to_string(::getpid()) + "-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) {
    std::perror(("fathom fuzz: mkdtemp " + templ).c_str());
    std::abort();
  }
  return templ;
}

}  // namespace

const std::string& ScratchDir() {
  // Leaked on purpose: it must outlive the atexit handler that removes the directory.
  static const std::string* const dir = [] {
    auto* made = new std::string(MakeScratchDir());
    std::atexit([] { (void)RemoveTree(ScratchDir()); });
    return made;
  }();
  return *dir;
}

std::string ScratchPath(const std::string& relative) {
  const std::string path = ScratchDir() + "/" + relative;
  const size_t slash = path.rfind('/');
  if (slash > ScratchDir().size() && !MakeDirs(path.substr(0, slash)).ok()) {
    std::fprintf(stderr, "fathom fuzz: cannot make the directory of %s\n", path.c_str());
    std::abort();
  }
  return path;
}

std::string ScratchSubdir(const std::string& relative) {
  const std::string path = ScratchDir() + "/" + relative;
  if (!MakeDirs(path).ok()) {
    std::fprintf(stderr, "fathom fuzz: cannot make the directory %s\n", path.c_str());
    std::abort();
  }
  return path;
}

void WriteFileOrDie(const std::string& path, std::string_view bytes) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr || std::fwrite(bytes.data(), 1, bytes.size(), file) != bytes.size() ||
      std::fclose(file) != 0) {
    std::perror(("fathom fuzz: cannot write " + path).c_str());
    std::abort();
  }
}

std::vector<std::string_view> SplitLengthPrefixed(std::string_view data, int parts) {
  std::vector<std::string_view> out;
  for (int k = 0; k + 1 < parts; ++k) {
    if (data.size() < 4) {
      out.emplace_back();
      data = std::string_view();
      continue;
    }
    uint32_t length = 0;
    for (int i = 0; i < 4; ++i) length |= uint32_t{static_cast<unsigned char>(data[i])} << (8 * i);
    data.remove_prefix(4);
    const size_t n = std::min<size_t>(length, data.size());
    out.push_back(data.substr(0, n));
    data.remove_prefix(n);
  }
  out.push_back(data);
  return out;
}

std::string JoinLengthPrefixed(const std::vector<std::string>& parts) {
  std::string out;
  for (size_t k = 0; k < parts.size(); ++k) {
    if (k + 1 < parts.size()) {
      const uint32_t length = static_cast<uint32_t>(parts[k].size());
      for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((length >> (8 * i)) & 0xFF));
    }
    out += parts[k];
  }
  return out;
}

std::vector<std::string_view> SplitText(std::string_view data, size_t max_parts) {
  std::vector<std::string_view> out;
  while (out.size() + 1 < max_parts) {
    const size_t at = data.find(kTextSeparator);
    if (at == std::string_view::npos) break;
    out.push_back(data.substr(0, at));
    data.remove_prefix(at + kTextSeparator.size());
  }
  out.push_back(data);
  return out;
}

}  // namespace fathom::fuzz
