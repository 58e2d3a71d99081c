import type { ComponentChildren } from "preact";
import { storedKey, storeKey } from "../api/auth";
import { href } from "../lib/router";
import { KeyDialog } from "./key-dialog";

const SECTIONS = [
  { id: "datasets", label: "Datasets" },
  { id: "jobs", label: "Jobs" },
  { id: "models", label: "Models" },
] as const;

/** The frame of every page: skip link, header with the navigation, the page, the key dialog. */
export function AppShell({ section, children }: { section: string; children: ComponentChildren }) {
  return (
    <>
      <button type="button" class="skip-link" onClick={skipToMain}>
        Skip to content
      </button>
      <header class="top">
        <a class="brand" href={href("datasets")}>
          Transfer server
        </a>
        <nav aria-label="Main">
          <ul>
            {SECTIONS.map((s) => (
              <li key={s.id}>
                <a href={href(s.id)} aria-current={section === s.id ? "page" : undefined}>
                  {s.label}
                </a>
              </li>
            ))}
            <li>
              <a href="/docs">API docs</a>
            </li>
          </ul>
        </nav>
        {storedKey() && (
          <button
            type="button"
            class="link"
            onClick={() => {
              storeKey(null);
              window.location.reload();
            }}
          >
            Forget key
          </button>
        )}
      </header>
      <main id="main" class="page" tabIndex={-1}>
        {children}
      </main>
      <KeyDialog />
    </>
  );
}

/** The skip link is a button: a `#main` link would change the hash, which is the router's. */
function skipToMain(): void {
  document.getElementById("main")?.focus();
}
