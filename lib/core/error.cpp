#include "lib/core/error.h"

#include <cstdio>
#include <cstdlib>

namespace fq::detail {

void assert_fail(const char* cond, const char* file, int line, const std::string& message) {
  std::fprintf(stderr, "flatquant internal error (%s:%d): assertion `%s` failed%s%s\n", file, line, cond,
               message.empty() ? "" : ": ", message.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace fq::detail
