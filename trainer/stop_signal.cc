#include "trainer/stop_signal.h"

#include <signal.h>

#include <atomic>
#include <mutex>

namespace fathom::trainer {
namespace {

// Written by the handler, read by the loop: a lock-free atomic is async-signal-safe.
std::atomic<int> g_received{0};
// Live StopSignal objects: the first installs the handlers, the last restores the previous ones.
std::mutex g_mutex;
int g_live = 0;
struct sigaction g_previous_term, g_previous_usr1;

void RecordSignal(int signal_number) {
  int none = 0;
  g_received.compare_exchange_strong(none, signal_number);
}

}  // namespace

StopSignal::StopSignal() {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_live++ > 0) return;
  g_received.store(0);
  struct sigaction action = {};
  action.sa_handler = RecordSignal;
  sigemptyset(&action.sa_mask);
  // SA_RESTART: a read() or MPI poll in progress carries on; the loop looks at the flag.
  action.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &action, &g_previous_term);
  sigaction(SIGUSR1, &action, &g_previous_usr1);
}

StopSignal::~StopSignal() {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (--g_live > 0) return;
  sigaction(SIGTERM, &g_previous_term, nullptr);
  sigaction(SIGUSR1, &g_previous_usr1, nullptr);
}

int StopSignal::received() const { return g_received.load(); }

const char* SignalName(int signal_number) {
  switch (signal_number) {
    case SIGTERM:
      return "SIGTERM";
    case SIGUSR1:
      return "SIGUSR1";
    case SIGINT:
      return "SIGINT";
    default:
      return "a signal";
  }
}

}  // namespace fathom::trainer
