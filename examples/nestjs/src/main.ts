import { bootstrap } from './bootstrap.js';

if (!process.env.DATABASE_URL) throw new Error('Set DATABASE_URL to a PostgreSQL database, e.g. postgres://postgres@127.0.0.1:5432/example');
const app = await bootstrap(Number(process.env.PORT ?? 3000));
console.log(`listening on ${await app.getUrl()}: POST /groups?size=4, then GET /groups/<groupId>`);
