#!/usr/bin/env node
// The `transfer` command: the CLI's TypeScript sources run through tsx (a runtime dependency).
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/main.ts");
const code = await main(process.argv);
// Exit once stdout has taken everything (pipes can be asynchronous), without waiting for idle sockets.
process.stdout.write("", () => process.exit(code));
