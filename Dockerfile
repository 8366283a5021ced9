# The Rearguard worker (and CLI) image. Two stages: the build (with the development dependencies: TypeScript,
# tsx, esbuild) compiles the code to JavaScript in dist/ and bundles the workflows and the web console (`npm run
# build`); the runtime stage holds the production dependencies, dist/ and bin/, and runs plain node: no TypeScript
# at run time, no webpack at start, no bundler for the console.
FROM node:20.20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY scripts/build.ts scripts/start.ts ./scripts/
COPY runbook ./runbook
COPY api ./api
COPY workflows ./workflows
COPY activities ./activities
COPY worker ./worker
COPY client ./client
COPY console ./console
RUN npm run build

FROM node:20.20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY bin ./bin
COPY --from=build /app/dist ./dist
COPY runbooks ./runbooks
# The compiled worker finds dist/workflow-bundle.js beside it; naming it keeps that explicit.
ENV REARGUARD_WORKFLOW_BUNDLE=/app/dist/workflow-bundle.js
RUN mkdir -p /var/lib/rearguard && chown node:node /var/lib/rearguard
# Runs with a read-only root filesystem (docker run --read-only --tmpfs /tmp, or the Helm chart's
# readOnlyRootFilesystem): the only writes are the audit file (/var/lib/rearguard, a volume) and scratch space
# under /tmp (git checkouts, Terraform plans, helm's and git's own files through HOME).
ENV HOME=/tmp REARGUARD_WORKDIR=/tmp/rearguard-work
USER node
EXPOSE 9464
# The runtime's own metrics stay on loopback; /metrics on 9464 includes them. The CLI: node bin/rearguard.js.
CMD ["node", "dist/worker/main.js"]
