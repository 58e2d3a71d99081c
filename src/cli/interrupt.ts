import { ExitCode } from "./errors.js";
import type { Output } from "./output.js";

/** What to tell the person when they press Ctrl-C now, and what to add to the `--json` error line. */
export interface InterruptNote {
  message: string;
  details?: Record<string, unknown>;
}

let current: (() => InterruptNote) | undefined;
let installed = false;

/**
 * Sets what Ctrl-C says while a long operation runs (e.g. how to reattach to a job); the returned function
 * takes it back.
 */
export function onInterrupt(note: () => InterruptNote): () => void {
  current = note;
  return () => {
    if (current === note) current = undefined;
  };
}

/**
 * On SIGINT (Ctrl-C): stops any bar (the cursor comes back), prints the operation's note (a job being
 * followed keeps running on the server) and exits 130. SIGTERM likewise, exiting 143.
 */
export function installInterruptHandler(out: Output): void {
  if (installed) return;
  installed = true;
  let handled = false;
  const handle = (code: number) => {
    if (handled) return;
    handled = true;
    out.stopBars();
    const note = current?.() ?? { message: "interrupted" };
    out.interrupted(note.message, note.details);
    process.exit(code);
  };
  process.on("SIGINT", () => handle(ExitCode.interrupted));
  process.on("SIGTERM", () => handle(128 + 15));
}
