import { endSession, session } from './session.ts';

/** One field problem of an error answer: `kind` and `limit` let the screens word it in the reader's language. */
export interface ApiIssue {
  path: string;
  message: string;
  kind?: string;
  limit?: number | string;
}

/** An error answer of the API: its status and stable code (the screens explain it in words). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues: ApiIssue[] = [],
  ) {
    super(message);
  }
}

/** Calls `/api…` with the session's bearer token; a 401 ends the session. */
export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (session.token) headers.authorization = `Bearer ${session.token}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, {
      method: init.method ?? 'GET',
      headers,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'NETWORK', 'network');
  }
  if (res.status === 401 && session.token && path !== '/api/login') endSession('expired');
  if (!res.ok) {
    let body: { code?: string; message?: string; issues?: ApiIssue[] } = {};
    try {
      body = (await res.json()) as typeof body;
    } catch {
      // not JSON
    }
    throw new ApiError(
      res.status,
      body.code ?? 'HTTP_' + res.status,
      body.message ?? res.statusText,
      body.issues,
    );
  }
  if ((res.headers.get('content-type') ?? '').includes('application/json')) return (await res.json()) as T;
  return (await res.text()) as T;
}

/** Fetches a text download (CSV) with the bearer token and hands it to the browser as a file. */
export async function download(path: string, filename: string): Promise<void> {
  const text = await api<string>(path);
  const url = URL.createObjectURL(new Blob([text], { type: 'text/csv;charset=utf-8' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
