// Process exit codes shared by every subcommand and documented in the README.
#pragma once

namespace fq {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;  // bad input or a failed run: the message names the cause
constexpr int kExitUsage = 2;    // unknown flag, bad flag value, missing required flag
// Stopped on request (SIGTERM/SIGUSR1, preemption) after saving all completed work: run the same
// command again to resume. 75 is EX_TEMPFAIL from sysexits.h ("try again later").
constexpr int kExitResume = 75;

}  // namespace fq
