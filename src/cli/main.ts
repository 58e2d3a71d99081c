import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { registerDatasets } from "./datasets.js";
import { CliError, ExitCode } from "./errors.js";
import { installInterruptHandler } from "./interrupt.js";
import { registerJobs } from "./jobs.js";
import { registerModels } from "./models.js";
import { type CliEnvironment, DEFAULT_URL, readEnvironment, resolveSettings } from "./options.js";
import { Output } from "./output.js";
import { registerPredict } from "./predict.js";
import { apiFor, type Runtime } from "./runtime.js";

const EPILOGUE = `
Environment:
  TRANSFER_URL       server URL (default ${DEFAULT_URL}); --url wins
  TRANSFER_API_KEY   API key, sent as Authorization: Bearer; --key wins
  NO_COLOR           no colours

Output:
  Results go to stdout, progress bars and messages to stderr. Bars and colours only when
  stderr is a terminal. With --json, stdout has one JSON object per line; an error is also
  a line {"error": {"code": ..., "message": ...}}.

Exit codes:
  0    success
  1    the server refused or failed the request (4xx/5xx), printed as 'error: CODE: message';
       or some images of 'predict' failed
  2    usage error (unknown command or option, bad value, missing file)
  3    the job or dataset waited for ended failed or cancelled
  4    cannot reach the server (or the connection was lost before an answer)
  130  interrupted (Ctrl-C); a followed job keeps running: 'transfer jobs follow <id>'

Examples:
  transfer datasets push ./flowers --wait
  transfer train ds_123 --epochs 5 --follow
  transfer predict mdl_456 'photos/*.jpg'
  transfer models export mdl_456 -o flowers.onnx`;

/** The package's version, for `--version` and the User-Agent. */
function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
    return String(pkg.version ?? "0.0.0");
  } catch {
    return "0.0.0";
  }
}

/** The `transfer` program with every command; `runtimeOf` builds what the actions run with. */
export function buildProgram(env: CliEnvironment, onRuntime: (rt: Runtime) => void): Command {
  const version = packageVersion();
  const program = new Command("transfer")
    .description("Command-line client of the transfer-learning job server")
    .version(version, "-V, --version", "print the version")
    .option("--url <url>", `server URL (env TRANSFER_URL, default ${DEFAULT_URL})`)
    .option("--key <key>", "API key, sent as 'Authorization: Bearer <key>' (env TRANSFER_API_KEY)")
    .option("--json", "machine output: one JSON object per line on stdout; no bars, no colours")
    .helpOption("-h, --help", "show help")
    .addHelpText("after", EPILOGUE)
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput({ outputError: () => undefined });
  const runtimeOf = (cmd: Command): Runtime => {
    const settings = resolveSettings(cmd.optsWithGlobals(), env);
    const out = new Output(settings);
    installInterruptHandler(out);
    const rt = { api: apiFor(settings, version), out, settings };
    onRuntime(rt);
    return rt;
  };
  registerDatasets(program, runtimeOf);
  registerJobs(program, runtimeOf);
  registerPredict(program, runtimeOf);
  registerModels(program, runtimeOf);
  return program;
}

/** Runs the CLI on `argv` (process.argv's shape); resolves to the exit code. */
export async function main(argv: string[] = process.argv): Promise<number> {
  const env = readEnvironment();
  let out: Output | undefined;
  const program = buildProgram(env, (rt) => {
    out = rt.out;
  });
  try {
    await program.parseAsync(argv);
    return ExitCode.ok;
  } catch (err) {
    out ??= fallbackOutput(argv, env);
    return report(err, out);
  }
}

/** The output for errors raised before a command built its own (usage errors, a bad --url). */
function fallbackOutput(argv: string[], env: CliEnvironment): Output {
  const json = argv.includes("--json");
  const color = !json && env.stderrIsTTY && !env.noColor && !env.dumbTerminal;
  return new Output({
    baseUrl: new URL(DEFAULT_URL),
    json,
    bars: false,
    color,
    stdoutIsTTY: env.stdoutIsTTY,
  });
}

/** Prints an error the way the exit codes promise; returns the exit code. */
function report(err: unknown, out: Output): number {
  out.stopBars();
  if (err instanceof CommanderError) {
    if (err.code === "commander.helpDisplayed" || err.code === "commander.version") return ExitCode.ok;
    // `commander.help`: a command group without its command; the help is already on stderr.
    const message =
      err.code === "commander.help"
        ? "a command is required"
        : err.message.replace(/^error:\s*/i, "").replace(/\s*\n\s*/g, " ");
    out.error("USAGE", `${message} (see --help)`);
    return ExitCode.usage;
  }
  if (err instanceof CliError) {
    if (err.recorded) out.error(err.code, err.message, {}, false);
    else out.error(err.code, err.message, "status" in err ? { status: err.status } : {});
    return err.exitCode;
  }
  const message = err instanceof Error ? err.message : String(err);
  out.error("INTERNAL", message);
  return ExitCode.refused;
}
