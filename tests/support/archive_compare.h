// Compares two HDF5 tensor archives (e.g. two transforms.h5) dataset by dataset, bit for bit: files of the
// same content may still differ in bytes (HDF5 object times), so tests compare what they hold.
#pragma once

#include <string>

namespace fq::test {

// Empty when both archives hold the same dataset names with bitwise-equal tensors; otherwise the first
// difference (a missing dataset, a shape, dtype or value mismatch) as a message.
std::string archive_difference(const std::string& a, const std::string& b);

}  // namespace fq::test
