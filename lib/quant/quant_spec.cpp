#include "lib/quant/quant_spec.h"

#include "lib/core/error.h"

namespace fq::quant {

void QuantSpec::validate(const std::string& where) const {
  FQ_CHECK(bits == 16 || (bits >= 2 && bits <= 8), where, ": bits must be 2..8 or 16 (off), got ", bits);
  FQ_CHECK(group_size >= 0, where, ": group size must be >= 0 (0 = whole row), got ", group_size);
}

void QuantSpec::validate_for(int64_t last_dim, const std::string& where) const {
  validate(where);
  FQ_CHECK(group_size == 0 || last_dim % group_size == 0, where, ": group size ", group_size,
           " does not divide the dimension ", last_dim);
}

}  // namespace fq::quant
