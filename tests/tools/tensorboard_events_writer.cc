// Writes TensorBoard scalars with trainer/event_writer.h for
// tests/tools/tensorboard_reader_test.py, which reads them back with TensorBoard's own reader.
//
//   tensorboard_events_writer DIR
//
// Three writers in turn append to DIR, as a run and two quick resumes do (the later ones start in
// the same second, most likely, and take the next free name). The first writes half its scalars,
// flushes, prints "flushed" and waits for a line on stdin before writing the rest, so that the
// reader can be checked on a file still being written. Every scalar is printed as it is handed
// over, "scalar<TAB>TAG<TAB>STEP<TAB>VALUE" (VALUE as %.17g, or nan, inf, -inf), and each file
// as "file<TAB>PATH".
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "trainer/event_writer.h"

namespace {

struct Scalar {
  std::string tag;
  int64_t step;
  double value;
};

std::vector<Scalar> Scalars(int writer) {
  std::vector<Scalar> scalars;
  // A loss-like curve and a schedule-like rate, steps continuing from one writer to the next.
  for (int64_t step = 1 + 40 * writer; step <= 40 * (writer + 1); ++step) {
    scalars.push_back({"train/loss", step, 7.0 * std::exp(-step / 30.0) + 0.01 * (step % 7)});
    scalars.push_back({"train/lr", step, 7e-4 * std::min(1.0, step / 10.0) / std::sqrt(step)});
  }
  if (writer == 0) {
    // Values at the edges of a float (simple_value is one), signs, and odd tags, at steps of
    // their own.
    const double inf = std::numeric_limits<double>::infinity();
    const std::vector<double> edges = {0.0,
                                       -0.0,
                                       -0.5,
                                       1e-30,
                                       1.401298464324817e-45,
                                       3.4e38,
                                       -3.4e38,
                                       0.1,
                                       1.0 / 3,
                                       123456789.0,
                                       inf,
                                       -inf,
                                       std::numeric_limits<double>::quiet_NaN()};
    for (size_t i = 0; i < edges.size(); ++i) {
      scalars.push_back({"edge/value", static_cast<int64_t>(i), edges[i]});
    }
    scalars.push_back({"valid/bleu_de→en (ÄÖÜ)", 1000, 23.66});
    scalars.push_back({std::string(300, 'x'), 1000000000000, 3.0});  // two-byte record length
    scalars.push_back({"step/huge", std::numeric_limits<int64_t>::max(), 1.0});
  }
  return scalars;
}

std::string Text(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.17g", value);
  return buffer;
}

bool Write(fathom::trainer::EventWriter& writer, const Scalar& s) {
  const absl::Status status = writer.AddScalar(s.tag, s.value, s.step);
  if (!status.ok()) {
    std::cerr << status.message() << "\n";
    return false;
  }
  std::cout << "scalar\t" << s.tag << "\t" << s.step << "\t" << Text(s.value) << "\n";
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: tensorboard_events_writer DIR\n";
    return 2;
  }
  for (int w = 0; w < 3; ++w) {
    auto writer = fathom::trainer::EventWriter::Create(argv[1]);
    if (!writer.ok()) {
      std::cerr << writer.status().message() << "\n";
      return 1;
    }
    std::cout << "file\t" << (*writer)->path() << "\n";
    const std::vector<Scalar> scalars = Scalars(w);
    for (size_t i = 0; i < scalars.size(); ++i) {
      if (!Write(**writer, scalars[i])) return 1;
      if (w == 0 && i + 1 == scalars.size() / 2) {
        if (!(*writer)->Flush().ok()) return 1;
        std::cout << "flushed" << std::endl;
        std::string line;
        std::getline(std::cin, line);
      }
    }
    if (!(*writer)->Flush().ok()) return 1;
  }
  std::cout << std::flush;
  return 0;
}
