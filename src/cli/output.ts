import cliProgress from "cli-progress";
import { type Paint, paint } from "./format.js";
import type { Settings } from "./options.js";

/** What a bar's line is drawn from. */
export interface BarView<P> {
  /** Done so far, 0..1. */
  fraction: number;
  value: number;
  total: number;
  /** Seconds since the bar started. */
  elapsed: number;
  /** The drawn bar itself (`████░░░░`). */
  bar: string;
  payload: P;
}

/** A progress bar on stderr; only exists when bars are on (see {@link Output.bar}). */
export class ProgressBar<P extends object> {
  private readonly multi: cliProgress.MultiBar;
  private readonly inner: cliProgress.GenericBar;
  private stopped = false;

  constructor(
    private readonly owner: Output,
    render: (view: BarView<P>) => string,
    total: number,
    payload: P,
    stream: NodeJS.WriteStream,
  ) {
    this.multi = new cliProgress.MultiBar({
      stream,
      hideCursor: true,
      clearOnComplete: false,
      linewrap: false,
      barsize: 24,
      barCompleteChar: "\u2588",
      barIncompleteChar: "\u2591",
      format: (options, params, p) => {
        const fraction = Math.min(1, Math.max(0, params.progress || 0));
        return render({
          fraction,
          value: params.value,
          total: params.total,
          elapsed: (Date.now() - params.startTime) / 1000,
          bar: cliProgress.Format.BarFormat(fraction, options),
          payload: p as P,
        });
      },
    });
    this.inner = this.multi.create(Math.max(total, 0), 0, payload);
  }

  /** Moves the bar to `value` of `total` (total unchanged when omitted), with a new payload. */
  update(value: number, total?: number, payload?: Partial<P>): void {
    if (this.stopped) return;
    if (total !== undefined) this.inner.setTotal(Math.max(total, 0));
    this.inner.update(value, payload ?? {});
  }

  /** Draws the line again (after something else was written over it). */
  redraw(): void {
    if (!this.stopped) this.inner.render(true);
  }

  /** Stops the bar where it is and leaves its last line on the screen. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.multi.stop();
    this.owner.released(this);
  }

  /** Completes the bar (value = total, with `payload`) and stops it. */
  finish(payload?: Partial<P>): void {
    if (this.stopped) return;
    this.inner.update(this.inner.getTotal(), payload ?? {});
    this.stop();
  }
}

/**
 * Where the CLI writes: results on stdout (JSON lines with `--json`, else text), bars and messages on
 * stderr. Text written to stdout while a bar is drawn on the same terminal clears the bar's line first and
 * redraws the bar below it, so rows appear above the bar.
 */
export class Output {
  readonly paint: Paint;
  private active: ProgressBar<object> | undefined;

  constructor(
    readonly settings: Settings,
    private readonly stdout: NodeJS.WriteStream = process.stdout,
    private readonly stderr: NodeJS.WriteStream = process.stderr,
  ) {
    this.paint = paint(settings.color);
  }

  get json(): boolean {
    return this.settings.json;
  }

  /** A machine-readable line on stdout, with `--json` only. */
  record(value: object): void {
    if (this.json) this.stdout.write(`${JSON.stringify(value)}\n`);
  }

  /** Human-readable lines on stdout, without `--json` only. */
  print(...lines: string[]): void {
    if (this.json || lines.length === 0) return;
    this.overBar(this.settings.stdoutIsTTY, () => this.stdout.write(`${lines.join("\n")}\n`));
  }

  /** A message for the person on stderr (progress notes, hints), without `--json` only. */
  info(text: string): void {
    if (this.json) return;
    this.overBar(true, () => this.stderr.write(`${text}\n`));
  }

  /** A warning on stderr, in every mode. */
  warn(text: string): void {
    this.overBar(true, () => this.stderr.write(`${this.paint.yellow("warning:")} ${text}\n`));
  }

  /**
   * `error: CODE: message` on stderr; with `--json` also `{"error": {...}}` on stdout (unless `record` is
   * false: the error is already part of a line printed before).
   */
  error(code: string, message: string, extra: Record<string, unknown> = {}, record = true): void {
    this.overBar(true, () =>
      this.stderr.write(`${this.paint.red(this.paint.bold("error:"))} ${code}: ${message}\n`),
    );
    if (record) this.record({ error: { code, message, ...extra } });
  }

  /** Ctrl-C: `message` as it is on stderr; with `--json` also `{"error": {"code": "INTERRUPTED", ...}}`. */
  interrupted(message: string, details: Record<string, unknown> = {}): void {
    this.overBar(true, () => this.stderr.write(`${message}\n`));
    this.record({ error: { code: "INTERRUPTED", message, ...details } });
  }

  /** A progress bar on stderr, or undefined when bars are off (not a terminal, `--json`, TERM=dumb). */
  bar<P extends object>(
    render: (view: BarView<P>) => string,
    total: number,
    payload: P,
  ): ProgressBar<P> | undefined {
    if (!this.settings.bars) return undefined;
    this.active?.stop();
    const bar = new ProgressBar<P>(this, render, total, payload, this.stderr);
    this.active = bar as unknown as ProgressBar<object>;
    return bar;
  }

  /** Stops the bar being drawn, if any (before exiting on Ctrl-C or an error). */
  stopBars(): void {
    this.active?.stop();
  }

  /** Called by a bar when it stops. */
  released(bar: ProgressBar<object>): void {
    if (this.active === bar) this.active = undefined;
  }

  /** Runs `write`; when a bar is drawn and `sameScreen`, clears its line first and redraws it after. */
  private overBar(sameScreen: boolean, write: () => void): void {
    const bar = this.active;
    if (!bar || !sameScreen) {
      write();
      return;
    }
    this.stderr.write("\r\x1b[2K");
    write();
    bar.redraw();
  }
}
