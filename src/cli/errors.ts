/** The exit codes a script can rely on (documented in `transfer --help`). */
export const ExitCode = {
  /** Success. */
  ok: 0,
  /** The server answered with an error (4xx/5xx), or a file of the request was refused. */
  refused: 1,
  /** Bad command line (unknown command or option, bad value, missing file). */
  usage: 2,
  /** The job or dataset waited for ended `failed` or `cancelled`. */
  ended: 3,
  /** No answer from the server: it could not be reached or the connection was lost. */
  unreachable: 4,
  /** Interrupted (Ctrl-C); a job being followed keeps running on the server. */
  interrupted: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** An error the CLI reports as `error: CODE: message` and exits with `exitCode`. */
export class CliError extends Error {
  /** Whether the error is already on stdout as part of a `--json` line (no separate `{"error"}` line). */
  recorded = false;

  constructor(
    readonly exitCode: ExitCodeValue,
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Exit 2: the command line asks for something impossible. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(ExitCode.usage, "USAGE", message);
  }
}

/** Exit 1: the server answered with an error status and (usually) the API's `{error: {code, message}}`. */
export class ApiError extends CliError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    /** Seconds to wait before retrying (`Retry-After`), when the server said. */
    readonly retryAfter?: number,
  ) {
    super(ExitCode.refused, code, message);
  }
}

/** Exit 4: no HTTP answer (connection refused, unknown host, connection lost). */
export class UnreachableError extends CliError {
  constructor(message: string, cause?: unknown) {
    super(ExitCode.unreachable, "UNREACHABLE", message, { cause });
  }
}

/** Exit 3: what was waited for ended failed or cancelled; its outcome has already been printed. */
export class EndedError extends CliError {
  constructor(code: string, message: string) {
    super(ExitCode.ended, code, message);
  }
}

/** Exit 1 after partial output: some items of a command failed and were reported one by one. */
export class PartialFailure extends CliError {
  constructor(message: string) {
    super(ExitCode.refused, "PARTIAL_FAILURE", message);
  }
}
