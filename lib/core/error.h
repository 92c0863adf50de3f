// Error reporting for the whole project.
//
// Two kinds of failure (after faiss): bad input from the user or from files (missing checkpoint, wrong
// shape, unknown config key) throws fq::Error with a message naming the file, tensor or key; a broken
// internal invariant is a bug and aborts through FQ_ASSERT with file:line.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace fq {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Concatenates any streamable values: fq::str("layer ", 3, " of ", n).
template <typename... Args>
std::string str(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

namespace detail {
[[noreturn]] void assert_fail(const char* cond, const char* file, int line, const std::string& message);
}  // namespace detail

}  // namespace fq

// Bad input: throws fq::Error(message). The message must say what is wrong and with what.
#define FQ_CHECK(cond, ...)                        \
  do {                                             \
    if (!(cond)) throw ::fq::Error(::fq::str(__VA_ARGS__)); \
  } while (0)

// Internal invariant: prints the condition with file:line and aborts.
#define FQ_ASSERT(cond, ...)                                                              \
  do {                                                                                    \
    if (!(cond)) ::fq::detail::assert_fail(#cond, __FILE__, __LINE__, ::fq::str("", ##__VA_ARGS__)); \
  } while (0)
