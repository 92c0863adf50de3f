// Access to ../shared (models, goldens, corpus) from tests. Tests that need it skip with a message
// naming the expected path when it is absent; configure with -DFLATQUANT_SHARED_DIR=... to point elsewhere.
#pragma once

#include <string>

namespace fq::test {

// The configured shared directory (FLATQUANT_SHARED_DIR, overridable at run time by $FLATQUANT_SHARED_DIR).
std::string shared_dir();
bool shared_available();
// Absolute path of `relative` inside the shared directory.
std::string shared_path(const std::string& relative);
// A fresh empty directory under the build tree for one test; removed at the next call with the same name.
std::string scratch_dir(const std::string& name);
// The `flatquant` binary of this build.
std::string flatquant_binary();

}  // namespace fq::test

// Skips the current test when ../shared is missing, saying where it was looked for.
#define FQ_REQUIRE_SHARED()                                                                          \
  do {                                                                                               \
    if (!::fq::test::shared_available())                                                             \
      GTEST_SKIP() << "shared reference material not found at '" << ::fq::test::shared_dir()        \
                   << "' (configure with -DFLATQUANT_SHARED_DIR=... or set $FLATQUANT_SHARED_DIR)"; \
  } while (0)
