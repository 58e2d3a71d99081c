import path from "node:path";

/** Media types of the image files the server stores and takes, by lower-case extension. */
export const IMAGE_MEDIA_TYPES: Readonly<Record<string, string>> = {
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".png": "image/png",
  ".webp": "image/webp",
  ".gif": "image/gif",
  ".tif": "image/tiff",
  ".tiff": "image/tiff",
};

/** The media type of an image file by its extension; `application/octet-stream` for others. */
export function imageMediaType(file: string): string {
  return IMAGE_MEDIA_TYPES[path.extname(file).toLowerCase()] ?? "application/octet-stream";
}
