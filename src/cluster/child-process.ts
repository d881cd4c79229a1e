/** Stopping a child process the same way everywhere: SIGTERM, then SIGKILL if it outlives the bound. */
import type { ChildProcess } from "node:child_process";

export async function stopChild(child: ChildProcess | undefined, timeoutMs = 5000): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  await exited;
  clearTimeout(timer);
}
