import { promises as dns } from "node:dns";
import { BlockList, isIP } from "node:net";
import { UnprocessableError } from "../errors.js";

/**
 * A webhook URL that may not be called: 422 `WEBHOOK_URL_REFUSED` with the reason. `unresolved`: the host
 * did not resolve (at delivery time a failed attempt worth retrying, not a refusal).
 */
export class WebhookRefusedError extends UnprocessableError {
  constructor(
    message: string,
    readonly unresolved = false,
  ) {
    super(message, "WEBHOOK_URL_REFUSED");
  }
}

/** Address ranges a webhook may not reach (without WEBHOOK_ALLOW_PRIVATE), by the name a refusal gives. */
const RANGES: [kind: string, ranges: [network: string, prefix: number][]][] = [
  [
    "unspecified",
    [
      ["0.0.0.0", 8],
      ["::", 128],
    ],
  ],
  [
    "loopback",
    [
      ["127.0.0.0", 8],
      ["::1", 128],
    ],
  ],
  [
    "private (RFC 1918)",
    [
      ["10.0.0.0", 8],
      ["172.16.0.0", 12],
      ["192.168.0.0", 16],
    ],
  ],
  ["carrier-grade NAT (RFC 6598)", [["100.64.0.0", 10]]],
  [
    "link-local",
    [
      ["169.254.0.0", 16],
      ["fe80::", 10],
    ],
  ],
  ["unique-local (RFC 4193)", [["fc00::", 7]]],
  ["site-local (deprecated)", [["fec0::", 10]]],
  [
    "multicast",
    [
      ["224.0.0.0", 4],
      ["ff00::", 8],
    ],
  ],
  ["reserved or broadcast", [["240.0.0.0", 4]]],
  ["IETF protocol assignments", [["192.0.0.0", 24]]],
  ["benchmarking (RFC 2544)", [["198.18.0.0", 15]]],
  [
    "documentation",
    [
      ["192.0.2.0", 24],
      ["198.51.100.0", 24],
      ["203.0.113.0", 24],
      ["2001:db8::", 32],
      ["3fff::", 20],
    ],
  ],
  ["6to4 relay anycast", [["192.88.99.0", 24]]],
  ["IPv4-compatible IPv6 (deprecated)", [["::", 96]]],
  ["discard-only", [["100::", 64]]],
  ["local-use NAT64", [["64:ff9b:1::", 48]]],
  ["Teredo", [["2001::", 32]]],
];

const BLOCKS = RANGES.map(([kind, ranges]) => {
  const list = new BlockList();
  for (const [network, prefix] of ranges)
    list.addSubnet(network, prefix, isIP(network) === 6 ? "ipv6" : "ipv4");
  return { kind, list };
});

/** IPv6 forms that carry an IPv4 address, checked as that address: NAT64 (64:ff9b::/96) and 6to4 (2002::/16). */
const NAT64 = new BlockList();
NAT64.addSubnet("64:ff9b::", 96, "ipv6");
const SIX_TO_FOUR = new BlockList();
SIX_TO_FOUR.addSubnet("2002::", 16, "ipv6");

/**
 * Why a webhook may not reach `address` (e.g. `loopback`, `private (RFC 1918)`), or undefined for a public
 * address. IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, `::ffff:a00:1`) are judged as their IPv4 address
 * (net.BlockList does that), as are the IPv4 addresses inside NAT64 and 6to4 addresses. Anything that is
 * not an IP address is refused.
 */
export function classifyAddress(address: string): string | undefined {
  const family = isIP(address);
  if (family === 0) return "not an IP address";
  const type = family === 6 ? "ipv6" : "ipv4";
  for (const { kind, list } of BLOCKS) if (list.check(address, type)) return kind;
  if (family === 6) {
    const embedded = NAT64.check(address, "ipv6")
      ? embeddedV4(address, 6)
      : SIX_TO_FOUR.check(address, "ipv6")
        ? embeddedV4(address, 1)
        : undefined;
    if (embedded) {
      const inner = classifyAddress(embedded);
      if (inner) return `${inner}, embedded in ${address}`;
    }
  }
  return undefined;
}

/** The 16-bit groups of a valid IPv6 address (an IPv4 tail as two groups). */
function groups(address: string): number[] {
  let text = address.toLowerCase();
  const v4 = text.match(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number);
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const parse = (s: string) => (s === "" ? [] : s.split(":").map((g) => Number.parseInt(g, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/** The IPv4 address in groups `at` and `at + 1` of an IPv6 address. */
function embeddedV4(address: string, at: number): string {
  const g = groups(address);
  return [g[at] >> 8, g[at] & 255, g[at + 1] >> 8, g[at + 1] & 255].join(".");
}

/** A webhook URL whose host resolved to an address a delivery may use. */
export interface CheckedTarget {
  url: URL;
  /** The address to connect to (the first the host resolved to; every one of them was checked). */
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to every address (a literal IP address to itself). */
export type Resolver = (host: string) => Promise<{ address: string; family: number }[]>;

const systemResolver: Resolver = (host) => dns.lookup(host, { all: true, verbatim: true });

/**
 * Parses a webhook URL, resolves its host (every address; a literal IP address is itself) and checks every
 * address with {@link classifyAddress}, unless `allowPrivate`. A delivery connects to the returned address
 * only (pinned), so a host that resolves differently later (DNS rebinding) cannot reach another one.
 *
 * @throws WebhookRefusedError for a URL that is not http(s), a host that does not resolve, or a refused
 *   address (the message names it and why).
 */
export async function checkWebhookUrl(
  raw: string,
  { allowPrivate, resolve = systemResolver }: { allowPrivate: boolean; resolve?: Resolver },
): Promise<CheckedTarget> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new WebhookRefusedError(`webhook URL '${raw}' is not a valid URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new WebhookRefusedError(`webhook URL '${raw}' is not http or https`);
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  let addresses: { address: string; family: number }[];
  if (isIP(host) !== 0) addresses = [{ address: host, family: isIP(host) }];
  else {
    try {
      addresses = await resolve(host);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new WebhookRefusedError(`webhook host '${host}' does not resolve (${code})`, true);
    }
  }
  if (addresses.length === 0) throw new WebhookRefusedError(`webhook host '${host}' has no address`, true);
  if (!allowPrivate) {
    for (const { address } of addresses) {
      const kind = classifyAddress(address);
      if (kind) {
        const via = address === host ? "" : ` (host '${host}' resolves to it)`;
        throw new WebhookRefusedError(`webhook address ${address} is ${kind}${via}: refused`);
      }
    }
  }
  const [first] = addresses;
  return { url, address: first.address, family: first.family === 6 ? 6 : 4 };
}
