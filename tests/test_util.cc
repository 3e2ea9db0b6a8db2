#include "tests/test_util.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <zlib.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace fathom::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/fathom_test_XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void WriteTextFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary);
  out << contents;
  if (!out) throw std::runtime_error("cannot write " + path);
}

void WriteLines(const std::string& path, const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  if (path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0) {
    gzFile f = gzopen(path.c_str(), "wb");
    if (f == nullptr) throw std::runtime_error("cannot write " + path);
    gzwrite(f, text.data(), static_cast<unsigned>(text.size()));
    gzclose(f);
  } else {
    WriteTextFile(path, text);
  }
}

std::string MakeTinyRun(const TempDir& dir, const TinyRun& run) {
  if (!std::filesystem::exists(dir.File("train.de"))) {
    const std::string m30k = SharedDataDir() + "/translation/multi30k/";
    WriteLines(dir.File("train.de"), ReadGzipLines(m30k + "train.de.gz", 300));
    WriteLines(dir.File("train.en"), ReadGzipLines(m30k + "train.en.gz", 300));
  }
  const std::string config = dir.File(run.name + ".pbtxt");
  WriteTextFile(
      config, "run_dir: \"" + dir.File(run.name) + "\"\n" +
                  "data {\n"
                  "  split { name: \"train\" source: \"" +
                  dir.File("train.de") + "\" target: \"" + dir.File("train.en") + "\" }\n" +
                  "  prepared_dir: \"" + dir.File(run.name + "-prepared") + "\"\n" +
                  "  sentencepiece { vocab_size: " + std::to_string(run.vocab) + " }\n" +
                  "  batch { max_tokens: 512 }\n  " + run.data_extra + "\n}\n" +
                  "model { encoder_layers: 1 decoder_layers: 1 d_model: 32 heads: 4 ffn_dim: 64 " +
                  run.model_extra + " }\n" +
                  "optim { max_steps: 2 warmup_steps: 1 }\n"
                  "distributed { threads: 1 }\n" +
                  run.extra + "\n");
  const CommandResult prepared = RunFathom("prepare --config " + config);
  if (prepared.exit_code != 0) return "fathom prepare failed: " + prepared.output;
  if (!run.train) return "";
  const CommandResult trained = RunFathom("train --config " + config);
  if (trained.exit_code != 0) return "fathom train failed: " + trained.output;
  return "";
}

std::vector<std::string> ReadGzipLines(const std::string& path, int max_lines) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) throw std::runtime_error("cannot read " + path);
  std::vector<std::string> lines;
  char buffer[1 << 16];
  while (static_cast<int>(lines.size()) < max_lines &&
         gzgets(f, buffer, sizeof(buffer)) != nullptr) {
    std::string line(buffer);
    if (!line.empty() && line.back() == '\n') line.pop_back();
    lines.push_back(line);
  }
  gzclose(f);
  return lines;
}

std::string SharedDataDir() {
  const char* env = std::getenv("FATHOM_SHARED_DATA");
  if (env != nullptr) return env;
  return FATHOM_DEFAULT_SHARED_DATA;
}

std::string SourceDir() {
  const char* env = std::getenv("FATHOM_SOURCE_DIR");
  if (env != nullptr) return env;
  return FATHOM_DEFAULT_SOURCE_DIR;
}

std::string FathomBinary() {
  const char* env = std::getenv("FATHOM_BINARY");
  if (env != nullptr) return env;
  return FATHOM_DEFAULT_BINARY;
}

CommandResult RunShell(const std::string& command) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  std::string output;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    output.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

CommandResult RunFathom(const std::string& args) { return RunShell(FathomBinary() + " " + args); }

}  // namespace fathom::testing
