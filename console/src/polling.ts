// New and changed cases without a reload: poll the changes feed from a watermark.
import { onBeforeUnmount, onMounted } from 'vue'
import { get, query } from './api/client'
import type { Changes } from './api/types'

export function useCaseChanges(onChange: () => void, everyMs = 5000): void {
  let watermark: string | null = null
  let timer: number | undefined
  let stopped = false

  async function poll(): Promise<void> {
    try {
      const answer = await get<Changes>(`/api/v1/cases/changes${query({ since: watermark })}`)
      const first = watermark === null
      watermark = answer.watermark
      if (!first && answer.items.length) onChange()
    } catch {
      // A failed poll (network, expired sign-in) is retried on the next tick.
    }
    if (!stopped) timer = window.setTimeout(poll, everyMs)
  }

  onMounted(() => void poll())
  onBeforeUnmount(() => {
    stopped = true
    window.clearTimeout(timer)
  })
}
