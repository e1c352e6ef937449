// GraphiQL, served by the binary itself at GET /graphql (outside production), with no
// CDN: React, GraphiQL and its styles are bundled here. Queries go to /graphql, and
// subscriptions to /graphql/ws (graphql-transport-ws).
import 'graphiql/style.css';
import './graphiql-page.css';
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { GraphiQL } from 'graphiql';
import { createClient } from 'graphql-ws';
import { createElement } from 'react';
import { createRoot } from 'react-dom/client';

const root = document.getElementById('graphiql');
const endpoint = root.dataset.endpoint || '/graphql';
const subscriptions = new URL(root.dataset.subscriptionEndpoint || '/graphql/ws', window.location.origin);
subscriptions.protocol = subscriptions.protocol === 'https:' ? 'wss:' : 'ws:';

const fetcher = createGraphiQLFetcher({
  url: new URL(endpoint, window.location.origin).toString(),
  wsClient: createClient({ url: subscriptions.toString(), lazy: true }),
  fetch: (url, options = {}) => fetch(url, { ...options, credentials: 'same-origin' }),
});

createRoot(root).render(createElement(GraphiQL, { fetcher, defaultEditorToolsVisibility: true }));
