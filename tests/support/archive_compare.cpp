#include "tests/support/archive_compare.h"

#include <ATen/ATen.h>

#include "lib/store/tensor_archive_reader.h"

namespace fq::test {

std::string archive_difference(const std::string& a, const std::string& b) {
  store::TensorArchiveReader ra(a), rb(b);
  const auto names_a = ra.all_datasets(), names_b = rb.all_datasets();
  if (names_a != names_b) {
    return "the archives hold different datasets (" + std::to_string(names_a.size()) + " vs " +
           std::to_string(names_b.size()) + ")";
  }
  for (const std::string& name : names_a) {
    const at::Tensor x = ra.read(name), y = rb.read(name);
    if (x.scalar_type() != y.scalar_type() || x.sizes() != y.sizes()) return "dataset '" + name + "' differs in dtype or shape";
    // Bitwise: compare the raw bytes, so that NaN payloads and -0 count too.
    const at::Tensor bx = x.contiguous().view(at::kByte), by = y.contiguous().view(at::kByte);
    if (!at::equal(bx, by)) return "dataset '" + name + "' differs in value";
  }
  return "";
}

}  // namespace fq::test
