// Name rules shared by the schemas. Kubernetes DNS-1123 rules also keep values that reach command
// lines later (helm, git, terraform) from ever starting with `-` or holding shell metacharacters.

export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** People and systems: alice, bob.smith, ci@example.com, schedule:weekends. */
export const ACTOR = /^[A-Za-z0-9][A-Za-z0-9._@:+-]{0,127}$/;
/** Environment variable names, for secrets that runbooks refer to but never contain. */
export const ENV_VAR = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Change IDs (a PR, commit or ticket): what a freeze exception is for, and what the deploy gate is asked about. */
export const CHANGE_ID = /^[A-Za-z0-9][A-Za-z0-9._#/:-]*$/;
export const CHANGE_ID_MAX = 128;
export const CHANGE_ID_HINT = 'expected a change ID such as PR-1234';

export const LABEL_HINT = "expected a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters";
export const SUBDOMAIN_HINT =
  "expected a DNS-1123 name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters";

/** Free text that people type (reasons) reaches terminals, Slack and commit messages: printable only. */
export const REASON_MAX = 500;
export const ACTOR_MAX = 128;
// C0/C1 controls (escape sequences, newlines that forge log or commit lines) and the bidirectional
// overrides that make text read differently than it is stored ("trojan source").
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
export const isPrintable = (text: string): boolean => !UNPRINTABLE.test(text);
/** The same text with every unprintable character replaced by a space (for text from machines, e.g. alert labels). */
export const printable = (text: string): string => text.replace(new RegExp(UNPRINTABLE.source, 'g'), ' ');
export const ACTOR_HINT = `expected a user or system name such as alice or ci-bot (letters, digits and '._@:+-', at most ${ACTOR_MAX} characters)`;
export const REASON_HINT = `expected printable text of at most ${REASON_MAX} characters (no control characters or line breaks)`;
