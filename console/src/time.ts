// Times are stored UTC and shown in Asia/Shanghai (DESIGN §6).
const FORMAT = new Intl.DateTimeFormat('zh-CN', {
  timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hour12: false,
})

export function localTime(value?: string | null): string {
  if (!value) return '—'
  return FORMAT.format(new Date(value))
}

/** Say how long until (or since) a moment, in hours and minutes. */
export function untilText(value?: string | null, now = Date.now()): string {
  if (!value) return '—'
  const minutes = Math.round((Date.parse(value) - now) / 60000)
  const sign = minutes < 0 ? '-' : ''
  const abs = Math.abs(minutes)
  return `${sign}${Math.floor(abs / 60)}h${String(abs % 60).padStart(2, '0')}m`
}

/** The local calendar day (Asia/Shanghai) of a moment, as YYYY-MM-DD. */
export function localDay(date: Date): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai' }).format(date)
}
