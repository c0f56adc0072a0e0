// Credentials never reach output (issue 12): a URL's user:pass@ and its query values (?token=…)
// are replaced by [redacted] wherever a URL appears in text. `redactOutput` applies this to
// everything a process writes to stdout and stderr, so no message, table or --json output can
// show them, whichever module wrote it.

const MASK = '[redacted]';
/** scheme://…, up to whitespace, a quote or an angle bracket; trailing punctuation is not part of it. */
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]*[^\s"'<>`.,;:!?)\]]/gi;

/** `url` with its userinfo and every query value replaced by [redacted]; works on text that is not a valid URL too. */
export function redactUrl(url: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url);
  const start = scheme ? scheme[0].length : 0;
  const authorityEnd = (() => {
    const m = /[/?#]/.exec(url.slice(start));
    return m ? start + m.index : url.length;
  })();
  let out = url;
  const at = url.lastIndexOf('@', authorityEnd - 1);
  if (scheme && at >= start) out = `${url.slice(0, start)}${MASK}${url.slice(at)}`;
  return out.replace(
    /\?([^#]*)/,
    (_, query: string) =>
      `?${query
        .split('&')
        .map((kv) => (kv.includes('=') ? `${kv.slice(0, kv.indexOf('='))}=${MASK}` : kv === '' ? kv : MASK))
        .join('&')}`,
  );
}

/** Every URL in `text` redacted (see redactUrl). */
export function redactText(text: string): string {
  if (!text.includes('://')) return text;
  return text.replace(URL_IN_TEXT, (u) => (u.includes('@') || u.includes('?') ? redactUrl(u) : u));
}

let installed = false;

/** From now on, strings written to stdout and stderr go through redactText. */
export function redactOutput(): void {
  if (installed) return;
  installed = true;
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => write(typeof chunk === 'string' ? redactText(chunk) : chunk, ...rest)) as typeof stream.write;
  }
}
