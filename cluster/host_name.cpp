#include "cluster/host_name.h"

#include <unistd.h>

#include <climits>

namespace fq::cluster {

std::string host_name() {
  char name[HOST_NAME_MAX + 1] = {0};
  if (::gethostname(name, sizeof name - 1) != 0) return "unknown-host";
  return name;
}

}  // namespace fq::cluster
