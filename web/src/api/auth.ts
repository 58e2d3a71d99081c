/**
 * The API key, when the server asks for one: kept in sessionStorage (this tab only) and sent as
 * `Authorization: Bearer <key>`. A 401 asks the person once through the key dialog; concurrent 401s share
 * that one question.
 */

const STORAGE_KEY = "transfer-server.api-key";

type KeyAsker = () => Promise<string | null>;

let asker: KeyAsker | undefined;
let pending: Promise<string | null> | undefined;

/** The stored key, if any. */
export function storedKey(): string | null {
  try {
    return sessionStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

/** Stores (or, with null, forgets) the key. */
export function storeKey(key: string | null): void {
  try {
    if (key) sessionStorage.setItem(STORAGE_KEY, key);
    else sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // Storage refused (private mode): the key lives as long as the page.
  }
}

/** Headers that carry the stored key (none without one: a browser may still send cached Basic credentials). */
export function authHeaders(): Record<string, string> {
  const key = storedKey();
  return key ? { authorization: `Bearer ${key}` } : {};
}

/** Registers what asks the person for a key (the key dialog). */
export function setKeyAsker(fn: KeyAsker | undefined): void {
  asker = fn;
}

/** After a 401: asks for a key (once for all requests waiting), stores it; null when the person declines. */
export function askForKey(): Promise<string | null> {
  if (!asker) return Promise.resolve(null);
  if (!pending) {
    storeKey(null);
    pending = asker().then((key) => {
      pending = undefined;
      const trimmed = key?.trim() || null;
      storeKey(trimmed);
      return trimmed;
    });
  }
  return pending;
}
