// A view kept current by the server's event stream (/v1/console/stream, client/console/routes.ts): the server sends a
// view whenever it changes; EventSource reconnects by itself after a dropped connection. URLs are relative to the
// page, so the console works under whatever path prefix a reverse proxy serves it at.
import { useEffect, useState } from 'preact/hooks';

export interface Live<T> {
  view?: T;
  /** The last problem the stream reported (a Query that failed), or that the connection is down. */
  problem?: string;
  connected: boolean;
}

export function useLive<T>(query: string): Live<T> {
  const [state, setState] = useState<Live<T>>({ connected: false });
  useEffect(() => {
    setState({ connected: false });
    const source = new EventSource(new URL(`v1/console/stream?${query}`, document.baseURI));
    source.addEventListener('view', (e) => setState({ view: JSON.parse((e as MessageEvent<string>).data) as T, connected: true }));
    source.addEventListener('problem', (e) =>
      setState((s) => ({ ...s, problem: (JSON.parse((e as MessageEvent<string>).data) as { error: string }).error, connected: true })),
    );
    source.onerror = () => setState((s) => ({ ...s, connected: false, problem: s.view ? 'connection lost, reconnecting…' : 'cannot reach rearguard serve' }));
    return () => source.close();
  }, [query]);
  return state;
}
