#include "prepare/encode_pipeline.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"

namespace fathom::prepare {
namespace {

struct RawChunk {
  int64_t sequence = 0;
  std::vector<TextPair> pairs;
};

// Shared state of one run. One mutex: the queues move whole chunks of thousands of pairs, so
// contention is negligible next to encoding.
class Pipeline {
 public:
  explicit Pipeline(int threads) : window_(threads + 1), raw_capacity_(threads + 1) {}

  // Reader side.
  bool PushRaw(RawChunk chunk) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return failed() || static_cast<int>(raw_.size()) < raw_capacity_; });
    if (failed()) return false;
    raw_.push_back(std::move(chunk));
    cv_.notify_all();
    return true;
  }
  void CloseRaw() {
    std::lock_guard<std::mutex> lock(mu_);
    raw_closed_ = true;
    cv_.notify_all();
  }

  // Worker side: false when there is no more work.
  bool PopRaw(RawChunk* chunk) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return failed() || !raw_.empty() || raw_closed_; });
    if (failed() || raw_.empty()) return false;
    *chunk = std::move(raw_.front());
    raw_.pop_front();
    cv_.notify_all();
    return true;
  }
  // Waits while the chunk is too far ahead of the writer; the chunk the writer needs next is
  // never held back, so this cannot deadlock.
  bool PushEncoded(EncodedChunk chunk) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return failed() || chunk.sequence - next_to_write_ < window_; });
    if (failed()) return false;
    encoded_.emplace(chunk.sequence, std::move(chunk));
    cv_.notify_all();
    return true;
  }
  void WorkerDone() {
    std::lock_guard<std::mutex> lock(mu_);
    ++workers_done_;
    cv_.notify_all();
  }

  // Writer side: false at the end (all workers done and nothing left) or on failure.
  bool PopNext(EncodedChunk* chunk, int workers) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] {
      return failed() || encoded_.count(next_to_write_) > 0 || workers_done_ == workers;
    });
    if (failed()) return false;
    auto it = encoded_.find(next_to_write_);
    if (it == encoded_.end()) return false;
    *chunk = std::move(it->second);
    encoded_.erase(it);
    ++next_to_write_;
    cv_.notify_all();
    return true;
  }

  void Fail(absl::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    if (status_.ok()) status_ = std::move(status);
    cv_.notify_all();
  }
  absl::Status status() {
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
  }

 private:
  bool failed() const { return !status_.ok(); }

  const int64_t window_;
  const int raw_capacity_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<RawChunk> raw_;
  bool raw_closed_ = false;
  std::map<int64_t, EncodedChunk> encoded_;
  int64_t next_to_write_ = 0;
  int workers_done_ = 0;
  absl::Status status_;
};

}  // namespace

absl::Status EncodePairs(PairSource& source, const data::Vocabulary& source_vocab,
                         const data::Vocabulary& target_vocab, const EncodeOptions& options,
                         const std::function<absl::Status(const EncodedChunk&)>& sink) {
  const int threads = std::max(1, options.threads);
  Pipeline pipeline(threads);

  std::thread reader([&] {
    for (int64_t sequence = 0;; ++sequence) {
      RawChunk chunk;
      chunk.sequence = sequence;
      absl::StatusOr<bool> more = false;
      try {
        more = source.NextChunk(options.chunk_pairs, &chunk.pairs);
      } catch (const std::exception& e) {
        more = absl::InternalError(absl::StrCat("reading failed: ", e.what()));
      }
      if (!more.ok()) {
        pipeline.Fail(more.status());
        break;
      }
      if (!*more || !pipeline.PushRaw(std::move(chunk))) break;
    }
    pipeline.CloseRaw();
  });

  std::vector<std::thread> workers;
  for (int w = 0; w < threads; ++w) {
    workers.emplace_back([&] {
      // An exception must not escape a thread (std::terminate); it ends the run as an error.
      try {
        RawChunk raw;
        while (pipeline.PopRaw(&raw)) {
          EncodedChunk encoded;
          encoded.sequence = raw.sequence;
          encoded.source.resize(raw.pairs.size());
          encoded.target.resize(raw.pairs.size());
          for (size_t i = 0; i < raw.pairs.size(); ++i) {
            source_vocab.Encode(raw.pairs[i].source, &encoded.source[i]);
            target_vocab.Encode(raw.pairs[i].target, &encoded.target[i]);
          }
          raw.pairs.clear();
          if (!pipeline.PushEncoded(std::move(encoded))) break;
        }
      } catch (const std::exception& e) {
        pipeline.Fail(absl::InternalError(absl::StrCat("encoding thread failed: ", e.what())));
      }
      pipeline.WorkerDone();
    });
  }

  EncodedChunk chunk;
  while (pipeline.PopNext(&chunk, threads)) {
    absl::Status written;
    try {
      written = sink(chunk);
    } catch (const std::exception& e) {
      written = absl::InternalError(absl::StrCat("writing encoded data failed: ", e.what()));
    }
    if (!written.ok()) {
      pipeline.Fail(std::move(written));
      break;
    }
  }
  reader.join();
  for (auto& worker : workers) worker.join();
  return pipeline.status();
}

}  // namespace fathom::prepare
