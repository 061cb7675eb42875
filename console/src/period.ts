import { ref } from 'vue'
import { localDay } from './time'

/** A from/to pair of local days, this month so far by default (DESIGN §9: `to` inclusive). */
export function usePeriod() {
  const today = new Date()
  const from = ref(localDay(new Date(today.getFullYear(), today.getMonth(), 1, 12)))
  const to = ref(localDay(today))
  return { from, to }
}
