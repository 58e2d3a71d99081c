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

/** Path parameter `id`. */
export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) });
