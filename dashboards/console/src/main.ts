import { createApp } from 'vue';
import {
  Badge,
  Button,
  Cell,
  CellGroup,
  Empty,
  Field,
  Loading,
  NavBar,
  Search,
  Tabbar,
  TabbarItem,
  Tag,
} from 'vant';
import 'vant/lib/index.css';
import './style.css';
import App from './App.vue';
import { router } from './router.ts';
import { restoreSession } from './session.ts';

restoreSession();
const app = createApp(App);
for (const c of [
  Badge,
  Button,
  Cell,
  CellGroup,
  Empty,
  Field,
  Loading,
  NavBar,
  Search,
  Tabbar,
  TabbarItem,
  Tag,
])
  app.use(c);
app.use(router);
app.mount('#app');
