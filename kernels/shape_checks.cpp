#include "kernels/shape_checks.h"

#include <sstream>

#include "lib/core/error.h"

namespace fq::kernels {
namespace {

std::string sizes_text(std::initializer_list<int64_t> sizes) {
  std::ostringstream out;
  out << "[";
  bool first = true;
  for (int64_t s : sizes) {
    out << (first ? "" : ", ") << (s < 0 ? std::string("*") : std::to_string(s));
    first = false;
  }
  out << "]";
  return out.str();
}

}  // namespace

void check_rank(const at::Tensor& t, int64_t rank, const char* op, const char* name) {
  FQ_CHECK(t.defined(), op, ": tensor '", name, "' is missing");
  FQ_CHECK(t.dim() == rank, op, ": tensor '", name, "' must have ", rank, " dimensions, got shape ", t.sizes());
}

void check_shape(const at::Tensor& t, std::initializer_list<int64_t> expected, at::ScalarType dtype, const char* op,
                 const char* name) {
  FQ_CHECK(t.defined(), op, ": tensor '", name, "' is missing (expected ", sizes_text(expected), ")");
  bool ok = t.dim() == static_cast<int64_t>(expected.size());
  int64_t d = 0;
  for (int64_t s : expected) {
    if (ok && s >= 0 && t.size(d) != s) ok = false;
    ++d;
  }
  FQ_CHECK(ok, op, ": tensor '", name, "' has shape ", t.sizes(), ", expected ", sizes_text(expected));
  FQ_CHECK(t.scalar_type() == dtype, op, ": tensor '", name, "' has dtype ", t.scalar_type(), ", expected ", dtype);
}

void check_same_device(const at::Tensor& t, const at::Tensor& like, const char* op, const char* name,
                       const char* like_name) {
  FQ_CHECK(t.device() == like.device(), op, ": tensor '", name, "' is on ", t.device(), " but '", like_name,
           "' is on ", like.device());
}

}  // namespace fq::kernels
