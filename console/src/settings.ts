// Instance-local display settings: the base map's tile URL and its datum (kept in the browser).
import { reactive, watch } from 'vue'
import type { Datum } from './datum'

interface MapSettings {
  tileUrl: string
  datum: Datum
}

function load(): MapSettings {
  try {
    const stored = JSON.parse(localStorage.getItem('gridapp.map') ?? '{}') as Partial<MapSettings>
    return { tileUrl: stored.tileUrl ?? '', datum: stored.datum ?? 'wgs84' }
  } catch {
    return { tileUrl: '', datum: 'wgs84' }
  }
}

export const mapSettings = reactive<MapSettings>(load())
watch(mapSettings, (value) => localStorage.setItem('gridapp.map', JSON.stringify(value)))
