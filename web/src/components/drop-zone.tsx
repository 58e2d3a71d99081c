import { useState } from "preact/hooks";

/**
 * A drop target with a file picker in it: drag a file onto it, or activate the button (keyboard, screen
 * reader) to pick one. Calls `onFile` with the first file.
 */
export function DropZone({
  id,
  label,
  hint,
  accept,
  disabled,
  onFile,
}: {
  id: string;
  label: string;
  hint: string;
  accept: string;
  disabled?: boolean;
  onFile: (file: File) => void;
}) {
  const [over, setOver] = useState(false);
  return (
    <section
      class={`drop-zone${over ? " over" : ""}${disabled ? " disabled" : ""}`}
      aria-label={label}
      data-testid={`${id}-zone`}
      onDragOver={(e) => {
        e.preventDefault();
        if (!disabled) setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={(e) => {
        e.preventDefault();
        setOver(false);
        const file = e.dataTransfer?.files?.[0];
        if (file && !disabled) onFile(file);
      }}
    >
      <p>{hint}</p>
      <input
        id={id}
        class="visually-hidden"
        type="file"
        accept={accept}
        disabled={disabled}
        onChange={(e) => {
          const file = e.currentTarget.files?.[0];
          if (file) onFile(file);
          e.currentTarget.value = "";
        }}
      />
      <label class="button" for={id}>
        {label}
      </label>
    </section>
  );
}
