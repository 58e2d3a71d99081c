import Type from "typebox";

/** The error shape of every non-2xx response. */
export const ErrorSchema = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: "SNAKE_CASE error code" }),
      message: Type.String(),
    }),
  },
  { title: "Error" },
);

/** Response schemas for the given error statuses, all with {@link ErrorSchema}. */
export function errorResponses(...statuses: number[]): Record<number, typeof ErrorSchema> {
  return Object.fromEntries(statuses.map((s) => [s, ErrorSchema]));
}

/**
 * Path parameter `id` of a resource whose ids start with `prefix_`. An id that does not match never
 * reaches Redis or the disk: the error handler answers it 404, as an id that does not exist.
 */
export function idParams(prefix: "ds" | "job" | "mdl") {
  return Type.Object({
    id: Type.String({
      pattern: `^${prefix}_[A-Za-z0-9]{1,64}$`,
      description: `\`${prefix}_\` followed by letters and digits`,
    }),
  });
}
