#include "lib/store/activation_layout.h"

#include "lib/core/error.h"

namespace fq::store {

std::string ActivationShape::to_string() const { return str("[", nsamples, ", ", seqlen, ", ", hidden, "]"); }

}  // namespace fq::store
