# The Rearguard worker (and CLI) image. Runs the TypeScript sources through tsx, as `npm start` does.
FROM node:20.20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY bin ./bin
COPY runbook ./runbook
COPY api ./api
COPY workflows ./workflows
COPY activities ./activities
COPY worker ./worker
COPY client ./client
COPY runbooks ./runbooks
COPY scripts/bundle-workflows.ts ./scripts/
# Bundle the workflows at build time: workers then start without running webpack.
RUN node --import tsx scripts/bundle-workflows.ts /app/dist/workflow-bundle.js
ENV REARGUARD_WORKFLOW_BUNDLE=/app/dist/workflow-bundle.js
RUN mkdir -p /var/lib/rearguard && chown node:node /var/lib/rearguard
USER node
EXPOSE 9464
# The runtime's own metrics stay on loopback; /metrics on 9464 includes them.
CMD ["node", "--import", "tsx", "worker/main.ts"]
