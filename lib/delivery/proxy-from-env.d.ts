// proxy-from-env 2 ships no type declarations; this is its one export.
declare module 'proxy-from-env' {
  /** The proxy URL for `url` per *_PROXY and NO_PROXY (process.env), or '' for a direct connection. */
  export function getProxyForUrl(url: string | URL): string;
}
