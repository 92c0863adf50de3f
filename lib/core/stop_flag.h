// Cooperative stop: a signal handler (cluster/) sets the flag; long loops poll it between steps, save
// what is complete and return, so that the run exits with kExitResume instead of losing work.
#pragma once

namespace fq {

void request_stop(int signal_number);
bool stop_requested();
int stop_signal();  // the signal that asked to stop, 0 when none
void clear_stop();  // for tests

}  // namespace fq
