// Limits of the wire contract, shared by the client and the reference server (SPEC §3, §5).

/** 512 KiB: a body of exactly this many bytes is still accepted. */
export const MAX_BODY_BYTES = 524_288;
