// Limits both ends of the wire agree on (SPEC §3, §5, §9). Shared by the client and server/.

/** Largest artifact body, in UTF-8 bytes (exactly this many is accepted). */
export const MAX_BODY_BYTES = 524_288;
/** Raw request limit: a 512 KiB body JSON-escaped (control characters ×6) still fits. */
export const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
/** Decompressed events batch limit (guards against a gzip bomb). */
export const MAX_EVENTS_BYTES = 64 * 1024 * 1024;
/** Longest artifact_path the server keeps. */
export const MAX_ARTIFACT_PATH_CHARS = 1024;
