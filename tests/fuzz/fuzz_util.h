// Helpers shared by the libFuzzer harnesses of tests/fuzz: the readers under test take paths, so
// each input is written to files in a scratch directory of the process, and inputs that stand for
// several files are split into parts.
#ifndef FATHOM_TESTS_FUZZ_FUZZ_UTIL_H_
#define FATHOM_TESTS_FUZZ_FUZZ_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fathom::fuzz {

// A directory of this process, made once (under /dev/shm when it exists, else $TMPDIR or /tmp)
// and removed at a normal exit. A crash leaves it behind: its name says which process made it.
const std::string& ScratchDir();

// ScratchDir()/relative, with the directories above it made. Returns the path.
std::string ScratchPath(const std::string& relative);
// ScratchDir()/relative as a directory, made with those above it. Returns the path.
std::string ScratchSubdir(const std::string& relative);

// Writes `bytes` to `path` (replacing it); aborts on a write error, which is the harness's
// environment failing (a full /dev/shm), not a finding.
void WriteFileOrDie(const std::string& path, std::string_view bytes);

// Binary inputs that stand for several files: `parts - 1` parts each preceded by its length
// (uint32, little-endian; clamped to what is left), then the last part, the rest of the input.
// Fewer bytes than a prefix needs give empty parts. Always returns `parts` views into `data`.
std::vector<std::string_view> SplitLengthPrefixed(std::string_view data, int parts);
// The inverse, for seed generators and tests: the layout SplitLengthPrefixed reads.
std::string JoinLengthPrefixed(const std::vector<std::string>& parts);

// Text inputs that stand for several files: parts separated by kTextSeparator, at most
// `max_parts` (the last keeps any further separators). Seeds stay readable.
inline constexpr std::string_view kTextSeparator = "\n=====FATHOM-FUZZ-NEXT-FILE=====\n";
std::vector<std::string_view> SplitText(std::string_view data, size_t max_parts);

}  // namespace fathom::fuzz

#endif  // FATHOM_TESTS_FUZZ_FUZZ_UTIL_H_
