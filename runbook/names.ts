// Name rules shared by the schemas. Kubernetes DNS-1123 rules also keep values that reach command
// lines later (helm, git, terraform) from ever starting with `-` or holding shell metacharacters.

export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** People and systems: alice, bob.smith, ci@example.com, schedule:weekends. */
export const ACTOR = /^[A-Za-z0-9][A-Za-z0-9._@:+-]*$/;
/** Environment variable names, for secrets that runbooks refer to but never contain. */
export const ENV_VAR = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const LABEL_HINT = "expected a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters";
export const SUBDOMAIN_HINT =
  "expected a DNS-1123 name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters";
