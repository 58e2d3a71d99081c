import Type, { type Static } from "typebox";

/** The `webhook` field of POST /v1/jobs: where to POST the job when it ends, and the key that signs it. */
export const WebhookRequestSchema = Type.Object(
  {
    url: Type.String({
      minLength: 8,
      maxLength: 2048,
      pattern: "^[Hh][Tt][Tt][Pp][Ss]?://[^\\s]+$",
      description:
        "An http or https URL; one that resolves to a loopback, private or otherwise non-public address is refused (422 WEBHOOK_URL_REFUSED) unless the server allows private webhooks",
    }),
    secret: Type.String({
      minLength: 16,
      maxLength: 256,
      description:
        "Signs each delivery: X-Signature-256 is sha256=<hex HMAC-SHA256 of the body under this secret>. Never shown again.",
    }),
  },
  { additionalProperties: false, title: "WebhookRequest" },
);
export type WebhookRequest = Static<typeof WebhookRequestSchema>;

/** One attempt of a webhook delivery. */
export const WebhookAttemptSchema = Type.Object(
  {
    attempt: Type.Integer({ minimum: 1, description: "1 for the first POST, then one more per retry" }),
    at: Type.String({ format: "date-time", description: "When the attempt started" }),
    status: Type.Optional(Type.Integer({ description: "The receiver's HTTP status, when it answered" })),
    error: Type.Optional(
      Type.String({ description: "Why there was no answer (network error, timeout, refused address)" }),
    ),
    ms: Type.Number({ description: "Duration of the attempt" }),
  },
  { title: "WebhookAttempt" },
);
export type WebhookAttempt = Static<typeof WebhookAttemptSchema>;

/** Webhook delivery states: pending until a 2xx answer (delivered) or the last attempt failed (failed). */
export const WebhookStateSchema = Type.Enum(["pending", "delivered", "failed"], { title: "WebhookState" });
export type WebhookState = Static<typeof WebhookStateSchema>;

/** What a job record shows of its webhook (never the secret). */
export const WebhookStatusSchema = Type.Object(
  {
    url: Type.String(),
    deliveryId: Type.Optional(
      Type.String({
        description:
          "Set when the job ends; sent as X-Delivery-Id on every attempt, so a receiver can drop a repeat",
      }),
    ),
    state: WebhookStateSchema,
    attempts: Type.Array(WebhookAttemptSchema),
  },
  { title: "WebhookStatus" },
);
export type WebhookStatus = Static<typeof WebhookStatusSchema>;
