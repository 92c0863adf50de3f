// Resident memory of this process from /proc/self/status, for tests that bound what a reader keeps.
#pragma once

#include <cstdint>

namespace fq::test {

std::int64_t rss_bytes();       // VmRSS: resident now (anonymous memory plus mapped file pages)
std::int64_t peak_rss_bytes();  // VmHWM: the high-water mark of VmRSS since start or the last reset
// Resets VmHWM to the current VmRSS (writes 5 to /proc/self/clear_refs), so a test can measure the peak
// of one phase; throws when the kernel refuses.
void reset_peak_rss();

}  // namespace fq::test
