// Types of the API: generated from the served OpenAPI document (`npm run api-types`), and
// hand-written for the supervisor and admin endpoints the generated document lacks yet.
import type { components } from './schema'

type S = components['schemas']
// Fields the server computes per caller (fields.Method) are untyped in the document: typed here.
export interface AvailableAction {
  name: string
  label: string
  fields: S['ActionField'][]
}
export interface Sla {
  status: 'ok' | 'warning' | 'overdue'
  deadline: string | null
  used: number | null
  paused?: boolean
  working_seconds_used?: number
  working_seconds_allowed?: number
}
// A likely duplicate to merge into (gridapp.cases.schemas.DuplicateSchema, 疑似重复).
export interface Duplicate {
  id: number
  number: string
  distance_m: number
  created_at: string
}
export type Case = Omit<S['Case'], 'location' | 'sla' | 'actions' | 'state_label' | 'original_location' | 'duplicates'> & {
  location: { lon: number; lat: number } | null
  original_location: { lon: number; lat: number; crs: string } | null
  sla: Sla
  actions: AvailableAction[]
  state_label: string
  duplicates?: Duplicate[] | null
}
export interface CasePage {
  items: Case[]
  next_cursor?: string | null
  total?: number | null
}

export type Event = S['Event']
export type History = S['History']
export type Chain = S['Chain']
export type Me = S['Me']
export type TokenPair = S['Token']
export type Category = S['Category']
export type Department = S['Department']
export type Routing = S['Routing']
export type Attachment = S['Attachment']

export interface Changes {
  items: { id: number; version: number; state: string; updated_at: string }[]
  watermark: string
}

// DESIGN §9 evaluation: hand-written until the evaluation API is in the document.
export interface Indicator {
  numerator: number
  denominator: number
  value: number | null
}
export interface RankingItem {
  subject: { id?: number; code?: string; name: string }
  indicators: Record<string, Indicator>
  score: number | null
  grade: string | null
  rank: number | null
}
export interface Ranking {
  from: string
  to: string
  rules_version?: string | number
  items: RankingItem[]
}
export interface Dashboard {
  [key: string]: unknown
}
export interface GeoJSONFeatureCollection {
  type: 'FeatureCollection'
  features: { type: 'Feature'; geometry: { type: string; coordinates: unknown } | null; properties: Record<string, unknown> }[]
}
