// The pickers' choices, read once per page from the catalogue any signed-in user may read.
import { ref, type Ref } from 'vue'
import { get } from '../api/client'
import type { Category, Department } from '../api/types'
import type { components } from '../api/schema'
import type { Option } from './form'

type Process = components['schemas']['Process']

function loader<T>(path: string, toOption: (item: T) => Option): () => Ref<Option[]> {
  const options = ref<Option[]>([])
  let asked = false
  return () => {
    if (!asked) {
      asked = true
      void get<T[]>(path)
        .then((items) => (options.value = items.map(toOption)))
        .catch(() => (asked = false))
    }
    return options
  }
}

export const departmentOptions = loader<Department>('/api/v1/departments', (d) => ({ value: d.code ?? '', label: `${d.name} (${d.code})` }))
export const categoryOptions = loader<Category>('/api/v1/categories', (c) => ({ value: c.code ?? '', label: `${c.name} (${c.code})` }))
export const processOptions = loader<Process>('/api/v1/processes', (p) => ({ value: p.code ?? '', label: `${p.name} (${p.code})` }))
