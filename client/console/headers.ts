// What a browser may do with the console's responses (client/console/routes.ts, guard-view.ts): run only its own
// script, load only its own files, talk only to this serve, never be framed (clickjacking).
export const CONSOLE_SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
} as const;
