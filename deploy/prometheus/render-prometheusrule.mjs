#!/usr/bin/env node
// Writes prometheusrule.yaml (a prometheus-operator PrometheusRule) from alerts.yaml, so the two
// never differ: node deploy/prometheus/render-prometheusrule.mjs
// test/deploy/alerts.test.ts fails when prometheusrule.yaml is out of date.
import { readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';

const here = new URL('.', import.meta.url);
const { groups } = parse(readFileSync(new URL('alerts.yaml', here), 'utf8'));
const rule = {
  apiVersion: 'monitoring.coreos.com/v1',
  kind: 'PrometheusRule',
  metadata: {
    name: 'llmproxy',
    labels: {
      'app.kubernetes.io/name': 'llmproxy',
      'app.kubernetes.io/component': 'alerts',
    },
  },
  spec: { groups },
};
const header = [
  '# Generated from alerts.yaml by render-prometheusrule.mjs; edit alerts.yaml and re-run it.',
  '# The Prometheus Operator loads it when its ruleSelector matches these labels (kube-prometheus-stack',
  '# selects `release: <helm release>` by default: add that label here or in a kustomize patch).',
  '',
].join('\n');
writeFileSync(new URL('prometheusrule.yaml', here), header + stringify(rule, { lineWidth: 0 }));
