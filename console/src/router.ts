import { createRouter, createWebHistory } from 'vue-router'
import { auth } from './api/client'
import { pagesFor } from './roles'

export const router = createRouter({
  history: createWebHistory('/console/'),
  routes: [
    { path: '/', component: () => import('./views/LoginView.vue') },
    { path: '/login', component: () => import('./views/LoginView.vue'), meta: { public: true } },
    { path: '/map', component: () => import('./views/MapView.vue') },
    { path: '/queues', component: () => import('./views/QueuesView.vue') },
    { path: '/cases/:id', component: () => import('./views/CaseView.vue'), props: true },
    { path: '/department', component: () => import('./views/DepartmentView.vue') },
    { path: '/rankings', component: () => import('./views/RankingsView.vue') },
    { path: '/dashboard', component: () => import('./views/DashboardView.vue') },
    { path: '/hotspots', component: () => import('./views/HotspotsView.vue') },
    { path: '/admin', component: () => import('./views/AdminView.vue') },
    { path: '/settings', component: () => import('./views/SettingsView.vue') },
    { path: '/:rest(.*)*', redirect: '/' },
  ],
})

router.beforeEach((to) => {
  // The start page is the role's first page (a handler's is the department queue).
  if (to.path === '/') return auth.access ? `/${pagesFor(auth.user?.role)[0] ?? 'map'}` : '/login'
  if (!to.meta.public && !auth.access) return { path: '/login', query: { next: to.fullPath } }
  return true
})
