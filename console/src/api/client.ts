// The one way the console talks to gridapp: tokens kept in memory only (never in storage),
// refreshed before they run out, problem+json answers turned into ApiError.
import { reactive } from 'vue'
import type { Me, TokenPair } from './types'

export class ApiError extends Error {
  status: number
  problem: Record<string, unknown>
  constructor(status: number, problem: Record<string, unknown>) {
    super(String(problem.detail ?? problem.title ?? `HTTP ${status}`))
    this.status = status
    this.problem = problem
  }
  get fieldErrors(): Record<string, unknown> {
    return (this.problem.errors as Record<string, unknown>) ?? {}
  }
}

interface AuthState {
  access: string | null
  refresh: string | null
  accessExpiresAt: number
  user: Me | null
  language: string
}

export const auth = reactive<AuthState>({
  access: null,
  refresh: null,
  accessExpiresAt: 0,
  user: null,
  language: 'zh-CN',
})

let refreshing: Promise<void> | null = null

function keep(pair: TokenPair): void {
  auth.access = pair.access_token ?? null
  auth.refresh = pair.refresh_token ?? null
  auth.accessExpiresAt = pair.access_expires_at ? Date.parse(pair.access_expires_at) : Date.now() + 10 * 60_000
  if (pair.user) auth.user = pair.user as Me
}

function forget(): void {
  auth.access = null
  auth.refresh = null
  auth.user = null
  auth.accessExpiresAt = 0
}

async function parse(response: Response): Promise<unknown> {
  if (response.status === 204) return null
  const type = response.headers.get('Content-Type') ?? ''
  if (type.includes('json')) return response.json()
  if (type.startsWith('text/')) return response.text()
  return response.blob()
}

async function raw(path: string, init: RequestInit = {}, withAuth = true): Promise<Response> {
  const headers = new Headers(init.headers)
  headers.set('Accept-Language', auth.language === 'en' ? 'en' : 'zh-CN')
  if (init.body && !(init.body instanceof FormData) && !headers.has('Content-Type')) {
    headers.set('Content-Type', 'application/json')
  }
  if (withAuth && auth.access) headers.set('Authorization', `Bearer ${auth.access}`)
  return fetch(path, { ...init, headers })
}

export async function refreshTokens(): Promise<void> {
  if (!auth.refresh) throw new ApiError(401, { title: 'signed out' })
  if (!refreshing) {
    refreshing = (async () => {
      const response = await raw('/api/v1/auth/refresh', {
        method: 'POST',
        body: JSON.stringify({ refresh_token: auth.refresh }),
      }, false)
      if (!response.ok) {
        forget()
        throw new ApiError(response.status, (await parse(response)) as Record<string, unknown>)
      }
      keep((await response.json()) as TokenPair)
    })().finally(() => {
      refreshing = null
    })
  }
  return refreshing
}

export interface Answer<T> {
  data: T
  etag: string | null
  response: Response
}

/** Call the API; refresh the access token first when it is about to run out, once on a 401. */
export async function call<T>(path: string, init: RequestInit = {}): Promise<Answer<T>> {
  if (auth.refresh && auth.accessExpiresAt - Date.now() < 60_000) await refreshTokens()
  let response = await raw(path, init)
  if (response.status === 401 && auth.refresh) {
    await refreshTokens()
    response = await raw(path, init)
  }
  const data = await parse(response)
  if (!response.ok) {
    throw new ApiError(response.status, typeof data === 'object' && data ? (data as Record<string, unknown>) : { detail: String(data) })
  }
  return { data: data as T, etag: response.headers.get('ETag'), response }
}

export async function get<T>(path: string): Promise<T> {
  return (await call<T>(path)).data
}

export async function send<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer<T>> {
  return call<T>(path, { method, body: body === undefined ? undefined : JSON.stringify(body), headers })
}

export function query(params: Record<string, unknown>): string {
  const search = new URLSearchParams()
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === '') continue
    if (Array.isArray(value)) value.forEach((v) => search.append(key, String(v)))
    else search.append(key, String(value))
  }
  const text = search.toString()
  return text ? `?${text}` : ''
}

export async function signIn(username: string, password: string, otp?: string): Promise<void> {
  const response = await raw('/api/v1/auth/login', {
    method: 'POST',
    body: JSON.stringify(otp ? { username, password, otp } : { username, password }),
  }, false)
  const data = (await parse(response)) as Record<string, unknown>
  if (!response.ok) throw new ApiError(response.status, data)
  keep(data as unknown as TokenPair)
}

export async function signOut(): Promise<void> {
  const refresh = auth.refresh
  try {
    if (refresh) await send('POST', '/api/v1/auth/logout', { refresh_token: refresh })
  } finally {
    forget()
  }
}

/** Fetch a protected file (a photo) into an object URL an <img> can show. */
export async function blobUrl(path: string): Promise<string> {
  const blob = (await call<Blob>(path)).data
  return URL.createObjectURL(blob)
}

export async function upload(file: Blob, name = 'photo.jpg'): Promise<number> {
  const form = new FormData()
  form.append('file', file, name)
  const answer = await call<{ id: number }>('/api/v1/media', { method: 'POST', body: form })
  return answer.data.id
}
