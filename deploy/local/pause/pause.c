/* The sandbox ("pause") process of every pod on the local cluster (scripts/cluster.sh): it
 * holds the pod's namespaces open, reaps orphaned children (it is PID 1 when the pod shares its
 * PID namespace) and exits on SIGINT/SIGTERM. Our own ~30 lines instead of a pulled image: no
 * registry is reachable here. Built statically (gcc -static) into an image of one file. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) {
  (void)sig;
  _exit(0);
}

static void reap(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  struct sigaction quit = {.sa_handler = stop};
  struct sigaction child = {.sa_handler = reap, .sa_flags = SA_NOCLDSTOP};
  if (sigaction(SIGINT, &quit, NULL) < 0 || sigaction(SIGTERM, &quit, NULL) < 0 ||
      sigaction(SIGCHLD, &child, NULL) < 0)
    return 1;
  for (;;)
    pause();
  return 42; /* not reached */
}
