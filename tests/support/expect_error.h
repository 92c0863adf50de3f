// Checks that bad input is refused with a message that names what broke (the file, the tensor, the field).
#pragma once

#include <initializer_list>
#include <string>

#include <gtest/gtest.h>

#include "lib/core/error.h"

namespace fq::test {

// Runs `fn` and expects an fq::Error whose message contains every string of `parts`.
template <typename Fn>
void expect_error(Fn&& fn, std::initializer_list<std::string> parts) {
  try {
    fn();
    std::string wanted;
    for (const std::string& part : parts) wanted += " '" + part + "'";
    ADD_FAILURE() << "expected an fq::Error mentioning" << wanted << "; nothing was thrown";
  } catch (const Error& e) {
    const std::string message = e.what();
    for (const std::string& part : parts) {
      EXPECT_NE(message.find(part), std::string::npos) << "error message lacks '" << part << "': " << message;
    }
  }
}

}  // namespace fq::test
