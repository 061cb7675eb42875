// Admin forms as data: each resource lists its fields once (name = the body's dotted path, which
// is also the key of the API's problem+json `errors`), and one form component draws, validates
// and sends them. A new field on the server is one more row here, not another form.
import type { components } from '../api/schema'

type S = components['schemas']

export interface Option {
  value: string | number | boolean
  label: string
}

export interface FormField {
  /** Dotted path in the request body (`time_limits.handling.amount`); the field-error key. */
  name: string
  /** An i18n key for the label. */
  label: string
  kind: 'text' | 'number' | 'select' | 'tags' | 'switch' | 'password' | 'textarea'
  required?: boolean
  /** Empty means null (PATCH clears it) rather than "leave out". */
  nullable?: boolean
  options?: Option[]
  min?: number
  max?: number
  step?: number
  maxLength?: number
  pattern?: RegExp
  /** An i18n key saying what the pattern wants. */
  patternHint?: string
  /** Set when created, never changed afterwards (codes). */
  createOnly?: boolean
  /** Only on create (an initial password). */
  editHidden?: boolean
  /** Only when the rest of the form says so (a handler's department). */
  shown?: (model: Record<string, unknown>) => boolean
  /** An i18n key shown under the field. */
  hint?: string
  /** The value a new row starts with. */
  initial?: unknown
}

export type Model = Record<string, unknown>

/** The model key of a field: Element Plus reads a dotted `prop` as a nested path, ours is flat. */
export function keyOf(name: string): string {
  return name.split('.').join('__')
}

export function isEmpty(value: unknown): boolean {
  return value === undefined || value === null || value === ''
}

/** Read a dotted path out of a row (`time_limits.handling.amount`). */
export function pick(row: Record<string, unknown>, path: string): unknown {
  let value: unknown = row
  for (const key of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined
    value = (value as Record<string, unknown>)[key]
  }
  return value
}

/** The form's starting values: a row's values (editing) or each field's empty value. */
export function modelOf(fields: FormField[], row?: Record<string, unknown>): Model {
  const model: Model = {}
  for (const field of fields) {
    const value = row ? pick(row, field.name) : undefined
    if (value !== undefined && value !== null) model[keyOf(field.name)] = Array.isArray(value) ? [...value] : value
    else if (!row && field.initial !== undefined) model[keyOf(field.name)] = field.initial
    else model[keyOf(field.name)] = field.kind === 'switch' ? false : field.kind === 'tags' ? [] : field.kind === 'number' ? undefined : ''
  }
  return model
}

function put(body: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.')
  let node = body
  for (const key of keys.slice(0, -1)) {
    if (node[key] === undefined || node[key] === null || typeof node[key] !== 'object') node[key] = {}
    node = node[key] as Record<string, unknown>
  }
  node[keys[keys.length - 1]] = value
}

/**
 * The request body: on create every field given; on edit only what changed (the admin PATCH
 * endpoints take "only what changes"). A changed nested group is sent whole, and a group left
 * all empty is sent as `{}` (a category's handling limit removed).
 */
export function bodyOf(fields: FormField[], model: Model, original?: Model): Record<string, unknown> {
  const visible = fields.filter((f) => (!f.shown || f.shown(model)) && !(original && (f.createOnly || f.editHidden)))
  const top = (f: FormField) => f.name.split('.')[0]
  const changed = new Set(
    visible.filter((f) => !original || JSON.stringify(model[keyOf(f.name)] ?? '') !== JSON.stringify(original[keyOf(f.name)] ?? '')).map(top),
  )
  const body: Record<string, unknown> = {}
  for (const field of visible) {
    if (!changed.has(top(field))) continue
    const value = model[keyOf(field.name)]
    const nested = field.name.includes('.')
    if (isEmpty(value)) {
      if (nested) body[top(field)] ??= {}
      else if (original && field.nullable) body[field.name] = null
      continue
    }
    put(body, field.name, value)
  }
  return body
}

/**
 * Put each of the API's field errors on the form field it names. Marshmallow names a dict's
 * values `<field>.<key>.value.<leaf>`; a path naming a group lands on its first field. What
 * names no field comes back under `_form`.
 */
export function errorsByField(fields: FormField[], errors: Record<string, unknown>): Record<string, string> {
  const found: Record<string, string> = {}
  for (const [key, messages] of Object.entries(errors)) {
    const text = Array.isArray(messages) ? messages.join(' ') : String(messages)
    const path = key.split('.').filter((part) => part !== 'value' && part !== 'key').join('.')
    const field = fields.find((f) => f.name === path) ?? fields.find((f) => f.name.startsWith(`${path}.`))
    const target = field?.name ?? '_form'
    found[target] = found[target] ? `${found[target]} ${text}` : text
  }
  return found
}

// Runtime lists of the API's enums: typed by the generated document, so a value the server adds
// or drops fails the type check here instead of going missing from a picker.
type Role = S['UserCreate']['role']
const ROLE_SET: Record<Role, true> = {
  grid_worker: true, acceptor: true, dispatcher: true, shift_leader: true, handler: true, hotline_operator: true,
  dept_admin: true, supervisor: true, admin: true, security_admin: true, audit_admin: true,
}
export const ROLES = Object.keys(ROLE_SET) as Role[]

type Unit = S['CategoryTimeLimit']['unit']
const UNIT_SET: Record<Unit, true> = { working_minutes: true, working_hours: true, working_days: true, minutes: true, hours: true, days: true }
export const UNITS = Object.keys(UNIT_SET) as Unit[]

type Kind = NonNullable<S['CategoryCreate']['kind']>
const KIND_SET: Record<Kind, true> = { component: true, event: true }
export const KINDS = Object.keys(KIND_SET) as Kind[]

type Urgency = NonNullable<S['CategoryCreate']['urgency']>
const URGENCY_SET: Record<Urgency, true> = { normal: true, urgent: true }
export const URGENCIES = Object.keys(URGENCY_SET) as Urgency[]

type EntryKind = S['Entry']['kind']
const ENTRY_KIND_SET: Record<EntryKind, true> = { holiday: true, workday: true }
export const ENTRY_KINDS = Object.keys(ENTRY_KIND_SET) as EntryKind[]
