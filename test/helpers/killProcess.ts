import type { ChildProcess } from 'node:child_process';

/** SIGKILL (an outage, not a shutdown), resolved once the process has exited; nothing if it already has. */
export async function killProcess(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolveExit) => child.once('exit', resolveExit));
  child.kill('SIGKILL');
  await exited;
}
