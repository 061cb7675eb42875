// Which pages each role works in (role codes are gridapp's, DESIGN §1).
export const DESK = ['acceptor', 'dispatcher', 'shift_leader', 'hotline_operator']
export const DEPARTMENT = ['handler', 'dept_admin']
export const LEADERS = ['supervisor', 'admin']

export function pagesFor(role: string | undefined): string[] {
  if (!role) return []
  if (DEPARTMENT.includes(role)) return ['department', 'map']
  if (role === 'supervisor') return ['rankings', 'dashboard', 'hotspots', 'map', 'queues']
  if (role === 'admin') return ['admin', 'map', 'queues', 'rankings', 'dashboard', 'hotspots']
  return ['queues', 'map']
}
