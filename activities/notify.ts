// Notifications: Slack incoming-webhook JSON for `slack` targets, a JSON event for `webhook` ones.
import type { NotifyRequest } from '../runbook/types.js';
import { rejectStatus, send } from './http.js';
import { resolveUrl, type Env } from './secrets.js';
import { enforcePolicy, type Egress } from './egress.js';

export async function sendNotifications(env: Env, req: NotifyRequest, egress: Egress = {}): Promise<{ sent: string[] }> {
  const sent: string[] = [];
  for (const t of req.targets) {
    const { url, label } = resolveUrl(env, t, `notify target ${t.name}`);
    enforcePolicy(egress.policy, { url, urlEnv: t.urlEnv }, `notify target ${t.name}: POST ${label}`);
    const payload =
      t.type === 'slack'
        ? {
            text: `:rotating_light: *Rearguard* ${req.text}`,
            blocks: [{ type: 'section', text: { type: 'mrkdwn', text: `*${req.event}* · \`${req.workflowId}\`\n${req.text}` } }],
          }
        : { source: 'rearguard', event: req.event, text: req.text, workflowId: req.workflowId, target: req.target, details: req.details };
    const res = await send({
      url,
      label,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(payload),
      timeoutMs: 10_000,
      secrets: t.urlEnv !== undefined ? [url] : [],
      lookup: egress.lookup,
    });
    if (res.status < 200 || res.status >= 300) rejectStatus({ method: 'POST', label }, res, '2xx');
    sent.push(t.name);
  }
  return { sent };
}
