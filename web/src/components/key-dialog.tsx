import { useEffect, useRef, useState } from "preact/hooks";
import { setKeyAsker } from "../api/auth";

/**
 * The modal that asks for the API key when the API answers 401 (auth on). It registers itself as the key
 * asker; the key then goes to sessionStorage and out as `Authorization: Bearer`.
 */
export function KeyDialog() {
  const dialog = useRef<HTMLDialogElement>(null);
  const input = useRef<HTMLInputElement>(null);
  const resolver = useRef<((key: string | null) => void) | undefined>(undefined);
  const [value, setValue] = useState("");

  useEffect(() => {
    setKeyAsker(
      () =>
        new Promise<string | null>((resolve) => {
          resolver.current = resolve;
          setValue("");
          dialog.current?.showModal();
          input.current?.focus();
        }),
    );
    return () => setKeyAsker(undefined);
  }, []);

  const finish = (key: string | null) => {
    const resolve = resolver.current;
    resolver.current = undefined;
    if (dialog.current?.open) dialog.current.close();
    resolve?.(key);
  };

  return (
    <dialog ref={dialog} class="key-dialog" aria-labelledby="key-title" onClose={() => finish(null)}>
      <form
        method="dialog"
        onSubmit={(e) => {
          e.preventDefault();
          finish(value);
        }}
      >
        <h2 id="key-title">API key needed</h2>
        <p>
          This server asks for an API key. It is kept for this tab only (sessionStorage) and sent as{" "}
          <code>Authorization: Bearer</code>.
        </p>
        <label for="api-key">API key</label>
        <input
          id="api-key"
          ref={input}
          type="password"
          autocomplete="off"
          required
          value={value}
          onInput={(e) => setValue(e.currentTarget.value)}
        />
        <div class="actions">
          <button type="button" class="secondary" onClick={() => finish(null)}>
            Cancel
          </button>
          <button type="submit">Use key</button>
        </div>
      </form>
    </dialog>
  );
}
