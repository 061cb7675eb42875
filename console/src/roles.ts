// Which pages each role works in (role codes are gridapp's, DESIGN §1).
export const DESK = ['acceptor', 'dispatcher', 'shift_leader', 'hotline_operator']
export const DEPARTMENT = ['handler', 'dept_admin']
export const LEADERS = ['supervisor', 'admin']

// Administration is split by duty (DESIGN §8): users belong to the security admin.
export const ADMIN_TABS: Record<string, string[]> = {
  admin: ['departments', 'categories', 'rules', 'calendar', 'maps', 'evaluation_rules'],
  security_admin: ['users'],
}

export function pagesFor(role: string | undefined): string[] {
  if (!role) return []
  if (role === 'security_admin') return ['admin']
  if (DEPARTMENT.includes(role)) return ['department', 'map']
  if (role === 'supervisor') return ['rankings', 'dashboard', 'hotspots', 'map', 'queues']
  if (role === 'admin') return ['admin', 'map', 'queues', 'rankings', 'dashboard', 'hotspots']
  return ['queues', 'map']
}
