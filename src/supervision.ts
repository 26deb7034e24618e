// What a supervising process (kuma-dp, or any parent) can ask of the agent: a readiness line on a file
// descriptor it passed, and shutting down when it goes away, however it died.
import { closeSync, fstatSync, writeSync } from 'node:fs';

/** Twice a second: a parent's death is noticed well within the two seconds supervisors are promised. */
export const PARENT_POLL_MS = 500;

/**
 * Whether `fd` is open on something a line can be written to: a pipe, a socket, a file or a terminal.
 * This keeps a wrong number off the runtime's own event-loop descriptors (epoll, eventfd).
 */
export function isWritableFd(fd: number): boolean {
  try {
    const st = fstatSync(fd);
    return st.isFIFO() || st.isSocket() || st.isFile() || st.isCharacterDevice();
  } catch {
    return false;
  }
}

/**
 * Writes one line to the supervisor's descriptor, then closes it (stdout and stderr stay open), so a
 * supervisor reading to the end of its pipe learns readiness, or failure by EOF without a line.
 */
export function writeReadyLine(fd: number, line: string): void {
  try {
    writeSync(fd, `${line}\n`);
  } finally {
    if (fd > 2) closeSync(fd);
  }
}

/**
 * Calls `onGone` once when this process is re-parented, which is how the death of the parent shows on
 * Unix (even by SIGKILL, which leaves the parent no chance to say anything). Returns a stop function.
 * A process whose parent is already init (pid 1, or 0 for a container's first process) has nothing to
 * watch: `undefined` is returned.
 */
export function watchParent(onGone: (formerParent: number) => void, intervalMs = PARENT_POLL_MS): (() => void) | undefined {
  const parent = process.ppid;
  if (parent <= 1) return undefined;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onGone(parent);
  }, intervalMs);
  // The watch itself must never keep a process alive.
  timer.unref();
  return () => clearInterval(timer);
}
