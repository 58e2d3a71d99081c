import { useEffect, useState } from "preact/hooks";
import { storedKey } from "../api/auth";
import { authFetch } from "../api/client";

/**
 * An image of the API. With a stored key it is fetched with the key and shown from a blob URL (an
 * `<img>` cannot send headers); without one (auth off, or Basic credentials the browser sends itself) the
 * URL is used as it is.
 */
export function AuthImage({ src, alt, class: className }: { src: string; alt: string; class?: string }) {
  const withKey = storedKey() !== null;
  const [url, setUrl] = useState<string | undefined>(withKey ? undefined : src);
  const [failed, setFailed] = useState(false);

  useEffect(() => {
    setFailed(false);
    if (!withKey) {
      setUrl(src);
      return;
    }
    const controller = new AbortController();
    let objectUrl: string | undefined;
    authFetch(src, { signal: controller.signal })
      .then(async (res) => {
        if (!res.ok) throw new Error(String(res.status));
        objectUrl = URL.createObjectURL(await res.blob());
        if (!controller.signal.aborted) setUrl(objectUrl);
      })
      .catch(() => {
        if (!controller.signal.aborted) setFailed(true);
      });
    return () => {
      controller.abort();
      if (objectUrl) URL.revokeObjectURL(objectUrl);
    };
  }, [src, withKey]);

  if (failed) {
    return (
      <span class={`thumb missing ${className ?? ""}`} role="img" aria-label={`${alt} (not available)`}>
        ?
      </span>
    );
  }
  return url ? (
    <img
      class={`thumb ${className ?? ""}`}
      src={url}
      alt={alt}
      loading="lazy"
      onError={() => setFailed(true)}
    />
  ) : (
    <span class={`thumb loading ${className ?? ""}`} role="img" aria-label={`${alt} (loading)`} />
  );
}
