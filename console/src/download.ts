import { call } from './api/client'

/** Download a protected file (an export) through the signed-in fetch, then save it. */
export async function download(path: string, name: string): Promise<void> {
  const answer = await call<Blob>(path)
  const url = URL.createObjectURL(answer.data)
  const link = document.createElement('a')
  const disposition = answer.response.headers.get('Content-Disposition') ?? ''
  link.download = /filename="?([^";]+)"?/.exec(disposition)?.[1] ?? name
  link.href = url
  link.click()
  URL.revokeObjectURL(url)
}
