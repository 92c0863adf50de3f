// Resident memory of this process from /proc/self/status, for tests that bound what a reader keeps.
#pragma once

#include <cstdint>

namespace fq::test {

std::int64_t rss_bytes();       // VmRSS: resident now (anonymous memory plus mapped file pages)
std::int64_t peak_rss_bytes();  // VmHWM: the high-water mark of VmRSS since the process started

}  // namespace fq::test
