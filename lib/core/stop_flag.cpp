#include "lib/core/stop_flag.h"

#include <atomic>

namespace fq {
namespace {
// Lock-free atomics are async-signal-safe.
std::atomic<int> g_stop_signal{0};
static_assert(std::atomic<int>::is_always_lock_free);
}  // namespace

void request_stop(int signal_number) { g_stop_signal.store(signal_number == 0 ? -1 : signal_number); }
bool stop_requested() { return g_stop_signal.load() != 0; }
int stop_signal() { return g_stop_signal.load() < 0 ? 0 : g_stop_signal.load(); }
void clear_stop() { g_stop_signal.store(0); }

}  // namespace fq
