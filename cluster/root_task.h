// Work that one rank does for everyone (create the run directory, check the manifest) with errors that
// reach every rank: the root runs `task`; if it throws fq::Error, every rank throws the same message, so
// that the job fails the same way everywhere instead of leaving ranks waiting.
#pragma once

#include <functional>

namespace fq::cluster {

class MpiWorld;

void run_on_root(const MpiWorld& world, const std::function<void()>& task);

}  // namespace fq::cluster
