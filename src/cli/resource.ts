import type { Command, Option } from "commander";
import { type Column, type Paint, table } from "./format.js";
import { intArg, type RuntimeOf, seg } from "./runtime.js";

/** How one kind of resource (datasets, jobs, models) is listed and shown. */
export interface ResourceView<Item extends object, ListItem extends object = Item> {
  /** Plural noun, as in "no datasets". */
  plural: string;
  /** The collection's path, e.g. `/v1/datasets`. */
  path: string;
  /** Name of the id argument, e.g. `datasetId`. */
  idName: string;
  /** What `get` shows, for its help. */
  getDescription: string;
  /** Filters of `list`, each sent as the query parameter of its attribute name. */
  filters?: Option[];
  columns: Column[];
  row: (item: ListItem, paint: Paint) => string[];
  summary: (item: Item, paint: Paint) => string[];
}

/**
 * Adds `list` (every page unless `--limit`, a table or one JSON line per item) and `get` (a summary or the
 * JSON) of a resource to its command group.
 */
export function addListAndGet<Item extends object, ListItem extends object = Item>(
  group: Command,
  runtimeOf: RuntimeOf,
  view: ResourceView<Item, ListItem>,
): void {
  const list = group
    .command("list")
    .description(`list ${view.plural}, newest first (all pages unless --limit)`);
  for (const filter of view.filters ?? []) list.addOption(filter);
  list
    .option("--limit <n>", "at most this many", intArg(1))
    .action(async (opts: Record<string, string | number | undefined>, cmd: Command) => {
      const { api, out } = runtimeOf(cmd);
      const query = Object.fromEntries(
        (view.filters ?? []).map((f) => [f.attributeName(), opts[f.attributeName()] as string | undefined]),
      );
      const rows: ListItem[] = [];
      for await (const item of api.list<ListItem>(view.path, query, opts.limit as number | undefined)) {
        out.record(item);
        rows.push(item);
      }
      if (rows.length === 0) return out.print(`no ${view.plural}`);
      out.print(
        ...table(
          view.columns,
          rows.map((item) => view.row(item, out.paint)),
          out.paint,
        ),
      );
    });

  group
    .command("get")
    .description(view.getDescription)
    .argument(`<${view.idName}>`)
    .action(async (id: string, _opts: object, cmd: Command) => {
      const { api, out } = runtimeOf(cmd);
      const item = await api.get<Item>(`${view.path}/${seg(id)}`);
      out.record(item);
      out.print(...view.summary(item, out.paint));
    });
}

/** Adds `rm` of a resource whose DELETE answers 204. */
export function addRemove(
  group: Command,
  runtimeOf: RuntimeOf,
  spec: { noun: string; path: string; idName: string; description: string },
): void {
  group
    .command("rm")
    .description(spec.description)
    .argument(`<${spec.idName}>`)
    .action(async (id: string, _opts: object, cmd: Command) => {
      const { api, out } = runtimeOf(cmd);
      await api.request("DELETE", `${spec.path}/${seg(id)}`, { retry: true });
      out.record({ id, deleted: true });
      out.print(`deleted ${spec.noun} ${id}`);
    });
}
