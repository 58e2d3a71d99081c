import Type, { type TSchema } from "typebox";
import { BadRequestError } from "../errors.js";

/** `?limit=&cursor=` of every collection GET (API.md "Lists"). */
export const PageQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 50, description: "Items per page" }),
  cursor: Type.Optional(
    Type.String({ minLength: 1, maxLength: 400, description: "`nextCursor` of the previous page" }),
  ),
});

/** A page of a collection: `items` newest first, and the cursor of the next page (null on the last). */
export function PageOf<T extends TSchema>(item: T, title: string) {
  return Type.Object(
    { items: Type.Array(item), nextCursor: Type.Union([Type.String(), Type.Null()]) },
    { title },
  );
}

/** A record that can be listed newest first: ties on `createdAt` are broken by `id`. */
export interface Listed {
  id: string;
  createdAt: string;
}

/** Sort key of a record (`createdAt|id`): newest first means largest key first. */
export function keyOf(r: Listed): string {
  return `${r.createdAt}|${r.id}`;
}

/** Decodes a cursor into the sort key of the last item of the previous page. */
export function cursorKey(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  const key = Buffer.from(cursor, "base64url").toString("utf8");
  if (!/^\d{4}-\d\d-\d\dT[\d:.]+Z\|[A-Za-z0-9_-]{1,128}$/.test(key)) {
    throw new BadRequestError("invalid cursor: pass the nextCursor of a previous page", "INVALID_CURSOR");
  }
  return key;
}

/**
 * A page from at most `limit + 1` records already in list order after the cursor: the first `limit`, and
 * a cursor when there were more.
 */
export function pageFrom<T extends Listed>(
  fetched: T[],
  limit: number,
): { items: T[]; nextCursor: string | null } {
  const items = fetched.slice(0, limit);
  const more = fetched.length > limit;
  return {
    items,
    nextCursor: more ? Buffer.from(keyOf(items[items.length - 1]), "utf8").toString("base64url") : null,
  };
}

/**
 * One page of `records` (any order): sorted newest first, the ones after `cursor`, at most `limit`.
 *
 * @throws BadRequestError `INVALID_CURSOR` for a cursor this function did not make.
 */
export function paginate<T extends Listed>(
  records: T[],
  limit: number,
  cursor: string | undefined,
): { items: T[]; nextCursor: string | null } {
  const after = cursorKey(cursor);
  const sorted = records
    .map((r) => ({ r, k: keyOf(r) }))
    .filter(({ k }) => after === undefined || k < after)
    .sort((a, b) => (a.k < b.k ? 1 : a.k > b.k ? -1 : 0));
  return pageFrom(
    sorted.slice(0, limit + 1).map(({ r }) => r),
    limit,
  );
}
