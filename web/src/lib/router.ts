import { useEffect, useState } from "preact/hooks";

/** A parsed hash route: `#/jobs/job_1?datasetId=ds_1` -> `{segments: ["jobs", "job_1"], query}`. */
export interface Route {
  segments: string[];
  query: URLSearchParams;
}

/** Parses a location hash. */
export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#\/?/, "");
  const [pathPart, queryPart = ""] = raw.split("?", 2);
  const segments = pathPart
    .split("/")
    .filter((s) => s !== "")
    .map((s) => decodeURIComponent(s));
  return { segments, query: new URLSearchParams(queryPart) };
}

/** The href of a route: `href("jobs", id)` -> `#/jobs/<id>`. */
export function href(...segments: string[]): string {
  return `#/${segments.map(encodeURIComponent).join("/")}`;
}

/** Goes to a route. */
export function navigate(to: string): void {
  window.location.hash = to.startsWith("#") ? to.slice(1) : to;
}

/** The current route, updated on every hash change. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(window.location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseHash(window.location.hash));
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  return route;
}
