// Stop on request: SIGTERM (preemption, scancel, the time limit), SIGUSR1 (Slurm's warning before the
// time limit, forwarded by the job script) and SIGINT (Ctrl-C) set fq's stop flag (lib/core/stop_flag.h);
// the pipeline checks it at step boundaries, saves what is complete and exits with fq::kExitResume (75).
// A second SIGINT while a stop is pending ends the process at once (exit 130).
#pragma once

namespace fq::cluster {

class MpiWorld;

// Installs the handlers (idempotent). They only store to a lock-free atomic and write(2) one line, both
// async-signal-safe. SA_RESTART keeps interrupted system calls (inside MPI, file I/O) going.
void install_stop_signal_handlers();

// Collective, at a point where all ranks are in step: true on every rank when any rank got a stop
// request. A rank that learns of the stop from another one also sets its own flag, so that later
// stop_requested() checks agree everywhere.
bool any_rank_stop_requested(const MpiWorld& world);

}  // namespace fq::cluster
