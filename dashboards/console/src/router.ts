import { createRouter, createWebHistory } from 'vue-router';
import { api } from './api.ts';
import { session, setMe, type Me } from './session.ts';
import InboxView from './views/InboxView.vue';
import LoginView from './views/LoginView.vue';

export const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: '/', redirect: () => homeOf(session.me) },
    { path: '/login', component: LoginView, meta: { public: true } },
    { path: '/inbox', component: InboxView },
    { path: '/alerts/:id', component: () => import('./views/AlertView.vue') },
    { path: '/households', component: () => import('./views/HouseholdsView.vue') },
    { path: '/rules', component: () => import('./views/RulesView.vue') },
    { path: '/overview', component: () => import('./views/OverviewView.vue') },
    { path: '/staff/escalation', component: () => import('./views/EscalationView.vue') },
    { path: '/staff/meters', component: () => import('./views/MetersView.vue') },
    { path: '/staff/registry', component: () => import('./views/RegistryView.vue') },
    { path: '/:rest(.*)*', redirect: '/' },
  ],
});

/** Where a person starts: leaders and staff on the overview, grid workers in their inbox. */
export function homeOf(me: Me | null): string {
  if (!me) return '/login';
  return me.permissions.includes('stats:read') && me.role !== 'grid-leader' ? '/overview' : '/inbox';
}

router.beforeEach(async (to) => {
  if (to.meta.public) return true;
  if (!session.token) return { path: '/login', query: to.fullPath === '/' ? {} : { next: to.fullPath } };
  if (!session.me) {
    try {
      setMe(await api<Me>('/api/me'));
    } catch {
      return { path: '/login' };
    }
    if (to.path === '/') return homeOf(session.me);
  }
  return true;
});
